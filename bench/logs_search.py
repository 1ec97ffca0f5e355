"""Measure log search on the chunk store (issue 7) and print the figures.

Builds a store of N syslog-like lines over 24 h directly through ``ChunkStore`` (no server):
the lines of ``bench/logs_storage.py`` (50 hosts, 8 apps, 4 levels, ~118 bytes as RFC 3164,
one rare term in 3 lines), labelled as the syslog receiver labels them and run through the
default parsing pipeline (automatic logfmt fields such as ``user=``). Then times, as the
median of 5 runs, the queries issue 7 sets targets for:

* rare term (< 200 ms over 10 M lines), common-term count, field-filtered counts over 24 h
  (< 1 s), a regex count, a per-level aggregation over 24 h and the newest 100-line page;

and prints the build rate, stored bytes per raw byte (target <= 0.5) and the table.
``--profile NAME`` runs one query under cProfile and prints where its time goes.

    .venv/bin/python bench/logs_search.py --lines 1000000
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from logs_storage import RARE, lines, raw_size  # noqa: E402

from watchkeeper.logs.config import LogsSection  # noqa: E402
from watchkeeper.logs.model import LogLine, make_labels  # noqa: E402
from watchkeeper.logs.pipeline import Processor  # noqa: E402
from watchkeeper.logs.query.engine import evaluate_instant, evaluate_range, select_lines  # noqa: E402
from watchkeeper.logs.store import ChunkStore  # noqa: E402

S = 1_000_000_000
BATCH = 10_000
console = Console(stderr=True)


def build(store: ChunkStore, count: int, start: float) -> tuple[int, float, float]:
    """Append ``count`` lines; return (raw bytes, seconds in the store, seconds in total)."""
    processor = Processor(LogsSection())
    labels_cache: dict[tuple[str, str, str], Any] = {}
    raw = 0
    in_store = 0.0
    began = time.perf_counter()
    batch: list[LogLine] = []
    columns = (TextColumn("building"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("build", total=count)
        for ts, host, app, level, message in lines(count, start):
            key = (host, app, level)
            labels = labels_cache.get(key)
            if labels is None:
                labels = labels_cache[key] = make_labels(
                    {"source": "syslog", "host": host, "app": app, "level": level}
                )
            stamp = int(ts * S)
            batch.append(LogLine(stamp, stamp, labels, message))
            raw += raw_size(ts, host, app, level, message)
            if len(batch) == BATCH:
                in_store += _append(store, processor, batch)
                progress.advance(task, len(batch))
                batch = []
        if batch:
            in_store += _append(store, processor, batch)
            progress.advance(task, len(batch))
    t0 = time.perf_counter()
    store.flush()
    in_store += time.perf_counter() - t0
    return raw, in_store, time.perf_counter() - began


def _append(store: ChunkStore, processor: Processor, batch: list[LogLine]) -> float:
    t0 = time.perf_counter()
    store.append(processor.process(batch))
    return time.perf_counter() - t0


def timed(fn: Callable[[], Any], runs: int = 5) -> tuple[float, Any]:
    """Median seconds of ``runs`` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def queries(store: ChunkStore, start: int, end: int) -> dict[str, Callable[[], Any]]:
    day = end - start

    def count(query: str) -> Callable[[], float]:
        return lambda: sum(v for _, v in evaluate_instant(store, query, end))

    return {
        "rare term (3 lines)": lambda: len(select_lines(store, RARE, start, end).lines),
        "common term count |= timeout, 24 h": count(
            f'sum(count_over_time({{}} |= "timeout" [{day // S}s]))'
        ),
        'count {app="api", level="error"}, 24 h': count(
            f'sum(count_over_time({{app="api", level="error"}}[{day // S}s]))'
        ),
        'count {app="api"} | user="user42", 24 h': count(
            f'sum(count_over_time({{app="api"}} | user="user42" [{day // S}s]))'
        ),
        "regex count |~ upstr.*, 24 h": count(
            f'sum(count_over_time({{}} |~ "upstr.*" [{day // S}s]))'
        ),
        "sum by (level) count [1h], 24 steps": lambda: len(
            evaluate_range(
                store, "sum by (level) (count_over_time({}[1h]))", start + 3600 * S, end, 3600 * S
            ).series
        ),
        "newest 100 lines": lambda: len(select_lines(store, "{}", start, end, limit=100).lines),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, help="build here (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="reuse a store built in --dir")
    parser.add_argument(
        "--profile", help="run the query whose name starts with this under cProfile"
    )
    args = parser.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="wk-logs-search-"))
    start_s = 1_700_000_000.0
    start, end = int(start_s * S), int((start_s + 86400) * S)
    try:
        built = args.keep and (root / "meta.db").exists()
        store = ChunkStore(root)
        if not built:
            raw, in_store, total = build(store, args.lines, start_s)
            (root / "raw_bytes").write_text(str(raw))
            console.print(
                f"built {args.lines:,} lines: {args.lines / total:,.0f} lines/s with the pipeline,"
                f" {args.lines / in_store:,.0f} lines/s in the store"
            )
        raw = int((root / "raw_bytes").read_text())
        stored = store.disk_bytes()
        table = Table(title=f"log search, {args.lines:,} lines ({raw / 1e6:,.0f} MB raw)")
        table.add_column("query")
        table.add_column("median ms", justify="right")
        table.add_column("result", justify="right")
        for name, fn in queries(store, start, end).items():
            if args.profile and name.startswith(args.profile):
                profiler = cProfile.Profile()
                profiler.runcall(fn)
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
            seconds, result = timed(fn, args.runs)
            table.add_row(name, f"{seconds * 1000:,.1f}", f"{result:,.0f}")
        Console().print(table)
        print(
            f"stored {stored / 1e6:,.1f} MB = {stored / raw:.2f} x raw;"
            f" {len(store.streams())} streams;"
            f" {os.cpu_count()} cores, Python {platform.python_version()}"
        )
        store.close()
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
