"""Read models of alerts for the UI and API: lists by state and muting with counts, one alert
with its history, and summaries grouped by rule or severity."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from watchkeeper.alerts.silences import new_silence_path
from watchkeeper.store.tables import Alert, AlertEvent, StoredObject

RULES_KIND = "alerts.rules"
Tab = Literal["firing", "pending", "silenced", "inhibited", "maintenance", "resolved"]
TABS: tuple[Tab, ...] = ("firing", "pending", "silenced", "inhibited", "maintenance", "resolved")
StateFilter = Literal["active", "pending", "firing", "resolved", "all"]
MutedFilter = Literal["", "none", "any", "silenced", "inhibited", "maintenance"]
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class AlertRow:
    id: int
    rule: str
    name: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    severity: str
    state: str
    value: float | None
    active_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    last_true_at: datetime
    updated_at: datetime
    muted: str
    muted_by: list[str]
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""

    @property
    def since(self) -> datetime:
        """When the alert entered its current state."""
        if self.state == "resolved" and self.resolved_at:
            return self.resolved_at
        return self.fired_at if self.state == "firing" and self.fired_at else self.active_at

    @property
    def tab(self) -> Tab:
        if self.state == "resolved":
            return "resolved"
        if self.muted in ("silenced", "inhibited", "maintenance"):
            return self.muted  # type: ignore[return-value]
        return "firing" if self.state == "firing" else "pending"

    @property
    def silence_path(self) -> str:
        """The new-silence form for this alert's labels; not severity, so that the silence
        holds when the severity changes (as in the notifications' links)."""
        return new_silence_path({k: v for k, v in self.labels.items() if k != "severity"})

    @property
    def chips(self) -> list[tuple[str, str]]:
        """Labels worth showing beside the name (not the name and severity again)."""
        return sorted((k, v) for k, v in self.labels.items() if k not in ("alertname", "severity"))


@dataclass(frozen=True)
class AlertPage:
    rows: list[AlertRow]
    total: int
    counts: dict[str, int]
    """Alerts per tab (firing, pending, silenced, inhibited, maintenance, resolved)."""
    rules: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EventRow:
    at: datetime
    event: str
    value: float | None
    detail: str


@dataclass(frozen=True)
class AlertDetail:
    alert: AlertRow
    events: list[EventRow]
    runbook_url: str
    runbook: str
    rule_declared: bool
    """False when no plan object of that name exists (removed, or an internal rule)."""
    occurrences: list[AlertRow]
    """Other alerts of the same rule and labels, newest first."""


@dataclass(frozen=True)
class GroupSummary:
    key: str
    firing: int
    pending: int
    muted: int

    @property
    def total(self) -> int:
        return self.firing + self.pending + self.muted


def _row(a: Alert) -> AlertRow:
    labels = dict(a.labels or {})
    return AlertRow(
        id=a.id,
        rule=a.rule,
        name=labels.get("alertname", a.rule),
        fingerprint=a.fingerprint,
        labels=labels,
        annotations=dict(a.annotations or {}),
        severity=a.severity,
        state=a.state,
        value=a.value,
        active_at=a.active_at,
        fired_at=a.fired_at,
        resolved_at=a.resolved_at,
        last_true_at=a.last_true_at,
        updated_at=a.updated_at,
        muted=a.muted,
        muted_by=list(a.muted_by or []),
        acknowledged_at=a.acknowledged_at,
        acknowledged_by=a.acknowledged_by or "",
    )


def _tab_filter(tab: Tab) -> ColumnElement[bool]:
    if tab == "resolved":
        return Alert.state == "resolved"
    if tab in ("firing", "pending"):
        return and_(Alert.state == tab, Alert.muted == "")
    return and_(Alert.state != "resolved", Alert.muted == tab)


def _state_filter(state: StateFilter) -> ColumnElement[bool] | None:
    if state == "all":
        return None
    if state == "active":
        return Alert.state.in_(("pending", "firing"))
    return Alert.state == state


def _muted_filter(muted: MutedFilter) -> ColumnElement[bool] | None:
    if muted == "":
        return None
    if muted == "none":
        return Alert.muted == ""
    if muted == "any":
        return Alert.muted != ""
    return Alert.muted == muted


def tab_counts(db: Session) -> dict[str, int]:
    """Return the number of alerts in each tab."""
    counts: dict[str, int] = dict.fromkeys(TABS, 0)
    rows = db.execute(
        select(Alert.state, Alert.muted, func.count()).group_by(Alert.state, Alert.muted)
    )
    for state, muted, n in rows:
        if state == "resolved":
            counts["resolved"] += n
        elif muted in ("silenced", "inhibited", "maintenance"):
            counts[muted] += n
        elif state in ("firing", "pending"):
            counts[state] += n
    return counts


def list_alerts(
    db: Session,
    *,
    tab: Tab | None = None,
    state: StateFilter = "active",
    muted: MutedFilter = "",
    severity: str = "",
    rule: str = "",
    page: int = 1,
    per_page: int = 50,
) -> AlertPage:
    """Return one page of alerts: those of ``tab`` when given, else those matching ``state``
    and ``muted``; narrowed by ``severity`` and ``rule``. Active alerts come most severe
    first, then newest; resolved ones most recently resolved first."""
    conditions: list[ColumnElement[bool]] = []
    if tab is not None:
        conditions.append(_tab_filter(tab))
    else:
        conditions += [c for c in (_state_filter(state), _muted_filter(muted)) if c is not None]
    if severity:
        conditions.append(Alert.severity == severity)
    if rule:
        conditions.append(Alert.rule == rule)
    total = db.scalar(select(func.count()).select_from(Alert).where(*conditions)) or 0
    rank = case(SEVERITY_ORDER, value=Alert.severity, else_=len(SEVERITY_ORDER))
    order: list[ColumnElement[Any]]
    if tab == "resolved" or state == "resolved":
        order = [Alert.resolved_at.desc(), Alert.id.desc()]
    else:
        resolved_last = case((Alert.state == "resolved", 1), else_=0)
        order = [resolved_last, rank, Alert.active_at.desc(), Alert.id.desc()]
    query = (
        select(Alert)
        .where(*conditions)
        .order_by(*order)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    rules = list(db.scalars(select(Alert.rule).distinct().order_by(Alert.rule)))
    return AlertPage([_row(a) for a in db.scalars(query)], total, tab_counts(db), rules)


def _rule_spec(db: Session, rule: str) -> dict[str, Any] | None:
    spec = db.scalar(
        select(StoredObject.spec).where(StoredObject.kind == RULES_KIND, StoredObject.name == rule)
    )
    return dict(spec) if spec is not None else None


def get_alert(db: Session, alert_id: int, history: int = 200) -> AlertDetail | None:
    """Return one alert with its newest ``history`` events (newest first) and its rule's
    runbook, or None."""
    alert = db.get(Alert, alert_id)
    if alert is None:
        return None
    events = db.scalars(
        select(AlertEvent)
        .where(AlertEvent.alert_id == alert_id)
        .order_by(AlertEvent.at.desc(), AlertEvent.id.desc())
        .limit(history)
    )
    others = db.scalars(
        select(Alert)
        .where(
            Alert.rule == alert.rule, Alert.fingerprint == alert.fingerprint, Alert.id != alert.id
        )
        .order_by(Alert.active_at.desc())
        .limit(10)
    )
    spec = _rule_spec(db, alert.rule)
    return AlertDetail(
        alert=_row(alert),
        events=[EventRow(e.at, e.event, e.value, e.detail) for e in events],
        runbook_url=str((spec or {}).get("runbook_url") or ""),
        runbook=str((spec or {}).get("runbook") or ""),
        rule_declared=spec is not None,
        occurrences=[_row(a) for a in others],
    )


def summaries(db: Session, by: Literal["rule", "severity"]) -> list[GroupSummary]:
    """Return the active alerts counted per rule or per severity: firing and pending (not
    muted) and muted; the groups with the most firing first."""
    column = Alert.rule if by == "rule" else Alert.severity
    rows = db.execute(
        select(column, Alert.state, Alert.muted, func.count())
        .where(Alert.state.in_(("pending", "firing")))
        .group_by(column, Alert.state, Alert.muted)
    )
    found: dict[str, list[int]] = {}
    for key, state, muted, n in rows:
        counts = found.setdefault(key, [0, 0, 0])
        counts[2 if muted else 0 if state == "firing" else 1] += n
    groups = [GroupSummary(k, *v) for k, v in found.items()]
    if by == "severity":
        return sorted(groups, key=lambda g: (SEVERITY_ORDER.get(g.key, 9), g.key))
    return sorted(groups, key=lambda g: (-g.firing, -g.total, g.key))
