"""Bytes per stored sample, in the head and after compaction into chunks.

python bench/storage.py [--series 500] [--hours 6] [--database-url URL]

Writes node-exporter-like data (counters, gauges, constants) at 15 s into a fresh store,
measures the size of the sample tables before and after compaction, and prints bytes per
sample. SQLite sizes come from the dbstat virtual table, PostgreSQL's from
pg_total_relation_size (both include indexes).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, text

from watchkeeper.metrics.chunks import CHUNK_MS
from watchkeeper.metrics.compaction import compact
from watchkeeper.metrics.labels import make_labels
from watchkeeper.metrics.store import MetricStore
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade

TABLES = ("metric_samples", "metric_chunks", "metric_rollups", "metric_series")


def table_bytes(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")).all()
            sizes = {name: int(size) for name, size in rows}
            # WITHOUT ROWID tables are their own primary-key index
            return {t: sizes.get(t, 0) + sizes.get(f"sqlite_autoindex_{t}_1", 0) for t in TABLES}
        return {
            t: int(conn.scalar(text(f"SELECT pg_total_relation_size('{t}')")) or 0) for t in TABLES
        }


def generate(store: MetricStore, series: int, hours: int, start: int) -> int:
    rng = np.random.default_rng(7)
    stamps = np.arange(start, start + hours * CHUNK_MS, 15_000)
    written = 0
    kinds = ("counter", "gauge", "constant")
    for first in range(0, len(stamps), 240):  # one hour per write call
        batch = []
        for i in range(series):
            kind = kinds[i % 3]
            ts = stamps[first : first + 240]
            if kind == "counter":
                values = np.cumsum(rng.integers(0, 5000, len(stamps)))[first : first + 240]
            elif kind == "gauge":
                values = 40 + 10 * np.sin(ts / 3.6e6 + i) + rng.normal(0, 1, len(ts))
            else:
                values = np.full(len(ts), float(i))
            labels = make_labels(
                {"__name__": f"bench_{kind}", "instance": f"h{i % 50}", "i": str(i)}
            )
            batch.append(
                (labels, list(zip(ts.tolist(), values.astype(float).tolist(), strict=True)))
            )
        written += store.write(batch).accepted
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        store = MetricStore(engine)
        start = (int(time.time() * 1000) // CHUNK_MS - args.hours - 1) * CHUNK_MS
        print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}")
        print(f"store: {engine.dialect.name}; {args.series} series x {args.hours} h at 15 s")
        samples = generate(store, args.series, args.hours, start)
        head = table_bytes(engine)
        print(f"samples written: {samples:,}")
        print(f"head (raw rows):      {head['metric_samples'] / samples:6.1f} bytes/sample")
        compact(store, start + (args.hours + 2) * CHUNK_MS)
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                conn.exec_driver_sql("VACUUM")
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM FULL metric_samples, metric_chunks, metric_rollups")
        after = table_bytes(engine)
        print(f"chunks (compacted):   {after['metric_chunks'] / samples:6.1f} bytes/sample")
        print(f"5m + 1h rollups:      {after['metric_rollups'] / samples:6.1f} bytes/sample")
        print(f"series table:         {after['metric_series'] / args.series:6.0f} bytes/series")
        engine.dispose()


if __name__ == "__main__":
    main()
