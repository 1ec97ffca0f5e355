"""Forecasts of the plan's named metrics (``capacity.targets``): one per series the target's
expression gives, against its ``limit`` or the value its ``limit_expr`` gives now (one value
for every series, or the one with the same labels).

An expression that fails (a function given the wrong data, too many samples) or a limit
that cannot be found becomes an item with status ``error`` and the reason, so the report
shows it instead of leaving the target out.
"""

from __future__ import annotations

import math
from dataclasses import replace

from watchkeeper.metrics.promql.errors import EvaluationError, PromQLError
from watchkeeper.releases.capacity.config import CapacitySection, CapacityTarget, expand
from watchkeeper.releases.capacity.items import Item, ItemStatus, judged
from watchkeeper.releases.capacity.projection import project
from watchkeeper.releases.capacity.window import Series, Window

HOST_LABELS = ("instance", "host")
"""Labels that name the host a target's series is about (first found wins)."""


def series_name(labels: dict[str, str]) -> str:
    """``{a="1", b="2"}`` for a series' labels; "" for none."""
    if not labels:
        return ""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _base(section: CapacitySection, target: CapacityTarget, labels: dict[str, str]) -> Item:
    host = next((labels[k] for k in HOST_LABELS if labels.get(k)), "")
    subject = series_name(labels)
    alert = {**target.labels, "target": target.name}
    if host:
        alert["host"] = host
    if subject:
        alert["series"] = subject
    return Item(
        kind="target",
        host=host,
        resource=target.name,
        subject=subject,
        unit=target.unit,
        alert_within=target.alert_within
        if target.alert_within is not None
        else section.alert_within,
        severity=target.severity or section.severity,
        labels=alert,
        direction=target.direction,
    )


def _limits(window: Window, target: CapacityTarget) -> list[tuple[dict[str, str], float]]:
    if target.limit is not None:
        return [({}, target.limit)]
    assert target.limit_expr is not None  # the plan gives one of them
    return window.instant(expand(target.limit_expr))


def _limit_of(series: Series, limits: list[tuple[dict[str, str], float]]) -> float | None:
    for labels, value in limits:
        if labels == series.labels:
            return value
    return limits[0][1] if len(limits) == 1 else None


def target_items(window: Window, section: CapacitySection) -> list[Item]:
    """Every target series' forecast (see the module docstring)."""
    out: list[Item] = []
    for target in section.targets:
        try:
            found = window.range(expand(target.expr))
            limits = _limits(window, target)
        except (PromQLError, EvaluationError) as exc:
            out.append(_failed(section, target, f"cannot be evaluated: {exc}"))
            continue
        except (ArithmeticError, MemoryError, RecursionError) as exc:  # as the query API
            out.append(_failed(section, target, f"cannot be evaluated: {type(exc).__name__}"))
            continue
        if not found:
            out.append(_failed(section, target, "the expression gives no data", "insufficient"))
            continue
        for series in found:
            base = _base(section, target, series.labels)
            limit = _limit_of(series, limits)
            if limit is not None and not math.isfinite(limit):
                out.append(_with(base, "error", f"the limit is not a number ({limit})", series))
                continue
            if limit is None:
                why = (
                    "`limit_expr` gives no value now"
                    if not limits
                    else "`limit_expr` gives no value with the same labels"
                )
                out.append(_with(base, "error", why, series))
                continue
            projection = project(
                series.ts,
                series.values,
                limit=limit,
                direction=target.direction,
                now=window.now,
                horizon=section.horizon,
            )
            out.append(
                judged(
                    base,
                    projection,
                    now=window.now,
                    min_history=section.min_history,
                    span=series.span,
                )
            )
    return out


def _failed(
    section: CapacitySection, target: CapacityTarget, why: str, status: ItemStatus = "error"
) -> Item:
    return _with(_base(section, target, {}), status, why, None)


def _with(base: Item, status: ItemStatus, why: str, series: Series | None) -> Item:
    current = float(series.values[-1]) if series is not None and len(series.values) else None
    return replace(base, status=status, detail=why, current=current)
