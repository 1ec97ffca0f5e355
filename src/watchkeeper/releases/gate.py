"""The release gate's judgement: each key metric averaged over the window before a deploy,
``[t - window, t)``, and the window after it, ``[t, t + window)``.

A metric *regressed* when it moved in its worse direction by more than ``threshold``
(relative to the value before) **and** by at least ``min_change`` (absolute): a rise from
0.001 to 0.002 errors/s is +100% but no regression with ``min_change: 0.01``. A metric with
no data on either side is *skipped*, with the reason. The deploy regressed when any metric
did; it is healthy when at least one metric was judged and none regressed; skipped when none
could be judged.

:func:`judge_metric` and :func:`decide` are pure; :func:`evaluate` reads the metric store
through the PromQL engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from watchkeeper.metrics.promql.engine import Engine
from watchkeeper.metrics.promql.errors import EvaluationError, PromQLError
from watchkeeper.metrics.promql.values import Matrix, Scalar, Vector
from watchkeeper.metrics.source import SeriesSource
from watchkeeper.releases.config import GateMetric, ReleaseGate

Verdict = Literal["healthy", "regressed", "skipped"]
MIN_STEP = timedelta(seconds=15)
POINTS = 60  # evaluations per window (fewer for short windows: one per MIN_STEP)


@dataclass(frozen=True)
class MetricVerdict:
    """One metric's figures and verdict. ``relative`` is the change over the value before
    (None when that was 0); ``change`` the absolute change (after - before)."""

    name: str
    expr: str
    worse: str
    threshold: float
    min_change: float
    before: float | None
    after: float | None
    change: float | None
    relative: float | None
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class GateResult:
    """The deploy's verdict, why, and each metric's figures."""

    verdict: Verdict
    reason: str
    metrics: list[MetricVerdict]
    window: timedelta
    deployed_at: datetime

    def detail(self) -> dict[str, Any]:
        """The result as stored in ``deploys.gate_detail`` (JSON)."""
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "window_seconds": int(self.window.total_seconds()),
            "before": [
                (self.deployed_at - self.window).isoformat(),
                self.deployed_at.isoformat(),
            ],
            "after": [
                self.deployed_at.isoformat(),
                (self.deployed_at + self.window).isoformat(),
            ],
            "metrics": [asdict(m) for m in self.metrics],
        }


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def judge_metric(
    metric: GateMetric, before: Sequence[float], after: Sequence[float]
) -> MetricVerdict:
    """Judge one metric from its values in the window before and after the deploy (NaN and
    infinite values are left out)."""
    b, a = _mean(before), _mean(after)

    def verdict(
        v: Verdict, reason: str, change: float | None = None, relative: float | None = None
    ) -> MetricVerdict:
        return MetricVerdict(
            metric.name,
            metric.expr,
            metric.worse,
            metric.threshold,
            metric.min_change,
            b,
            a,
            change,
            relative,
            v,
            reason,
        )

    if b is None and a is None:
        return verdict("skipped", "no data before nor after the deploy")
    if b is None:
        return verdict("skipped", "no data before the deploy")
    if a is None:
        return verdict("skipped", "no data after the deploy")
    change = a - b
    relative = change / abs(b) if b != 0 else None
    worse_by = change if metric.worse == "higher" else -change
    direction = "rose" if change > 0 else "fell"
    if worse_by <= 0:
        return verdict("healthy", "unchanged or better", change, relative)
    if abs(change) < metric.min_change:
        return verdict(
            "healthy",
            f"{direction} by {abs(change):g}, less than min_change {metric.min_change:g}",
            change,
            relative,
        )
    if relative is not None and abs(relative) <= metric.threshold:
        return verdict(
            "healthy",
            f"{direction} by {abs(relative):.1%}, within the threshold {metric.threshold:.0%}",
            change,
            relative,
        )
    by = f"{abs(relative):.1%}" if relative is not None else f"{abs(change):g} (from 0)"
    return verdict(
        "regressed",
        f"{direction} by {by}, beyond the threshold {metric.threshold:.0%}",
        change,
        relative,
    )


def decide(metrics: Sequence[MetricVerdict]) -> tuple[Verdict, str]:
    """The deploy's verdict from its metrics' (see the module docstring), with the reason."""
    if not metrics:
        return "skipped", "the release gate names no metrics"
    regressed = [m.name for m in metrics if m.verdict == "regressed"]
    if regressed:
        return "regressed", f"regressed: {', '.join(regressed)}"
    judged = [m for m in metrics if m.verdict == "healthy"]
    if not judged:
        return "skipped", "no metric could be judged (" + "; ".join(
            f"{m.name}: {m.reason}" for m in metrics
        ) + ")"
    skipped = [m.name for m in metrics if m.verdict == "skipped"]
    if skipped:
        return "healthy", f"no metric regressed (not judged: {', '.join(skipped)})"
    return "healthy", "no metric regressed"


def window_values(engine: Engine, expr: str, start: datetime, end: datetime) -> list[float]:
    """Every value ``expr`` takes in ``[start, end)``, evaluated at even steps (all series
    together: write the expression so that it returns one, with sum/avg/max)."""
    span = end - start
    step = max(MIN_STEP, span / POINTS)
    step_ms = int(step.total_seconds() * 1000)
    start_ms = int(start.timestamp() * 1000)
    last_ms = int(end.timestamp() * 1000) - step_ms
    if last_ms < start_ms:
        last_ms = start_ms
    result = engine.range(expr, start_ms, last_ms, step_ms)
    if isinstance(result, Matrix):
        return [float(v) for s in result.series for v in s.values]
    if isinstance(result, Vector):
        return [s.value for s in result.samples]
    if isinstance(result, Scalar):
        return [result.value]
    return []


def evaluate(source: SeriesSource, gate: ReleaseGate, deployed_at: datetime) -> GateResult:
    """Judge a deploy at ``deployed_at`` by ``gate``'s metrics (once the window after it has
    passed). A metric whose expression fails is skipped with the error."""
    engine = Engine(source)
    judged = []
    for metric in gate.metrics:
        try:
            before = window_values(engine, metric.expr, deployed_at - gate.window, deployed_at)
            after = window_values(engine, metric.expr, deployed_at, deployed_at + gate.window)
        except (PromQLError, EvaluationError) as exc:
            judged.append(
                MetricVerdict(
                    metric.name,
                    metric.expr,
                    metric.worse,
                    metric.threshold,
                    metric.min_change,
                    None,
                    None,
                    None,
                    None,
                    "skipped",
                    f"the expression fails: {exc}",
                )
            )
            continue
        judged.append(judge_metric(metric, before, after))
    verdict, reason = decide(judged)
    return GateResult(verdict, reason, judged, gate.window, deployed_at)
