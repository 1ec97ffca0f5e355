"""On call: every schedule of the plan has someone on call right now (its layers and the
overrides in the store), and everyone a schedule or an escalation policy pages has at least
one contact rule (someone without one cannot be paged)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from watchkeeper.incidents.oncall_config import OncallSection
from watchkeeper.incidents.overrides import now_and_next
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    declared,
    load_section,
    not_in_plan,
    plural,
)


def evaluate(db: Session, live: Live) -> SectionResult:
    if not declared(db, "oncall"):
        return not_in_plan("oncall")
    section = load_section(db, "oncall", OncallSection)
    tally = Tally("oncall")
    covered = 0
    on_call: list[str] = []
    for schedule in section.schedules:
        link = f"/oncall#schedule-{schedule.name}"
        now = now_and_next(db, schedule, live.now)
        if now.person is not None:
            covered += 1
            on_call.append(f"{now.person} ({schedule.name})")
            tally.passed()
            continue
        nxt = (
            f"; next: {now.next_person} at {at(now.next_at)}"
            if now.next_person and now.next_at
            else ""
        )
        tally.failed("schedule", schedule.name, f"nobody is on call now{nxt}", link)
    paged = {m for s in section.schedules for layer in s.layers for m in layer.members}
    paged |= {
        t.person
        for p in section.escalation_policies
        for step in p.steps
        for t in step.notify
        if t.person
    }
    unreachable = 0
    for person in section.people:
        if person.name not in paged:
            continue
        if person.contact:
            tally.passed()
        else:
            unreachable += 1
            tally.failed(
                "person", person.name, "has no contact rule: a page cannot reach them", "/oncall"
            )
    if section.schedules:
        who = f": {', '.join(on_call)}" if on_call else ""
        tally.say(f"{covered} of {plural(len(section.schedules), 'schedule')} covered now{who}.")
    if unreachable:
        tally.say(f"{plural(unreachable, 'person', 'people')} paged without a contact rule.")
    return tally.result()
