"""The plan's ``capacity`` section: how much history the forecasts fit and how far they look,
the limits of the hosts' resources (defaults, and overrides per host glob), the named
metrics to forecast (``targets``), and when a forecast becomes a ``CapacityForecast`` alert.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from watchkeeper.alerts.config import _check_promql as check_promql
from watchkeeper.alerts.matchers import LabelName
from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Duration, Size

Resource = Literal["cpu", "memory", "disk", "network"]
RESOURCES: tuple[Resource, ...] = ("cpu", "memory", "disk", "network")
Severity = Literal["critical", "warning", "info"]
Direction = Literal["up", "down"]
WINDOW = "$window"
WINDOW_VALUE = "2h"
"""What ``$window`` in a target's expression becomes: the forecasts read one sample per
hour, so a range (``rate(x[$window])``) needs at least two of them."""


def expand(expr: str) -> str:
    """``expr`` with ``$window`` replaced by the range the hourly history needs."""
    return expr.replace(WINDOW, WINDOW_VALUE)


def _check_expanded(value: Any) -> Any:
    if isinstance(value, str):
        check_promql(expand(value))
    return value


PromQL = Annotated[str, AfterValidator(_check_expanded)]
"""A PromQL expression; ``$window`` stands for a range the hourly history can rate over."""
Fraction = Annotated[float, Field(gt=0, le=1)]
MAX_HISTORY = timedelta(days=400)  # hourly steps: within a range query's 11,000 points
MAX_HORIZON = timedelta(days=730)


class HostOverride(PlanModel):
    """Limits for the hosts matching ``hosts``; what it leaves out comes from the defaults
    (and from earlier overrides that match too: a later one wins)."""

    hosts: list[str] = Field(
        min_length=1, description="Host name globs (`db-*`), any case, as the agent names hosts."
    )
    cpu: Fraction | None = Field(None, description="Busy CPU share limit (0.8 = 80%).")
    memory: Fraction | None = Field(None, description="Used memory share limit.")
    disk: Fraction | None = Field(None, description="Used share of each filesystem's size.")
    network: Size | None = Field(
        None,
        description="Bytes per second each direction (received, sent) may carry, e.g. "
        "`125MB` for 1 Gbit/s.",
    )
    ignore: list[Resource] = Field(
        default_factory=list, description="Resources not forecast on these hosts."
    )
    alert_within: Duration | None = Field(
        None, description="Alert when a limit is reached within this (default: the section's)."
    )
    labels: dict[LabelName, str] = Field(
        default_factory=dict, description="Labels added to these hosts' alerts (`team`)."
    )


class HostDefaults(PlanModel):
    """Limits of every host that reports through the agent (``node_*`` series). A resource
    whose limit is null is not forecast."""

    cpu: Fraction | None = Field(0.8, description="Busy CPU share limit (0.8 = 80%).")
    memory: Fraction | None = Field(
        0.9, description="Used memory share limit (1 − MemAvailable / MemTotal)."
    )
    disk: Fraction | None = Field(
        0.9, description="Used share of each filesystem's size (what only root may use counts)."
    )
    network: Size | None = Field(
        None,
        description="Bytes per second each direction may carry; unset: network is forecast "
        "only on hosts an override gives a limit.",
    )
    exclude: list[str] = Field(default_factory=list, description="Host name globs never forecast.")
    overrides: list[HostOverride] = Field(
        default_factory=list, description="Other limits for some hosts (by glob)."
    )


class CapacityTarget(PlanObject):
    """A metric to forecast: one forecast per series its expression returns."""

    expr: PromQL = Field(
        description="PromQL giving the value to forecast, evaluated once an hour over the "
        "history; write ranges as `$window` (`sum(rate(requests_total[$window]))`)."
    )
    limit: float | None = Field(None, description="The limit, a number.")
    limit_expr: PromQL | None = Field(
        None,
        description="PromQL giving the limit now: one value for every series, or one per "
        "series with the same labels.",
    )
    direction: Direction = Field(
        "up", description="`up`: the limit is reached from below; `down`: from above."
    )
    unit: str = Field(
        "",
        max_length=16,
        description="Unit for display: `bytes`, `bytes/s`, `ratio` (shown as %), `percent`, "
        "or any short text.",
    )
    alert_within: Duration | None = Field(
        None, description="Alert when the limit is reached within this (default: the section's)."
    )
    severity: Severity | None = Field(
        None, description="Severity of its alerts (default: the section's)."
    )
    labels: dict[LabelName, str] = Field(
        default_factory=dict, description="Labels added to its alerts (`team`)."
    )

    @model_validator(mode="after")
    def _one_limit(self) -> CapacityTarget:
        if (self.limit is None) == (self.limit_expr is None):
            raise ValueError("give exactly one of `limit` or `limit_expr`")
        return self


class CapacitySection(PlanModel):
    """Capacity planning: when hosts, databases and named metrics reach their limits."""

    history: Duration = Field(
        timedelta(days=30),
        ge=timedelta(days=1),
        le=MAX_HISTORY,
        description="History each forecast is fitted on, 1d to 400d (one value per hour, "
        "from the metrics' hourly rollups).",
    )
    horizon: Duration = Field(
        timedelta(days=90),
        gt=timedelta(0),
        le=MAX_HORIZON,
        description="How far ahead forecasts look (at most 730d).",
    )
    refresh: Duration = Field(
        timedelta(minutes=15),
        ge=timedelta(minutes=1),
        description="How often forecasts are redone (at least 1m).",
    )
    min_history: Duration = Field(
        timedelta(days=1),
        description="A series with less history than this is listed but not forecast.",
    )
    alert_within: Duration = Field(
        timedelta(days=14),
        description="Raise `CapacityForecast` when a limit is reached within this (`0s`: no "
        "alerts).",
    )
    severity: Severity = Field("warning", description="Severity of `CapacityForecast` alerts.")
    hosts: HostDefaults = Field(
        default_factory=HostDefaults, description="Limits of the hosts' CPU, memory, disk, network."
    )
    databases: bool = Field(
        True,
        description="Include the `databases` section's forecasts (size against `size_budget`, "
        "the filesystem of `disk`).",
    )
    targets: list[CapacityTarget] = Field(
        default_factory=list, description="Named metrics to forecast."
    )

    @model_validator(mode="after")
    def _spans(self) -> CapacitySection:
        if self.min_history > self.history:
            raise ValueError("`min_history` must not be longer than `history`")
        return self
