"""The release gate's decision on synthetic series before and after a deploy: relative
change beyond the threshold in the worse direction and an absolute change of at least
min_change regress; no data is skipped with the reason; and the windows read from a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper.metrics.labels import make_labels
from watchkeeper.metrics.source import MemorySource
from watchkeeper.releases.config import GateMetric, ReleaseGate
from watchkeeper.releases.gate import decide, evaluate, judge_metric

ERRORS = GateMetric(name="error_rate", expr="x", threshold=0.2, min_change=0.05)
THROUGHPUT = GateMetric(name="throughput", expr="y", worse="lower", threshold=0.1)
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def flat(value: float, n: int = 30) -> list[float]:
    return [value] * n


@pytest.mark.parametrize(
    ("metric", "before", "after", "verdict", "reason"),
    [
        (ERRORS, flat(1.0), flat(1.5), "regressed", "rose by 50.0%, beyond the threshold 20%"),
        (ERRORS, flat(1.0), flat(1.1), "healthy", "within the threshold 20%"),
        (ERRORS, flat(1.0), flat(0.2), "healthy", "unchanged or better"),
        # +100% but only 0.01 more errors/s: below min_change
        (ERRORS, flat(0.01), flat(0.02), "healthy", "less than min_change 0.05"),
        (ERRORS, flat(0.0), flat(0.3), "regressed", "rose by 0.3 (from 0)"),
        (ERRORS, flat(0.0), flat(0.0), "healthy", "unchanged or better"),
        (THROUGHPUT, flat(100), flat(80), "regressed", "fell by 20.0%"),
        (THROUGHPUT, flat(100), flat(95), "healthy", "within the threshold 10%"),
        (THROUGHPUT, flat(100), flat(200), "healthy", "unchanged or better"),
        (ERRORS, [], flat(1), "skipped", "no data before the deploy"),
        (ERRORS, flat(1), [], "skipped", "no data after the deploy"),
        (ERRORS, [], [], "skipped", "no data before nor after the deploy"),
        (ERRORS, [float("nan")] * 3, flat(1), "skipped", "no data before the deploy"),
    ],
)
def test_judge_metric(
    metric: GateMetric, before: list[float], after: list[float], verdict: str, reason: str
) -> None:
    judged = judge_metric(metric, before, after)
    assert judged.verdict == verdict
    assert reason in judged.reason


def test_figures_are_the_window_averages() -> None:
    judged = judge_metric(ERRORS, [1.0, 2.0, 3.0], [4.0, 5.0, 6.0, float("nan")])
    assert (judged.before, judged.after, judged.change) == (2.0, 5.0, 3.0)
    assert judged.relative == pytest.approx(1.5)


def test_decide() -> None:
    regressed = judge_metric(ERRORS, flat(1), flat(2))
    healthy = judge_metric(THROUGHPUT, flat(100), flat(100))
    skipped = judge_metric(ERRORS, [], [])
    assert decide([healthy, regressed]) == ("regressed", "regressed: error_rate")
    assert decide([healthy]) == ("healthy", "no metric regressed")
    assert decide([healthy, skipped]) == (
        "healthy",
        "no metric regressed (not judged: error_rate)",
    )
    verdict, reason = decide([skipped])
    assert verdict == "skipped" and "no data before nor after the deploy" in reason
    assert decide([]) == ("skipped", "the release gate names no metrics")


def test_evaluate_reads_the_windows_around_the_deploy() -> None:
    source = MemorySource()
    step = 15_000
    start = int((T0 - timedelta(hours=1)).timestamp() * 1000)
    ts = list(range(start, start + 2 * 3600_000, step))
    deploy_ms = int(T0.timestamp() * 1000)
    # latency 0.2 s before the deploy, 0.5 s after; errors flat
    source.add(
        make_labels({"__name__": "latency", "service": "api"}),
        ts,
        [0.2 if t < deploy_ms else 0.5 for t in ts],
    )
    source.add(make_labels({"__name__": "errors", "service": "api"}), ts, [3.0] * len(ts))
    gate = ReleaseGate(
        window=timedelta(minutes=30),
        metrics=[
            GateMetric(name="latency", expr='max(latency{service="api"})', threshold=0.5),
            GateMetric(name="errors", expr='sum(errors{service="api"})'),
            GateMetric(name="missing", expr="sum(nothing_here)"),
            GateMetric(name="broken", expr="sum(rate(errors[5m]"),
        ],
    )
    result = evaluate(source, gate, T0)
    by_name = {m.name: m for m in result.metrics}
    assert result.verdict == "regressed"
    assert by_name["latency"].before == pytest.approx(0.2)
    assert by_name["latency"].after == pytest.approx(0.5)
    assert by_name["latency"].verdict == "regressed"
    assert by_name["errors"].verdict == "healthy"
    assert by_name["missing"].verdict == "skipped"
    assert by_name["missing"].reason == "no data before nor after the deploy"
    assert by_name["broken"].verdict == "skipped"
    assert by_name["broken"].reason.startswith("the expression fails:")
    detail = result.detail()
    assert detail["window_seconds"] == 1800
    assert detail["before"] == ["2026-12-02T11:30:00+00:00", "2026-12-02T12:00:00+00:00"]
    assert [m["name"] for m in detail["metrics"]] == ["latency", "errors", "missing", "broken"]
