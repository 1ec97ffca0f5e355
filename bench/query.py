"""PromQL query latency: `rate()` and `sum by` over 1,000 series x 24 h of 15 s samples.

python bench/query.py [--series 1000] [--hours 24] [--runs 20] [--database-url URL] [--memory-only]

Generates counters (10 jobs, one series per instance) in memory and, unless --memory-only, in
a metric store (SQLite in a temporary directory by default), compacted into hourly chunks as
`watchkeeper up` would. Then times range queries over the whole period at a 60 s step and
prints p50/p95 per query and source: the engine alone over the in-memory source, and the
engine reading the store (with the garbage-collector and allocator settings of
`watchkeeper up`).
Rendering the result is timed separately: the API's response body
(render_success, what /api/v1/query_range sends) and the ``data`` dict (to_prometheus).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from watchkeeper.metrics.chunks import CHUNK_MS
from watchkeeper.metrics.compaction import compact
from watchkeeper.metrics.labels import Labels, make_labels
from watchkeeper.metrics.promql import Engine, Matrix, to_prometheus
from watchkeeper.metrics.promql.format import render_success
from watchkeeper.metrics.source import MemorySource
from watchkeeper.metrics.store import MetricStore
from watchkeeper.runtime import gc_tuning, malloc_tuning
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade

QUERIES = ("rate(x[5m])", "sum by (job) (rate(x[5m]))")
SCRAPE_MS = 15_000
STEP_MS = 60_000


def generate(series: int, hours: int, start: int) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
    """Counters growing by a random amount per scrape, each scraped at its own phase."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(series):
        ts = start + int(rng.integers(0, SCRAPE_MS)) + np.arange(hours * 240) * SCRAPE_MS
        values = np.cumsum(rng.integers(0, 100, len(ts))).astype(np.float64)
        labels = make_labels({"__name__": "x", "job": f"job{i % 10}", "instance": f"host{i}"})
        out.append((labels, ts, values))
    return out


def fill_store(store: MetricStore, data: list[tuple[Labels, np.ndarray, np.ndarray]]) -> None:
    """Write an hour of every series per call, then compact into chunks."""
    hours = len(data[0][1]) // 240
    for hour in range(hours):
        part = slice(hour * 240, (hour + 1) * 240)
        store.write(
            (labels, list(zip(ts[part].tolist(), values[part].tolist(), strict=True)))
            for labels, ts, values in data
        )
    compact(store, int(max(ts[-1] for _, ts, _ in data)) + 2 * CHUNK_MS)


def timed(run: Callable[[], object], runs: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - began) * 1000)
    return times, result


def report(name: str, times: list[float]) -> None:
    p50 = statistics.median(times)
    p95 = statistics.quantiles(times, n=20, method="inclusive")[18]
    print(f"  {name:<44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")


def bench(label: str, engine: Engine, start: int, end: int, runs: int) -> None:
    print(f"{label}:")
    for query in QUERIES:
        run = partial(engine.range, query, start, end, STEP_MS)
        first, _ = timed(run, 1)  # the store's series index and page cache are read first
        print(f"  {query:<44} first run {first[0]:7.1f} ms")
        times, result = timed(run, runs)
        report(query, times)
        assert isinstance(result, Matrix)
        points = sum(len(s.ts) for s in result.series)
        render, _ = timed(partial(render_success, result), max(3, runs // 4))
        report(f"  API JSON body ({len(result.series)} series, {points:,} points)", render)
        render, _ = timed(partial(to_prometheus, result), max(3, runs // 4))
        report("  to_prometheus (data as Python objects)", render)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--memory-only", action="store_true")
    args = parser.parse_args()
    malloc_tuning.keep_freed_memory()  # the allocator settings of `watchkeeper up`
    start = (int(time.time() * 1000) // CHUNK_MS - args.hours - 2) * CHUNK_MS
    end = start + args.hours * CHUNK_MS
    data = generate(args.series, args.hours, start)
    samples = sum(len(ts) for _, ts, _ in data)
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}")
    print(
        f"{args.series} series x {args.hours} h at 15 s ({samples:,} samples); range queries "
        f"over {args.hours} h at step 60 s ({(end - start) // STEP_MS + 1} steps), {args.runs} runs"
    )
    memory = MemorySource()
    for labels, ts, values in data:
        memory.add(labels, ts, values)
    gc_tuning.settle()  # the collector settings of `watchkeeper up`
    bench("engine over MemorySource", Engine(memory), start, end, args.runs)
    if args.memory_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = make_engine(url)
        upgrade(db)
        store = MetricStore(db)
        began = time.perf_counter()
        fill_store(store, data)
        print(f"(store filled and compacted in {time.perf_counter() - began:.0f} s)")
        gc_tuning.settle()
        bench(f"engine over MetricStore ({db.dialect.name})", Engine(store), start, end, args.runs)
        db.dispose()


if __name__ == "__main__":
    main()
