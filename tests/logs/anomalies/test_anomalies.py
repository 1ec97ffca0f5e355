"""Log templates mined with Drain: a new error message after the learning period is flagged
as new, and a template's rate far above its usual count for that hour is an anomaly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.logs.anomalies.baseline import judge
from watchkeeper.logs.anomalies.service import TemplateMining
from watchkeeper.logs.anomalies.views import anomalies, search_query
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.store import ChunkStore
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Alert

DAY0 = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
LABELS = make_labels({"app": "shop", "host": "web-1", "level": "info"})
FIXTURE = [
    "GET /api/orders/{n} 200 in {n} ms",
    "user {n} logged in from 10.0.0.{n}",
    "cache refresh done: {n} keys",
    "payment {n} captured for order {n}",
]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChunkStore]:
    made = ChunkStore(tmp_path / "logs")
    yield made
    made.close()


def put(store: ChunkStore, at: float, messages: list[str]) -> None:
    lines = []
    for i, text in enumerate(messages):
        ts = int((at + i * 0.01) * 1e9)
        lines.append(LogLine(ts, ts, LABELS, text))
    store.append(lines)


def fixture_lines(hour: int, per_template: int) -> list[str]:
    return [t.format(n=hour * 100 + i) for i in range(per_template) for t in FIXTURE]


def firing(ctx: AppContext, name: str) -> list[Alert]:
    with ctx.sessions() as db:
        return [
            a
            for a in db.scalars(
                select(Alert).where(Alert.rule == INTERNAL_RULE, Alert.state == "firing")
            )
            if a.labels.get("alertname") == name
        ]


def test_new_error_message_is_flagged_as_new(ctx: AppContext, store: ChunkStore) -> None:
    clock = Clock(DAY0)
    mining = TemplateMining(ctx.sessions, lambda: store, clock=clock, learning=timedelta(hours=2))
    for hour in range(4):
        put(store, DAY0 + hour * 3600 + 60, fixture_lines(hour, 5))
        clock.now = DAY0 + hour * 3600 + 1800
        mining.run_pass()
    with ctx.sessions() as db:
        assert anomalies(db, datetime.fromtimestamp(clock.now, UTC)) == []
    put(
        store,
        DAY0 + 4 * 3600 + 60,
        fixture_lines(4, 5) + ["ERROR disk /var/lib/db is full: wrote 0 of 4096 bytes"],
    )
    clock.now = DAY0 + 4 * 3600 + 1800
    report = mining.run_pass()
    assert report.new_templates == 1
    with ctx.sessions() as db:
        found = anomalies(db, datetime.fromtimestamp(clock.now, UTC))
    assert [a.kind for a in found] == ["new"]
    (new,) = found
    assert "disk" in new.template and "full" in new.template
    assert new.examples == ["ERROR disk /var/lib/db is full: wrote 0 of 4096 bytes"]
    assert new.scope == '{app="shop",host="web-1"}'
    assert new.hours[-1] == 1
    (alert,) = firing(ctx, "LogTemplateNew")
    assert alert.labels["stream"] == new.scope
    # Known messages with other values are not new.
    put(store, DAY0 + 4 * 3600 + 1900, ["user 7 logged in from 10.0.0.9"])
    clock.now = DAY0 + 4 * 3600 + 2000
    assert mining.run_pass().new_templates == 0
    # After a day the template is no longer new and its alert resolves.
    clock.now = DAY0 + 30 * 3600
    mining.run_pass()
    assert firing(ctx, "LogTemplateNew") == []


def test_rate_far_above_the_same_hour_on_earlier_days(ctx: AppContext, store: ChunkStore) -> None:
    clock = Clock(DAY0)
    mining = TemplateMining(ctx.sessions, lambda: store, clock=clock, learning=timedelta(hours=1))
    for day in range(5):
        for hour in (9, 10):
            at = DAY0 + day * 86400 + hour * 3600
            count = 400 if (day, hour) == (4, 10) else 20 + day  # a spike on day 5 at 10:00
            put(store, at + 300, fixture_lines(hour, count))
            clock.now = at + 3600 + 120  # the hour is complete: the next pass judges it
            mining.run_pass()
            spikes = firing(ctx, "LogTemplateRateAnomaly")
            assert len(spikes) == (4 if (day, hour) == (4, 10) else 0), (day, hour)
    with ctx.sessions() as db:
        found = anomalies(db, datetime.fromtimestamp(clock.now, UTC))
    assert {a.kind for a in found} == {"rate"} and len(found) == 4
    assert found[0].rate is not None and found[0].rate["direction"] == "high"
    assert found[0].rate["count"] == 400
    # The next hour judged, a usual one, resolves them.
    at = DAY0 + 5 * 86400 + 9 * 3600
    put(store, at + 300, fixture_lines(9, 25))
    clock.now = at + 3600 + 120
    mining.run_pass()
    assert firing(ctx, "LogTemplateRateAnomaly") == []


def test_baseline_rule() -> None:
    assert judge(100, [10, 12]) is None  # too little history
    assert judge(100, [10, 12, 11, 9]) is not None
    assert judge(20, [10, 12, 11, 9]) is None  # within 4 spreads (sqrt of the median)
    low = judge(0, [100, 110, 95])
    assert low is not None and low.direction == "low"
    assert judge(0, [5, 6, 4]) is None  # a rare template may be absent


def test_search_query_uses_the_longest_literal_run() -> None:
    query = search_query('{app="shop"}', "user <num> logged in from <ip>")
    assert query == '{app="shop"} |= "logged in from"'
