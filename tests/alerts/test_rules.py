"""Alert rule semantics: pending, firing, resolved, ``for``, ``keep_firing_for``, absent,
forecast, templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper.alerts.config import AlertRule
from watchkeeper.alerts.rules import Active, query_results, step
from watchkeeper.metrics.labels import make_labels
from watchkeeper.metrics.promql.engine import Engine
from watchkeeper.metrics.source import MemorySource

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def rule(**spec: object) -> AlertRule:
    return AlertRule.model_validate({"name": "Down", **spec})


def run(r: AlertRule, series: list[tuple[dict[str, str], list[float | None]]], minutes: int):
    """Evaluate ``r`` every minute over series sampled every minute; yield (minute, events,
    states)."""
    source = MemorySource()
    for labels, values in series:
        points = [(i * 60_000, v) for i, v in enumerate(values) if v is not None]
        source.add(make_labels(labels), [t for t, _ in points], [v for _, v in points])
    engine = Engine(source)
    active: dict[str, Active] = {}
    out = []
    for minute in range(minutes):
        now = T0 + timedelta(minutes=minute)
        ms = int(now.timestamp() * 1000) - int(T0.timestamp() * 1000)
        active, transitions = step(r, active, query_results(engine, r.promql(), ms), now)
        out.append(
            (minute, [t.event for t in transitions], sorted(a.state for a in active.values()))
        )
    return out


UP = {"__name__": "up", "job": "api", "instance": "a:80"}


def test_for_holds_the_alert_pending_then_fires_then_resolves() -> None:
    r = rule(expr="up == 0", **{"for": "2m"})
    got = run(r, [(UP, [1, 0, 0, 0, 0, 1, 1])], 7)
    assert got == [
        (0, [], []),
        (1, ["pending"], ["pending"]),
        (2, [], ["pending"]),
        (3, ["firing"], ["firing"]),
        (4, [], ["firing"]),
        (5, ["resolved"], []),
        (6, [], []),
    ]


def test_a_pending_alert_that_goes_away_never_fires() -> None:
    r = rule(expr="up == 0", **{"for": "5m"})
    got = run(r, [(UP, [0, 0, 1, 1])], 4)
    assert [e for _, e, _ in got] == [["pending"], [], ["inactive"], []]


def test_for_zero_fires_at_the_first_evaluation() -> None:
    got = run(rule(expr="up == 0"), [(UP, [0])], 1)
    assert got == [(0, ["pending", "firing"], ["firing"])]


def test_keep_firing_for_rides_out_a_flap() -> None:
    r = rule(expr="up == 0", keep_firing_for="3m")
    got = run(r, [(UP, [0, 1, 0, 1, 1, 1, 1, 1])], 8)
    events = [e for _, e, _ in got]
    assert events[0] == ["pending", "firing"]
    assert events[1:5] == [[], [], [], []]  # flapping back and forth: still one alert
    assert events[6] == ["resolved"]  # 3 minutes after the last time it held (minute 2)


def test_absent_fires_when_the_series_is_missing() -> None:
    r = rule(absent='up{job="batch"}', **{"for": "1m"})
    got = run(r, [(UP, [1, 1, 1])], 3)
    assert [e for _, e, _ in got] == [["pending"], ["firing"], []]


def test_forecast_predicts_a_full_disk() -> None:
    r = rule(forecast={"metric": "disk_free_bytes", "within": "1h", "below": 0, "range": "10m"})
    assert r.promql() == "predict_linear(disk_free_bytes[600s], 3600) < 0"
    falling = [1000.0 - 20 * i for i in range(12)]  # -20/min: empty in under an hour
    got = run(r, [({"__name__": "disk_free_bytes", "host": "db-1"}, falling)], 12)
    assert got[-1][2] == ["firing"]


def test_labels_and_annotations_are_templated_with_prometheus_names() -> None:
    r = rule(
        expr="up == 0",
        severity="critical",
        labels={"page": "{{ $labels.job }}-team"},
        annotations={
            "summary": "{{ $labels.instance }} is down",
            "value": "{{ $value }} / {{ 1234567 | humanize }}",
        },
    )
    active, transitions = step(r, {}, [({"__name__": "up", **UP}, 0.0)], T0)
    (alert,) = active.values()
    assert alert.labels == {
        "alertname": "Down",
        "job": "api",
        "instance": "a:80",
        "page": "api-team",
        "severity": "critical",
    }
    assert alert.annotations == {"summary": "a:80 is down", "value": "0 / 1.235M"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "exactly one of"),
        ({"expr": "up", "check": "api"}, "found expr, check"),
        ({"expr": "up ==", "for": "1m"}, "PromQL"),
        ({"check": "api", "when": "latency"}, "latency_above"),
        ({"expr": "up", "annotations": {"summary": "{{ $labels.x "}}, "template error"),
        ({"expr": "up", "labels": {"bad-name": "x"}}, "not a valid label name"),
    ],
)
def test_bad_rules_are_refused(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule(**spec)
