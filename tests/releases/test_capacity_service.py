"""The capacity service on the real store (SQLite and PostgreSQL): hosts whose agent series
are pushed into the metrics store (compacted into hourly rollups, plus a fresh head) get
forecasts; a filling disk raises CapacityForecast, which resolves when the trend reverses;
targets forecast with their limit_expr, and report what keeps them from a forecast."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.releases.capacity_support import GIB, NOW, PLAN, hours, push_host
from tests.releases.support import apply
from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.metrics.compaction import compact
from watchkeeper.metrics.store import MetricStore
from watchkeeper.releases.capacity.alerting import ALERTNAME
from watchkeeper.releases.capacity.service import CapacityService
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Alert, CapacityForecast
from watchkeeper.telemetry import CAPACITY_DAYS_LEFT, CAPACITY_FORECASTS

# The disk of web-1 fills at five points a day: 70% at NOW, 90% (the default limit) four
# days later. web-2's stays at 30%.
FILLING = lambda days: 0.70 + 0.05 * days  # noqa: E731
FLAT = lambda days: 0.30 + 0 * days  # noqa: E731
# The fit reads one value per hour; the samples stand at hh:59:59 and the rollups date
# them at hh:59:59.999, so the line is exact and only the root finding (to a second) is
# left: a minute of tolerance.
TOLERANCE = 60.0


def _alerts(db: Session) -> list[Alert]:
    return [
        a
        for a in db.scalars(select(Alert).where(Alert.rule == INTERNAL_RULE))
        if a.labels.get("alertname") == ALERTNAME
    ]


def _rows(db: Session) -> dict[tuple[str, str, str, str], CapacityForecast]:
    return {
        (r.kind, r.host, r.resource, r.subject): r for r in db.scalars(select(CapacityForecast))
    }


@pytest.fixture
def filled(ctx: AppContext) -> MetricStore:
    """Four days of both hosts, compacted up to NOW except the last hour (the head)."""
    apply(ctx.sessions, PLAN)
    store = ctx.metrics
    push_host(store, "web-1", hours(-4, 0), FILLING)
    push_host(store, "web-2", hours(-4, 0), FLAT)
    compact(store, int((NOW - timedelta(hours=1)).timestamp() * 1000))
    return store


def test_a_filling_disk_alerts_and_resolves_when_the_trend_reverses(
    ctx: AppContext, filled: MetricStore
) -> None:
    now = [NOW]
    service = CapacityService(ctx.sessions, filled, clock=lambda: now[0])
    done = service.run_once()
    assert done is not None
    with ctx.sessions() as db:
        rows = _rows(db)
        disk = rows[("host", "web-1", "disk", "/")]
        assert disk.status == "soon"
        assert disk.fit == "linear"
        assert disk.current == pytest.approx(70 * GIB)
        assert disk.limit_value == pytest.approx(90 * GIB)
        assert disk.per_day == pytest.approx(5 * GIB)
        assert disk.reaches_at is not None
        expected = NOW + timedelta(days=4)
        assert abs((disk.reaches_at - expected).total_seconds()) < TOLERANCE
        assert rows[("host", "web-1", "cpu", "")].status == "never"
        assert rows[("host", "web-1", "cpu", "")].current == pytest.approx(0.2)
        assert rows[("host", "web-1", "memory", "")].current == pytest.approx(0.4)
        assert rows[("host", "web-2", "disk", "/")].status == "never"
        assert ("host", "web-2", "cpu", "") not in rows  # ignored by the override
        alerts = _alerts(db)
        assert len(alerts) == 2  # the host's disk, and the root-free target
        by_kind = {a.labels.get("resource", a.labels.get("target")): a for a in alerts}
        host_alert = by_kind["disk"]
        assert host_alert.state == "firing"
        assert host_alert.labels == {
            "alertname": ALERTNAME,
            "host": "web-1",
            "resource": "disk",
            "mountpoint": "/",
            "severity": "warning",
        }
        assert host_alert.annotations["full_within_days"] == "4"
        assert "within 4 d" in host_alert.annotations["summary"]
        assert by_kind["root-free"].labels["severity"] == "critical"
    value = CAPACITY_DAYS_LEFT.labels("host", "web-1", "disk", "/")._value.get()
    assert value == pytest.approx(4, abs=0.01)
    assert math.isinf(CAPACITY_DAYS_LEFT.labels("host", "web-2", "disk", "/")._value.get())
    assert CAPACITY_FORECASTS.labels("soon")._value.get() == 2

    # Not due again within capacity.refresh (15 minutes by default).
    now[0] = NOW + timedelta(minutes=5)
    assert service.run_once() is None

    # Five days on, the disk was cleaned up and keeps shrinking: the history (4 days) sees
    # only the decline, the forecast never reaches the limit, the alert resolves.
    push_host(filled, "web-1", hours(0, 5), lambda days: 0.70 - 0.02 * days)
    push_host(filled, "web-2", hours(0, 5), FLAT)
    now[0] = NOW + timedelta(days=5)
    compact(filled, int(now[0].timestamp() * 1000))
    assert service.run_once() is not None
    with ctx.sessions() as db:
        disk = _rows(db)[("host", "web-1", "disk", "/")]
        assert disk.status == "never"
        assert disk.per_day == pytest.approx(-2 * GIB)
        assert {a.state for a in _alerts(db)} == {"resolved"}


def test_targets_use_their_limit_expr_and_report_why_not(
    ctx: AppContext, filled: MetricStore
) -> None:
    CapacityService(ctx.sessions, filled, clock=lambda: NOW).run_once()
    with ctx.sessions() as db:
        rows = _rows(db)
    series = '{device="/dev/vda1", fstype="ext4", instance="web-1", job="agent", mountpoint="/"}'
    free = rows[("target", "web-1", "root-free", series)]
    assert free.direction == "down"
    assert free.limit_value == pytest.approx(10 * GIB)  # 10% of the 100 GiB filesystem
    assert free.per_day == pytest.approx(-5 * GIB)
    assert free.status == "soon"
    assert free.reaches_at is not None
    assert abs((free.reaches_at - (NOW + timedelta(days=4))).total_seconds()) < TOLERANCE
    assert free.labels["target"] == "root-free" and free.labels["host"] == "web-1"
    broken = [r for k, r in rows.items() if k[2] == "memory-total"]
    assert len(broken) == 2  # one per host, both without a limit
    assert {r.status for r in broken} == {"error"}
    assert all("limit_expr" in r.detail for r in broken)


def test_too_little_history_is_listed_but_not_forecast(ctx: AppContext) -> None:
    apply(ctx.sessions, PLAN)
    push_host(ctx.metrics, "new-1", hours(-0.5, 0), FILLING)  # twelve hours
    CapacityService(ctx.sessions, ctx.metrics, clock=lambda: NOW).run_once()
    with ctx.sessions() as db:
        disk = _rows(db)[("host", "new-1", "disk", "/")]
        assert disk.status == "insufficient"
        assert "a forecast needs 1 d" in disk.detail
        assert disk.current == pytest.approx(0.70 * 100 * GIB, rel=0.01)
        assert not _alerts(db)


def test_a_removed_target_and_a_gone_host_leave_the_report(
    ctx: AppContext, filled: MetricStore
) -> None:
    service = CapacityService(ctx.sessions, filled, clock=lambda: NOW)
    service.run_once()
    apply(ctx.sessions, "capacity:\n  history: 4d\n  hosts:\n    exclude: [web-1]\n")
    later = NOW + timedelta(minutes=1)
    done = CapacityService(ctx.sessions, filled, clock=lambda: later).run_once()
    assert done is not None
    with ctx.sessions() as db:
        keys = set(_rows(db))
        assert {k[1] for k in keys} == {"web-2"}
        assert not [k for k in keys if k[0] == "target"]
        assert {a.state for a in _alerts(db)} == {"resolved"}
    assert np.isfinite(done.seconds)
