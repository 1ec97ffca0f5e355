"""What the compliance pages, API, CLI and report show: each control that applies with its
latest evaluation, a control's history of status changes, and the share of a period it
spent in each status. Read from the plan and the ``compliance_*`` tables only, so that
any replica answers the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import NotFoundError
from watchkeeper.security.compliance.controlsets import (
    FRAMEWORK_TITLES,
    EffectiveControl,
    effective_controls,
)
from watchkeeper.security.compliance.evaluate import load_section
from watchkeeper.store.tables import ComplianceEvent, ComplianceState

PENDING = "pending"
"""The status shown for a control not evaluated yet."""


@dataclass(frozen=True)
class ControlView:
    id: str
    title: str
    description: str
    framework: str
    framework_title: str
    origin: str  # shipped, replaced (by the plan), plan
    references: list[str]
    owner: str
    status: str  # pass fail unknown pending
    since: datetime | None
    last_pass_at: datetime | None
    evaluated_at: datetime | None
    evidence: list[dict[str, Any]]  # per query: query, params, status, summary, facts

    @property
    def summary(self) -> str:
        """The evidence in a sentence or two: the queries that keep it from passing, else
        all of them."""
        shown = [e for e in self.evidence if e.get("status") != "pass"] or self.evidence
        return " ".join(str(e.get("summary", "")) for e in shown)


@dataclass(frozen=True)
class EventView:
    at: datetime
    status: str
    evidence: list[dict[str, Any]]

    @property
    def summary(self) -> str:
        shown = [e for e in self.evidence if e.get("status") != "pass"] or self.evidence
        return " ".join(str(e.get("summary", "")) for e in shown)


@dataclass(frozen=True)
class Segment:
    """A stretch of a period in one status (for the timeline bar)."""

    start: datetime
    end: datetime
    status: str
    share: float  # of the period, 0..1


def _view(control: EffectiveControl, state: ComplianceState | None) -> ControlView:
    c = control.control
    return ControlView(
        id=c.name,
        title=c.title,
        description=c.description,
        framework=control.framework,
        framework_title=FRAMEWORK_TITLES.get(control.framework, control.framework),
        origin=control.origin,
        references=list(c.references),
        owner=c.owner,
        status=state.status if state is not None else PENDING,
        since=state.since if state is not None else None,
        last_pass_at=state.last_pass_at if state is not None else None,
        evaluated_at=state.evaluated_at if state is not None else None,
        evidence=list(state.evidence) if state is not None else [],
    )


def list_controls(db: Session, framework: str | None = None) -> list[ControlView]:
    """The controls that apply (of ``framework`` only, when given), with their latest
    evaluation, in the order of the control sets and the plan."""
    states = {s.control: s for s in db.scalars(select(ComplianceState))}
    return [
        _view(c, states.get(c.id))
        for c in effective_controls(load_section(db))
        if framework is None or c.framework == framework
    ]


def get_control(db: Session, control_id: str) -> ControlView:
    """Return the control ``control_id``; raise NotFoundError when none applies."""
    for control in effective_controls(load_section(db)):
        if control.id == control_id:
            return _view(control, db.get(ComplianceState, control_id))
    raise NotFoundError(f'there is no compliance control "{control_id}" in the plan')


def history(
    db: Session,
    control_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[EventView]:
    """The control's status changes between ``start`` and ``end``, oldest first; with
    ``start``, the change in force at ``start`` comes first (it says how the period began)."""
    query = select(ComplianceEvent).where(ComplianceEvent.control == control_id)
    found: list[ComplianceEvent] = []
    if start is not None:
        before = db.scalar(
            query.where(ComplianceEvent.at <= start)
            .order_by(ComplianceEvent.at.desc(), ComplianceEvent.id.desc())
            .limit(1)
        )
        found += [before] if before is not None else []
        query = query.where(ComplianceEvent.at > start)
    if end is not None:
        query = query.where(ComplianceEvent.at <= end)
    newest = list(
        db.scalars(
            query.order_by(ComplianceEvent.at.desc(), ComplianceEvent.id.desc()).limit(limit)
        )
    )
    found += reversed(newest)
    return [EventView(e.at, e.status, list(e.evidence)) for e in found]


def segments(events: list[EventView], start: datetime, end: datetime) -> list[Segment]:
    """The statuses a control was in over ``start``..``end``, from its events (oldest first,
    the one in force at ``start`` included); time before its first event is ``pending``."""
    total = (end - start).total_seconds()
    if total <= 0:
        return []
    out: list[Segment] = []
    cursor, status = start, PENDING
    for event in events:
        at = min(max(event.at, start), end)
        if at > cursor:
            out.append(Segment(cursor, at, status, (at - cursor).total_seconds() / total))
        cursor, status = max(cursor, at), event.status
    if end > cursor:
        out.append(Segment(cursor, end, status, (end - cursor).total_seconds() / total))
    merged: list[Segment] = []
    for seg in out:
        if merged and merged[-1].status == seg.status:
            last = merged.pop()
            seg = Segment(last.start, seg.end, seg.status, last.share + seg.share)
        merged.append(seg)
    return merged


def share_in(segs: list[Segment], status: str) -> float:
    """The share of the period spent in ``status`` (0..1)."""
    return sum(s.share for s in segs if s.status == status)


def grouped(controls: list[ControlView]) -> list[tuple[str, str, list[ControlView]]]:
    """``(framework, title, controls)`` in the order the controls come."""
    groups: dict[str, list[ControlView]] = {}
    for control in controls:
        groups.setdefault(control.framework, []).append(control)
    return [(f, FRAMEWORK_TITLES.get(f, f), items) for f, items in groups.items()]


def counts(controls: list[ControlView]) -> dict[str, int]:
    """How many controls are in each status (pass, fail, unknown, pending)."""
    out = {"pass": 0, "fail": 0, "unknown": 0, PENDING: 0}
    for control in controls:
        out[control.status] = out.get(control.status, 0) + 1
    return out


def format_params(params: dict[str, Any]) -> str:
    """A query's parameters as the plan writes them: ``within=7d policies=db-*,files``."""
    return " ".join(
        f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in params.items()
    )
