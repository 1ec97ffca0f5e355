"""Alerts, shaped like Alertmanager's API (camelCase): labels, annotations, state, value,
who mutes them; one alert with its history; counts per rule or severity."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from watchkeeper.alerts import ack, views
from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError

router = APIRouter(prefix="/api/v1", tags=["alerts"])
Viewer = Annotated[SessionInfo, require("viewer")]
Responder = Annotated[SessionInfo, require("responder")]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The alert's id.")]


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class AlertStatus(_Camel):
    """As in Alertmanager: ``suppressed`` while silenced, inhibited or in maintenance."""

    state: Literal["active", "suppressed", "resolved"]
    silenced_by: list[str]
    inhibited_by: list[str]
    muted_by: list[str]


class AlertOut(_Camel):
    id: int
    fingerprint: str
    rule: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    severity: str
    state: str = Field(description="pending, firing or resolved.")
    value: float | None
    active_at: datetime = Field(description="When the condition first held.")
    starts_at: datetime = Field(description="When it fired (when it became pending if not).")
    ends_at: datetime | None = Field(description="When it resolved.")
    last_true_at: datetime
    updated_at: datetime
    muted: str = Field(description='"", "silenced", "inhibited" or "maintenance".')
    acknowledged_at: datetime | None = Field(None, description="When it was acknowledged.")
    acknowledged_by: str = Field("", description="Who acknowledged it.")
    silenced_by: list[str] = Field(description="Ids of the silences muting it.")
    inhibited_by: list[str] = Field(description="What inhibits it.")
    muted_by: list[str] = Field(description="Maintenance windows muting it.")
    status: AlertStatus
    url: str = Field(description="The alert's page.")
    silence_url: str = Field(description="A new-silence form prefilled with its labels.")


class AlertEventOut(_Camel):
    at: datetime
    event: str
    value: float | None
    detail: str


class AlertDetailOut(AlertOut):
    runbook_url: str
    runbook: str = Field(description="Inline runbook (Markdown) of the rule.")
    history: list[AlertEventOut] = Field(description="State changes, newest first.")


class AlertListOut(_Camel):
    total: int
    page: int
    counts: dict[str, int] = Field(
        description="Alerts per state/muting: firing, pending, silenced, inhibited, "
        "maintenance, resolved."
    )
    alerts: list[AlertOut]


class GroupOut(_Camel):
    key: str
    firing: int
    pending: int
    muted: int


def _by(row: views.AlertRow, reason: str) -> list[str]:
    return row.muted_by if row.muted == reason else []


def _fields(row: views.AlertRow) -> dict[str, object]:
    state = "resolved" if row.state == "resolved" else "suppressed" if row.muted else "active"
    silenced, inhibited, maintenance = (
        _by(row, "silenced"),
        _by(row, "inhibited"),
        _by(row, "maintenance"),
    )
    return {
        "id": row.id,
        "fingerprint": row.fingerprint,
        "rule": row.rule,
        "name": row.name,
        "labels": row.labels,
        "annotations": row.annotations,
        "severity": row.severity,
        "state": row.state,
        "value": row.value,
        "active_at": row.active_at,
        "starts_at": row.fired_at or row.active_at,
        "ends_at": row.resolved_at,
        "last_true_at": row.last_true_at,
        "updated_at": row.updated_at,
        "muted": row.muted,
        "silenced_by": silenced,
        "inhibited_by": inhibited,
        "muted_by": maintenance,
        "status": AlertStatus(
            state=state, silenced_by=silenced, inhibited_by=inhibited, muted_by=maintenance
        ),
        "acknowledged_at": row.acknowledged_at,
        "acknowledged_by": row.acknowledged_by,
        "url": f"/alerts/{row.id}",
        "silence_url": row.silence_path,
    }


def alert_out(row: views.AlertRow) -> AlertOut:
    return AlertOut.model_validate(_fields(row))


@router.get(
    "/alerts",
    response_model=AlertListOut,
    summary="Alerts: active ones by default, filtered by state, muting, severity and rule",
)
def list_alerts(
    db: Db,
    _: Viewer,
    state: Annotated[
        views.StateFilter,
        Query(description="active (pending or firing), pending, firing, resolved or all."),
    ] = "active",
    muted: Annotated[
        views.MutedFilter,
        Query(description="none, any, silenced, inhibited or maintenance (default: either)."),
    ] = "",
    severity: str = "",
    rule: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertListOut:
    result = views.list_alerts(
        db,
        state=state,
        muted=muted,
        severity=severity,
        rule=rule,
        page=page,
        per_page=per_page,
    )
    return AlertListOut(
        total=result.total,
        page=page,
        counts=result.counts,
        alerts=[alert_out(r) for r in result.rows],
    )


@router.get(
    "/alerts/groups",
    response_model=list[GroupOut],
    summary="Active alerts counted per rule or per severity",
)
def alert_groups(db: Db, _: Viewer, by: Literal["rule", "severity"] = "rule") -> list[GroupOut]:
    return [
        GroupOut(key=g.key, firing=g.firing, pending=g.pending, muted=g.muted)
        for g in views.summaries(db, by)
    ]


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertDetailOut,
    summary="One alert with its history and its rule's runbook",
)
def get_alert(alert_id: AlertId, db: Db, _: Viewer) -> AlertDetailOut:
    detail = views.get_alert(db, alert_id)
    if detail is None:
        raise NotFoundError(f"no alert {alert_id}")
    return AlertDetailOut.model_validate(
        {
            **_fields(detail.alert),
            "runbook_url": detail.runbook_url,
            "runbook": detail.runbook,
            "history": [
                AlertEventOut(at=e.at, event=e.event, value=e.value, detail=e.detail)
                for e in detail.events
            ],
        }
    )


@router.post(
    "/alerts/{alert_id}/ack",
    response_model=AlertOut,
    summary="Acknowledge a firing alert: its group is no longer re-sent every repeat_interval",
)
def acknowledge_alert(alert_id: AlertId, request: Request, db: Db, user: Responder) -> AlertOut:
    ack.acknowledge(db, request_actor(request, user), alert_id)
    db.commit()
    row = views.get_alert(db, alert_id)
    assert row is not None
    return alert_out(row.alert)
