"""Alert rule semantics, as in Prometheus: pending, firing, resolved, ``for`` and
``keep_firing_for``.

:func:`step` is pure: given a rule, its active alerts and what the condition returned at one
evaluation, it returns the new active alerts and the transitions. The evaluator persists
them; ``watchkeeper rules test`` runs the same function over series held in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from watchkeeper.alerts.config import AlertRule
from watchkeeper.alerts.templating import render, rule_variables
from watchkeeper.metrics.labels import METRIC_NAME, fingerprint, make_labels
from watchkeeper.metrics.promql.engine import Engine
from watchkeeper.metrics.promql.errors import EvaluationError
from watchkeeper.metrics.promql.values import Scalar, Vector

State = Literal["pending", "firing"]
Event = Literal["pending", "firing", "resolved", "inactive"]


@dataclass(frozen=True)
class Active:
    """An alert that is pending or firing."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: State
    value: float | None
    active_at: datetime
    last_true_at: datetime
    fired_at: datetime | None = None
    keep_firing_since: datetime | None = None


@dataclass(frozen=True)
class Transition:
    """An alert entered a state: ``inactive`` means a pending alert went away unfired."""

    alert: Active
    event: Event
    at: datetime


def alert_fingerprint(labels: Mapping[str, str]) -> str:
    return fingerprint(make_labels(labels))


def alert_labels(
    rule: AlertRule, sample: Mapping[str, str], value: float | None, external_url: str = ""
) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations of ``rule``'s alert for one result (templates rendered)."""
    base = {k: v for k, v in sample.items() if k != METRIC_NAME}
    variables = rule_variables(base, value, external_url)
    labels = dict(base)
    for key, template in rule.labels.items():
        labels[key] = render(template, variables)
    labels.setdefault("severity", rule.severity)
    labels["alertname"] = rule.name
    variables = rule_variables(labels, value, external_url)
    annotations = {k: render(t, variables) for k, t in rule.annotations.items()}
    return {k: v for k, v in labels.items() if v != ""}, annotations


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def step(
    rule: AlertRule,
    active: Mapping[str, Active],
    results: Iterable[tuple[Mapping[str, str], float | None]],
    now: datetime,
    external_url: str = "",
) -> tuple[dict[str, Active], list[Transition]]:
    """Evaluate ``rule`` once: ``results`` are the (labels, value) pairs for which its
    condition holds at ``now``. Return the alerts still active and the transitions."""
    hold = rule.for_
    keep = rule.keep_firing_for
    out: dict[str, Active] = {}
    transitions: list[Transition] = []
    for sample, value in results:
        labels, annotations = alert_labels(rule, sample, value, external_url)
        fp = alert_fingerprint(labels)
        if fp in out:  # two results with the same labels after templating
            continue
        old = active.get(fp)
        if old is None:
            alert = Active(fp, labels, annotations, "pending", _clean(value), now, now)
            transitions.append(Transition(alert, "pending", now))
        else:
            alert = replace(
                old,
                labels=labels,
                annotations=annotations,
                value=_clean(value),
                last_true_at=now,
                keep_firing_since=None,
            )
        out[fp] = alert
    for fp, old in active.items():
        if fp in out:
            continue
        if old.state == "pending":
            transitions.append(Transition(old, "inactive", now))
            continue
        since = old.keep_firing_since or now
        if keep > timedelta(0) and now - since < keep:
            out[fp] = replace(old, keep_firing_since=since)
            continue
        transitions.append(Transition(old, "resolved", now))
    for fp, alert in list(out.items()):
        if alert.state == "pending" and now - alert.active_at >= hold:
            fired = replace(alert, state="firing", fired_at=now)
            out[fp] = fired
            transitions.append(Transition(fired, "firing", now))
    return out, transitions


def query_results(
    engine: Engine, expr: str, at_ms: int
) -> list[tuple[Mapping[str, str], float | None]]:
    """Evaluate a PromQL rule's expression at ``at_ms``: one (labels, value) per sample.

    Raise PromQLError / EvaluationError as the engine does; a range vector or a string is
    an EvaluationError (a rule must return an instant vector or a scalar)."""
    result = engine.instant(expr, at_ms)
    if isinstance(result, Vector):
        return [(dict(s.labels), s.value) for s in result.samples]
    if isinstance(result, Scalar):
        return [({}, result.value)]
    raise EvaluationError("an alert rule must return an instant vector or a scalar")
