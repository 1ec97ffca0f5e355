"""Compliance: every control that applies (the shipped sets of ``compliance.frameworks``
and the plan's own controls) was evaluated within three times ``compliance.interval`` and
passes (``compliance_state``, kept by the compliance service). A control whose evidence
could not be judged is unknown, not failing; so is one never evaluated, until three
intervals have passed since the section was stored (then it fails): with nothing evaluated
yet, the section is unknown, neither followed nor failing."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.security.compliance.config import ComplianceSection
from watchkeeper.security.compliance.controlsets import effective_controls
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    every,
    load_section,
    not_in_plan,
    plural,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import ComplianceState, StoredObject

LATE_FACTOR = 3
CONTROLS_PAGE = "/compliance"


def evaluate(db: Session, live: Live) -> SectionResult:
    section = load_section(db, "compliance", ComplianceSection)
    controls = effective_controls(section)
    if not controls:
        return not_in_plan("compliance")
    states = {s.control: s for s in db.scalars(select(ComplianceState))}
    settings = db.scalar(
        select(StoredObject).where(
            StoredObject.kind == "settings", StoredObject.name == "compliance"
        )
    )
    since = settings.updated_at if settings is not None else live.now
    allowed = LATE_FACTOR * section.interval
    tally = Tally("compliance")
    passing = pending = 0
    for control in controls:
        link = f"{CONTROLS_PAGE}/controls/{quote(control.id, safe='')}"
        state = states.get(control.id)
        title = control.control.title
        if state is None:
            if live.now - since > allowed:
                tally.failed("control", control.id, f"{title}: never evaluated", link)
            else:  # new: the compliance service evaluates it at its next pass
                pending += 1
                tally.cannot_tell("control", control.id, f"{title}: not evaluated yet")
            continue
        if live.now - state.evaluated_at > allowed:
            tally.failed(
                "control",
                control.id,
                f"{title}: last evaluated {span(live.now - state.evaluated_at)} ago "
                f"(every {every(section.interval)})",
                link,
            )
        elif state.status == "pass":
            passing += 1
            tally.passed()
        elif state.status == "fail":
            failed = [
                str(e.get("summary", e.get("query", "")))
                for e in state.evidence
                if e.get("status") == "fail"
            ]
            tally.failed("control", control.id, f"{title}: {'; '.join(failed) or 'fails'}", link)
        else:
            tally.cannot_tell("control", control.id, f"{title}: its evidence could not be judged")
    sentence = f"{plural(len(controls), 'control')} apply; {passing} pass"
    if pending:
        sentence += (
            f"; {pending} not evaluated yet: evaluation pending (the compliance service "
            f"evaluates every {every(section.interval)})"
        )
    tally.say(sentence + ".")
    return tally.result()
