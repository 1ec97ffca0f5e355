"""Capacity: growth and the date a database reaches its size budget, from the history the
service keeps in the metrics store (in memory, and in the real store on both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine

from watchkeeper.dbmaint import capacity
from watchkeeper.dbmaint.config import SqliteDatabase
from watchkeeper.metrics.labels import STALE_NAN, make_labels
from watchkeeper.metrics.source import MemorySource
from watchkeeper.metrics.store import MetricStore

NOW = datetime(2026, 6, 1, tzinfo=UTC)
MIB = 1024 * 1024
DAY_MS = 86_400_000


def _target(budget: int | None = None) -> SqliteDatabase:
    return SqliteDatabase(name="app", type="sqlite", path="/srv/app.db", size_budget=budget)


def _labels(name: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return make_labels({"__name__": f"watchkeeper_db_{name}", "database": "app", **extra})


def _history(days: int, step_ms: int = 3_600_000) -> np.ndarray:
    end = int(NOW.timestamp() * 1000)
    return np.arange(end - days * DAY_MS, end + 1, step_ms, dtype=np.int64)


def test_size_reaches_the_budget_on_the_projected_day() -> None:
    ts = _history(30)
    days = (ts - ts[-1]) / DAY_MS  # 0 now, negative before
    size = 500 * MIB + 10 * MIB * days  # 500 MiB now, +10 MiB a day
    source = MemorySource()
    source.add(_labels("size_bytes"), ts, size)
    source.add(_labels("size_bytes", instance="other"), ts[:1], size[:1])  # ignored: 1 point
    found = capacity.capacity(source, _target(budget=1000 * MIB), now=NOW)
    assert found.size is not None
    assert found.size.fit == "linear"
    assert found.size.growth_per_day == pytest.approx(10 * MIB)
    assert found.size.current == pytest.approx(500 * MIB)
    assert found.size.reaches_at is not None
    assert abs(found.size.reaches_at - (NOW + timedelta(days=50))) < timedelta(seconds=2)
    assert found.size.limit == 1000 * MIB
    assert len(found.size.history) <= capacity.CHART_POINTS
    assert found.size.projection[0][0] == NOW


def test_no_budget_no_date_and_tables_largest_first() -> None:
    ts = _history(10)
    days = (ts - ts[0]) / DAY_MS
    source = MemorySource()
    source.add(_labels("size_bytes"), ts, 100 * MIB + MIB * days)
    for i, (start, growth) in enumerate([(10, 1), (80, 3), (40, 0.5)]):
        values = (start + growth * days) * MIB
        source.add(_labels("table_size_bytes", table=f"public.t{i}"), ts, values)
    stale = np.array([1.0, 2.0, STALE_NAN])
    source.add(_labels("table_size_bytes", table="public.gone"), ts[-3:], stale)
    found = capacity.capacity(source, _target(), now=NOW, tables=2)
    assert found.size is not None and found.size.reaches_at is None
    assert [t.subject for t in found.tables] == ["public.t1", "public.t2"]
    assert found.tables[0].growth_per_day == pytest.approx(3 * MIB)


def test_no_history_no_projection() -> None:
    found = capacity.capacity(MemorySource(), _target(budget=MIB), now=NOW)
    assert found.size is None and found.tables == []


def test_capacity_reads_the_real_metrics_store(engine: Engine) -> None:
    store = MetricStore(engine)
    ts = _history(20, step_ms=6 * 3_600_000)
    days = (ts - ts[-1]) / DAY_MS
    values = 2000 * MIB + 25 * MIB * days
    store.write([(_labels("size_bytes"), list(zip(ts.tolist(), values.tolist(), strict=True)))])
    found = capacity.capacity(store, _target(budget=3000 * MIB), now=NOW)
    assert found.size is not None and found.size.reaches_at is not None
    assert abs(found.size.reaches_at - (NOW + timedelta(days=40))) < timedelta(seconds=2)
    growth = capacity.growth_per_day(store, "app", now=NOW, window=timedelta(days=7))
    assert growth == pytest.approx(25 * MIB)


def _fs(name: str, **extra: str) -> tuple[tuple[str, str], ...]:
    labels = {"__name__": name, "instance": "db-1", "mountpoint": "/var/lib/postgresql"}
    return make_labels({**labels, **extra})


def test_disk_fills_on_the_projected_day(engine: Engine) -> None:
    """The filesystem's used bytes (size - avail, as the host agent reports them) reach its
    size: 100 GiB disk, 60 GiB used now, +1 GiB a day -> full in 40 days."""
    gib = 1024 * MIB
    ts = _history(14)
    days = (ts - ts[-1]) / DAY_MS
    size = np.full(len(ts), 100.0 * gib)
    avail = size - (60 * gib + gib * days)
    store = MetricStore(engine)
    store.write(
        [
            (_fs("node_filesystem_size_bytes"), list(zip(ts.tolist(), size.tolist(), strict=True))),
            (
                _fs("node_filesystem_avail_bytes"),
                list(zip(ts.tolist(), avail.tolist(), strict=True)),
            ),
            # another mount of the host: not this database's
            (_fs("node_filesystem_avail_bytes", mountpoint="/"), [(int(ts[0]), 1.0)]),
        ]
    )
    target = SqliteDatabase.model_validate(
        {
            "name": "app",
            "type": "sqlite",
            "path": "/srv/app.db",
            "disk": {"host": "db-1", "mountpoint": "/var/lib/postgresql"},
        }
    )
    found = capacity.capacity(store, target, now=NOW)
    assert found.disk is not None and found.disk_at == "db-1:/var/lib/postgresql"
    assert found.disk.limit == pytest.approx(100 * gib)
    assert found.disk.current == pytest.approx(60 * gib)
    assert found.disk.reaches_at is not None
    assert abs(found.disk.reaches_at - (NOW + timedelta(days=40))) < timedelta(seconds=2)
    assert capacity.capacity(store, _target(), now=NOW).disk is None  # no `disk` in the plan
