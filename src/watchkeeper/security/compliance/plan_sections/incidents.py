"""Incidents: no open incident is left without an owner (acknowledged, a commander or an
assignee) once its escalation has run out, or, without one, after
``compliance.plan_status.unacknowledged_after``; every resolved major incident (or one of
``postmortem_severities``) has a published postmortem ``postmortem_within`` after it was
resolved; no postmortem action item is past its due day; the latest run of each drill of
the plan was acknowledged in time. Drill incidents are left out."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from watchkeeper.incidents.config import IncidentsSection
from watchkeeper.incidents.postmortem import open_items
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    declared,
    every,
    load_section,
    not_in_plan,
    plural,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import DrillRun, Escalation, Incident, Postmortem


def evaluate(db: Session, live: Live) -> SectionResult:
    if not declared(db, "incidents"):
        return not_in_plan("incidents")
    section = load_section(db, "incidents", IncidentsSection)
    tally = Tally("incidents")
    _judge_open(db, live, tally)
    _judge_postmortems(db, live, tally)
    _judge_items(db, live, tally)
    _judge_drills(db, tally, section)
    return tally.result()


def _judge_open(db: Session, live: Live, tally: Tally) -> None:
    rows = list(
        db.scalars(
            select(Incident)
            .where(Incident.status != "resolved", Incident.drill == "")
            .order_by(Incident.id)
        )
    )
    escalations = {
        e.incident_id: e
        for e in db.scalars(
            select(Escalation).where(Escalation.incident_id.in_([r.id for r in rows]))
        )
    }
    limit = live.settings.unacknowledged_after
    unowned = 0
    for incident in rows:
        owned = bool(incident.acknowledged_by or incident.commander or incident.assignees)
        esc = escalations.get(incident.id)
        if owned or (esc is not None and esc.state == "active"):
            tally.passed()
            continue
        if esc is not None:
            why = f"nobody owns it and its escalation ({esc.policy}) is {esc.state}"
        elif live.now - incident.opened_at > limit:
            why = (
                f"nobody owns it {span(live.now - incident.opened_at)} after it opened, and no "
                "escalation runs"
            )
        else:
            tally.passed()
            continue
        unowned += 1
        tally.failed(
            "incident", f"#{incident.id} {incident.title}", why, f"/incidents/{incident.id}"
        )
    tally.say(
        f"{plural(len(rows), 'open incident')}; {unowned} without an owner past its escalation."
    )


def _judge_postmortems(db: Session, live: Live, tally: Tally) -> None:
    settings = live.settings
    due_before = live.now - settings.postmortem_within
    rows = db.execute(
        select(Incident, Postmortem.status)
        .outerjoin(Postmortem, Postmortem.incident_id == Incident.id)
        .where(
            Incident.status == "resolved",
            Incident.drill == "",
            Incident.resolved_at <= due_before,
            Incident.resolved_at >= live.now - settings.history,
            or_(Incident.major.is_(True), Incident.severity.in_(settings.postmortem_severities)),
        )
        .order_by(Incident.id)
    ).all()
    missing = 0
    for incident, status in rows:
        if status == "published":
            tally.passed()
            continue
        missing += 1
        assert incident.resolved_at is not None
        what = "is still a draft" if status else "was not written"
        tally.failed(
            "postmortem",
            f"#{incident.id} {incident.title}",
            f"{incident.severity}{' major' if incident.major else ''} incident resolved "
            f"{at(incident.resolved_at)}: its postmortem {what} "
            f"(due within {every(settings.postmortem_within)})",
            f"/incidents/{incident.id}/postmortem",
        )
    if rows:
        tally.say(f"{plural(len(rows), 'postmortem')} due; {missing} not published.")


def _judge_items(db: Session, live: Live, tally: Tally) -> None:
    items = open_items(db, live.now)
    late = [i for i in items if i.overdue]
    for item in late:
        tally.failed(
            "action item",
            item.title,
            f"due {item.due.isoformat() if item.due else ''}, owner {item.owner or 'nobody'} "
            f"(incident #{item.incident_id})",
            f"/incidents/{item.incident_id}/postmortem",
        )
    tally.passed(len(items) - len(late))
    if items:
        tally.say(f"{plural(len(items), 'open action item')}; {len(late)} overdue.")


def _judge_drills(db: Session, tally: Tally, section: IncidentsSection) -> None:
    names = [d.name for d in section.drills]
    if not names:
        return
    newest = (
        select(func.max(DrillRun.id)).where(DrillRun.name.in_(names)).group_by(DrillRun.name)
    ).scalar_subquery()
    runs = {r.name: r for r in db.scalars(select(DrillRun).where(DrillRun.id.in_(newest)))}
    for name in names:
        run = runs.get(name)
        if run is None:
            continue
        if run.result == "missed":
            tally.failed(
                "drill",
                name,
                f"its last run ({at(run.started_at)}) was not acknowledged in time",
                "/incidents/drills",
            )
        else:
            tally.passed()
    tally.say(f"{plural(len(names), 'drill')}; {len(runs)} ran at least once.")
