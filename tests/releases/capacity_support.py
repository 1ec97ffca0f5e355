"""Shared by the capacity tests: hosts' agent series pushed into the real metrics store, hour
by hour, and the plan that forecasts them.

Each hour gets one sample at hh:59:59, so the hourly rollups (which date an hour's last
value just before the hour ends) keep it within a millisecond of its real time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from watchkeeper.metrics.labels import make_labels
from watchkeeper.metrics.store import MetricStore

NOW = datetime(2026, 6, 1, tzinfo=UTC)  # midnight
DAY_MS, HOUR_MS = 86_400_000, 3_600_000
GIB = 1024**3
DISK = 100 * GIB
MEMORY = 16 * GIB

PLAN = """
capacity:
  history: 4d
  alert_within: 14d
  hosts:
    overrides:
      - hosts: ["web-2"]
        ignore: [cpu]
        labels: {team: web}
  targets:
    - name: root-free
      expr: node_filesystem_avail_bytes{mountpoint="/"}
      limit_expr: node_filesystem_size_bytes{mountpoint="/"} * 0.1
      direction: down
      unit: bytes
      severity: critical
    - name: memory-total
      expr: node_memory_MemTotal_bytes
      limit_expr: node_memory_MemTotal_bytes{instance="nowhere"}
"""

Shape = Callable[[np.ndarray], np.ndarray]
"""Used disk share at the given days from NOW (negative: before)."""


def hours(start_day: float, end_day: float, now: datetime = NOW) -> np.ndarray:
    """Sample times (ms) at hh:59:59 of every hour from ``start_day`` to ``end_day``
    (days from ``now``, an hour's start)."""
    base = int(now.timestamp() * 1000)
    first = base + int(start_day * DAY_MS)
    return np.arange(first + HOUR_MS - 1000, base + int(end_day * DAY_MS), HOUR_MS)


def push_host(
    store: MetricStore,
    host: str,
    ts: np.ndarray,
    disk_used: Shape,
    *,
    busy: float = 0.2,
    memory_used: float = 0.4,
    now: datetime = NOW,
) -> None:
    """Write ``host``'s agent series at ``ts``: one CPU, memory, the root filesystem
    (``disk_used`` of days from ``now``)."""
    days = (ts - now.timestamp() * 1000) / DAY_MS
    on = {"instance": host, "job": "agent"}
    fs = {**on, "device": "/dev/vda1", "fstype": "ext4", "mountpoint": "/"}
    seconds = ts / 1000 - NOW.timestamp() + 1e7  # one counter across pushes
    series = {
        make_labels({"__name__": "node_cpu_seconds_total", **on, "cpu": "0", "mode": "idle"}): (
            seconds * (1 - busy)
        ),
        make_labels({"__name__": "node_memory_MemTotal_bytes", **on}): np.full(len(ts), MEMORY),
        make_labels({"__name__": "node_memory_MemAvailable_bytes", **on}): np.full(
            len(ts), MEMORY * (1 - memory_used)
        ),
        make_labels({"__name__": "node_filesystem_size_bytes", **fs}): np.full(len(ts), DISK),
        make_labels({"__name__": "node_filesystem_avail_bytes", **fs}): DISK
        * (1 - disk_used(days)),
    }
    store.write(
        [
            (labels, list(zip(ts.tolist(), np.asarray(values, dtype=float).tolist(), strict=True)))
            for labels, values in series.items()
        ]
    )
