"""Capacity planning: one refresh of every forecast for 200 hosts x 4 resources over 30 days.

    .venv/bin/python bench/capacity.py [--hosts 200] [--days 30] [--cpus 4] [--mounts 2]
                                       [--runs 2] [--database-url URL]

Target: a refresh well inside its default period (15 minutes); under 60 s for 200 hosts.

The data, made before any clock starts: per host ``--cpus`` idle CPU counters, memory total
and available, ``--mounts`` filesystems (size and avail) and two network counters, one
value per hour over ``--days`` (what the hourly rollups hold for agents sampling every
10 s; the forecasts read nothing finer), in a store (SQLite in a temporary directory by
default): the last two hours as raw samples, the hours before as the rollup rows
compaction makes.
A tenth of the hosts fill a disk, a tenth follow a daily CPU pattern. The plan gives every
host a network limit, so all four resources are forecast.

Each run is the product's own :func:`watchkeeper.releases.capacity.refresh.refresh`: the
hourly reads and PromQL (one query per resource for all hosts), the fits, the rows and the
alerts. Printed per run: seconds in all, of which reading and fitting (``compute``), items,
milliseconds per item, the store's size.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from watchkeeper.dbmaint.section import load_section as load_databases
from watchkeeper.metrics.labels import Labels, Matcher, make_labels
from watchkeeper.metrics.store import MetricStore
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.releases.capacity.refresh import compute, refresh
from watchkeeper.releases.capacity.section import load_section
from watchkeeper.store.engine import make_engine, session_factory
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import MetricRollup, utcnow

HOUR_MS = 3_600_000
GIB = 1024**3
PLAN = """
capacity:
  history: {days}d
  hosts:
    network: 125MB
"""


def series_of(
    host: int, hours: np.ndarray, cpus: int, mounts: int
) -> list[tuple[Labels, np.ndarray]]:
    """One host's hourly values."""
    rng = np.random.default_rng(host)
    on = {"instance": f"host-{host:04d}", "job": "agent"}
    days = (hours - hours[-1]) / (24 * HOUR_MS)
    hour = (hours // HOUR_MS) % 24
    busy = 0.3 + 0.05 * rng.random()
    if host % 10 == 1:  # a daily pattern: busy in the afternoon
        busy = busy + 0.2 * np.cos(2 * np.pi * (hour - 15) / 24)
    seconds = (hours - hours[0]) / 1000
    out: list[tuple[Labels, np.ndarray]] = []
    for cpu in range(cpus):
        idle = np.cumsum(np.full(len(hours), 3600.0) * (1 - busy))
        out.append(
            (
                make_labels(
                    {"__name__": "node_cpu_seconds_total", **on, "cpu": str(cpu), "mode": "idle"}
                ),
                1e6 + idle,
            )
        )
    total = 32 * GIB
    out.append(
        (make_labels({"__name__": "node_memory_MemTotal_bytes", **on}), np.full(len(hours), total))
    )
    used = 0.5 + 0.002 * days + rng.normal(0, 0.01, len(hours))
    out.append(
        (make_labels({"__name__": "node_memory_MemAvailable_bytes", **on}), total * (1 - used))
    )
    for m in range(mounts):
        fs = {**on, "device": f"/dev/vd{chr(97 + m)}1", "fstype": "ext4", "mountpoint": f"/m{m}"}
        size = 200 * GIB
        growth = 0.02 if host % 10 == 0 and m == 0 else 0.001
        share = 0.4 + growth * days + rng.normal(0, 0.002, len(hours))
        out.append(
            (
                make_labels({"__name__": "node_filesystem_size_bytes", **fs}),
                np.full(len(hours), size),
            )
        )
        out.append(
            (make_labels({"__name__": "node_filesystem_avail_bytes", **fs}), size * (1 - share))
        )
    for name in ("receive", "transmit"):
        rate = 5e6 * (1 + rng.random())
        out.append(
            (
                make_labels(
                    {"__name__": f"node_network_{name}_bytes_total", **on, "device": "eth0"}
                ),
                rate * seconds,
            )
        )
    return out


def fill(store: MetricStore, hosts: int, hours: np.ndarray, cpus: int, mounts: int) -> int:
    """Write every host's series: the last two hours as raw samples (the head, not compacted
    yet), the hours before as the 1-hour rollup rows compaction would have made of them
    (compacting weeks of samples here would take far longer than the refresh measured)."""
    head = 2
    written = 0
    for host in range(hosts):
        data = series_of(host, hours, cpus, mounts)
        report = store.write(
            [
                (labels, list(zip(hours[-head:].tolist(), values[-head:].tolist(), strict=True)))
                for labels, values in data
            ]
        )
        written += report.accepted
        ids = store.matching([Matcher("instance", "=", f"host-{host:04d}")])
        by_labels = {labels: sid for sid, labels in ids.items()}
        buckets = (hours[:-head] - hours[:-head] % HOUR_MS).tolist()
        rows = [
            {
                "series_id": by_labels[labels],
                "step": HOUR_MS,
                "ts": bucket,
                "min": value,
                "max": value,
                "sum": value,
                "count": 1,
                "last": value,
            }
            for labels, values in data
            for bucket, value in zip(buckets, values[:-head].tolist(), strict=True)
        ]
        with store.engine.begin() as conn:
            conn.execute(insert(MetricRollup), rows)
        written += len(rows)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cpus", type=int, default=4)
    parser.add_argument("--mounts", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'store.db'}"
        engine = make_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        with sessions() as db:
            apply_plan(db, load_plan_text(textwrap.dedent(PLAN.format(days=args.days))))
            db.commit()
        store = MetricStore(engine)
        now = utcnow().replace(minute=0, second=0, microsecond=0)
        end = int(now.timestamp() * 1000) - 1000
        hours = np.arange(end - args.days * 24 * HOUR_MS, end + 1, HOUR_MS, dtype=np.int64)
        began = time.perf_counter()
        samples = fill(store, args.hosts, hours, args.cpus, args.mounts)
        print(
            f"capacity refresh · {platform.python_implementation()} {platform.python_version()} "
            f"· {engine.dialect.name}"
        )
        print(
            f"  data: {args.hosts} hosts, {samples:,} hourly values over {args.days} d "
            f"({time.perf_counter() - began:.1f} s to write)"
        )
        for run in range(1, args.runs + 1):
            with sessions() as db:
                section, databases = load_section(db), load_databases(db)
            began = time.perf_counter()
            items = compute(store, section, databases, now)
            computed = time.perf_counter() - began
            done = refresh(sessions, store, now)
            statuses: dict[str, int] = {}
            for item in done.items:
                statuses[item.status] = statuses.get(item.status, 0) + 1
            print(
                f"  run {run}: refresh {done.seconds:6.2f} s (read + fit alone {computed:6.2f} s)"
                f" · {len(items)} items · {1000 * done.seconds / max(len(items), 1):.1f} ms/item"
                f" · {statuses} · {len(done.firing)} alerts firing"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
