"""The plan's ``alerts`` section: rules, the routing tree, inhibition and maintenance windows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from watchkeeper.alerts.matchers import LabelMatcher, LabelName
from watchkeeper.alerts.templating import Template, go_float
from watchkeeper.errors.alerting import ErrorAlertCondition
from watchkeeper.logs.query.parser import parse_metric
from watchkeeper.logs.selector import QuerySyntaxError
from watchkeeper.metrics.promql import ast
from watchkeeper.metrics.promql.errors import PromQLError
from watchkeeper.metrics.promql.parser import parse
from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Cron, Duration, TimeZone

Severity = Literal["critical", "warning", "info"]
RULE_KINDS = ("expr", "check", "heartbeat", "absent", "forecast", "logs", "errors")
INTERVAL_KINDS = ("expr", "absent", "forecast", "logs", "errors")  # evaluated on their interval


def _check_promql(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parse(value)
        except PromQLError as exc:
            raise PydanticCustomError(
                "promql", "not valid PromQL: {reason}", {"reason": str(exc)}
            ) from None
    return value


PromQL = Annotated[str, AfterValidator(_check_promql)]


def _check_log_metric(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parse_metric(value)
        except QuerySyntaxError as exc:
            raise PydanticCustomError(
                "log_query", "not a valid log metric query: {reason}", {"reason": str(exc)}
            ) from None
    return value


LogMetricQuery = Annotated[str, AfterValidator(_check_log_metric)]


class Forecast(PlanModel):
    """Fire when a series is predicted to cross a threshold (``predict_linear``)."""

    metric: PromQL = Field(description="PromQL expression to extrapolate.")
    within: Duration = Field(description="How far ahead to look (`7d`: full within 7 days).")
    below: float | None = Field(None, description="Fire when predicted to fall below this.")
    above: float | None = Field(None, description="Fire when predicted to rise above this.")
    range: Duration = Field(
        timedelta(hours=6), description="Trend window the prediction is fitted on."
    )

    @model_validator(mode="after")
    def _one_threshold(self) -> Forecast:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of `below` or `above`")
        return self

    def promql(self) -> str:
        seconds = int(self.within.total_seconds())
        window = f"{int(self.range.total_seconds())}s"
        expr = parse(self.metric)
        series = (
            f"{self.metric}[{window}]"
            if isinstance(expr, ast.VectorSelector)
            else f"({self.metric})[{window}:1m]"
        )
        op, threshold = ("<", self.below) if self.below is not None else (">", self.above)
        return f"predict_linear({series}, {seconds}) {op} {go_float(float(threshold or 0))}"


class AlertRule(PlanObject):
    """An alert rule. Give exactly one of `expr`, `check`, `heartbeat`, `absent`,
    `forecast`, `logs` or `errors`; the rule's name is the alert's `alertname` label."""

    expr: PromQL | None = Field(
        None, description="PromQL: one alert per series the expression returns."
    )
    check: str | None = Field(
        None,
        description="Name of a check (or a pattern such as `api-*` or `*`): one alert per "
        "matching check in the state given by `when`.",
    )
    when: Literal["down", "latency", "tls_expiry"] = Field(
        "down",
        description="For `check` rules: `down`; `latency` (last response slower than "
        "`latency_above`); `tls_expiry` (certificate expires within `tls_expires_within`).",
    )
    latency_above: Duration | None = Field(None, description="Threshold of `when: latency`.")
    tls_expires_within: Duration | None = Field(
        None, description="Threshold of `when: tls_expiry`."
    )
    heartbeat: str | None = Field(
        None, description="Name of a heartbeat check: fires when its ping is late."
    )
    absent: PromQL | None = Field(
        None, description="Fires when this selector returns no data (`absent()`)."
    )
    forecast: Forecast | None = Field(None, description="Fires on a predicted threshold.")
    logs: LogMetricQuery | None = Field(
        None,
        description="A metric query over the logs: one alert per series it returns, e.g. "
        '`sum by (app) (count_over_time({level="error"}[5m])) > 10`, or '
        '`absent_over_time({app="backup"} |= "backup done" [25h])` for an expected line '
        "that did not come.",
    )
    errors: ErrorAlertCondition | None = Field(
        None,
        description="Error issues: `{when: new_issue}`, `{when: regression}` or `{when: rate, "
        "threshold: 100, window: 5m, per: issue}` (optionally for one `project`): one alert "
        "per issue (or project) in that state.",
    )
    for_: Duration = Field(
        timedelta(0),
        alias="for",
        description="The condition must hold this long before the alert fires (pending).",
    )
    keep_firing_for: Duration = Field(
        timedelta(0),
        description="Keep firing this long after the condition stops holding (flap protection).",
    )
    interval: Duration | None = Field(
        None,
        description="Evaluation interval of PromQL and log rules (default: "
        "`alerts.evaluation_interval`). Check rules fire on the state change.",
    )
    severity: Severity = Field("warning", description="`critical`, `warning` or `info`.")
    labels: dict[LabelName, Template] = Field(
        default_factory=dict, description="Labels added to the alert (templates allowed)."
    )
    annotations: dict[str, Template] = Field(
        default_factory=dict,
        description="Annotations such as `summary` and `description` (templates allowed: "
        "`{{ $labels.instance }}`, `{{ $value | humanize }}`).",
    )
    runbook_url: str | None = Field(None, description="Link to the runbook.")
    runbook: str | None = Field(
        None,
        description="A runbook's slug (`db-failover`: links to /runbooks/db-failover), or an "
        "inline runbook in Markdown.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> AlertRule:
        given = [k for k in RULE_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `expr`, `check`, `heartbeat`, `absent`, `forecast`, "
                "`logs` or `errors`" + (f" (found {', '.join(given)})" if given else "")
            )
        if self.when == "latency" and self.latency_above is None:
            raise ValueError("`when: latency` needs `latency_above`")
        if self.when == "tls_expiry" and self.tls_expires_within is None:
            raise ValueError("`when: tls_expiry` needs `tls_expires_within`")
        if self.when != "down" and self.check is None:
            raise ValueError("`when` applies to `check` rules only")
        if self.interval is not None and self.interval < timedelta(seconds=1):
            raise ValueError("`interval` must be at least 1s")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in RULE_KINDS if getattr(self, k) is not None)

    @property
    def is_promql(self) -> bool:
        return self.kind in ("expr", "absent", "forecast")

    @property
    def on_interval(self) -> bool:
        """PromQL and log rules run on their interval; check rules follow check states."""
        return self.kind in INTERVAL_KINDS

    def condition(self) -> str:
        """The query an interval rule evaluates (PromQL, a log metric query, or an error
        condition as JSON)."""
        if self.errors is not None:
            return self.errors.model_dump_json()
        return self.logs if self.logs is not None else self.promql()

    def promql(self) -> str:
        """The PromQL expression of an `expr`, `absent` or `forecast` rule."""
        if self.expr is not None:
            return self.expr
        if self.absent is not None:
            return f"absent({self.absent})"
        assert self.forecast is not None
        return self.forecast.promql()


class Route(PlanModel):
    """A node of the routing tree (Alertmanager's semantics). Unset fields inherit from the
    parent node."""

    receiver: list[str] | None = Field(
        None, description="Channel name(s) to notify (from `notifications.channels`)."
    )
    matchers: list[LabelMatcher] = Field(
        default_factory=list,
        description='Label matchers an alert must match: `severity="critical"`, '
        '`team=~"db|ops"`, `env!="staging"`.',
    )
    group_by: list[LabelName] | None = Field(
        None,
        description="Labels that split alerts into groups (one notification per group); "
        "`['...']` groups by all labels. Default: `alertname`.",
    )
    group_wait: Duration | None = Field(
        None,
        description="Wait this long after a group's first alert before notifying, to "
        "collect others. Default: 0s for critical alerts (page at once), 30s otherwise.",
    )
    group_interval: Duration | None = Field(
        None, description="Wait between notifications about changes in a group (5m)."
    )
    repeat_interval: Duration | None = Field(
        None, description="Re-send a still-firing group after this long (4h)."
    )
    continue_: bool = Field(
        False, alias="continue", description="Keep matching sibling routes after this one."
    )
    routes: list[Route] = Field(default_factory=list, description="Child routes.")

    @model_validator(mode="before")
    @classmethod
    def _receiver_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("receiver"), str):
            data["receiver"] = [data["receiver"]]
        return data


class InhibitRule(PlanModel):
    """Mute alerts (targets) while another alert (the source) fires: a host down mutes its
    services' alerts."""

    source_matchers: list[LabelMatcher] = Field(
        min_length=1, description="Matchers of the muting (source) alert."
    )
    target_matchers: list[LabelMatcher] = Field(
        min_length=1, description="Matchers of the muted (target) alerts."
    )
    equal: list[LabelName] = Field(
        default_factory=list, description="Labels that must be equal in source and target."
    )


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def _check_clock(value: Any) -> Any:
    if isinstance(value, str) and not _CLOCK.match(value):
        raise PydanticCustomError(
            "clock", '"{value}" is not a time of day (HH:MM)', {"value": value}
        )
    return value


Clock = Annotated[str, AfterValidator(_check_clock)]


class WeeklyRange(PlanModel):
    """Days of the week and a time range (in the window's time zone)."""

    days: list[Day] = Field(
        default_factory=lambda: list(_DAYS), description="Days: mon, tue, ... (default: all)."
    )
    start: Clock = Field(description="Start time, HH:MM.")
    end: Clock = Field(
        description="End time, HH:MM (`24:00` for midnight; before `start` runs past midnight)."
    )


class MaintenanceWindow(PlanObject):
    """A recurring period during which matching alerts are muted (still recorded)."""

    matchers: list[LabelMatcher] = Field(
        default_factory=list,
        description='Alerts this window mutes (e.g. `team="db"`, `host=~"db-.*"`); '
        "empty mutes all.",
    )
    timezone: TimeZone = Field("UTC", description="Time zone of `cron` and `weekly`.")
    cron: Cron | None = Field(None, description="Start times, as a cron expression.")
    duration: Duration | None = Field(None, description="Length of each `cron` window.")
    weekly: list[WeeklyRange] = Field(default_factory=list, description="Weekly time ranges.")

    @model_validator(mode="after")
    def _schedule(self) -> MaintenanceWindow:
        if (self.cron is None) == (not self.weekly):
            raise ValueError("give either `cron` with `duration`, or `weekly`")
        if self.cron is not None and (self.duration is None or self.duration <= timedelta(0)):
            raise ValueError("`cron` needs a positive `duration`")
        return self


class AlertsSection(PlanModel):
    """Alert rules, routing, inhibition and maintenance windows."""

    evaluation_interval: Duration = Field(
        timedelta(seconds=15), description="Default evaluation interval of PromQL rules."
    )
    rules: list[AlertRule] = Field(default_factory=list, description="Alert rules.")
    route: Route | None = Field(
        None,
        description="The routing tree's root: it matches every alert and names the "
        "default receiver.",
    )
    inhibit_rules: list[InhibitRule] = Field(default_factory=list, description="Inhibition rules.")
    maintenance_windows: list[MaintenanceWindow] = Field(
        default_factory=list, description="Recurring maintenance windows."
    )
    history: Duration = Field(
        timedelta(days=90), description="Keep resolved alerts and their history this long."
    )
