"""Evidence from the training records: every member of the given teams or on-call
schedules attended the matching required trainings within a period (the control "all
on-call members trained in the last 12 months")."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from pydantic import Field
from sqlalchemy.orm import Session

from watchkeeper.globs import is_glob, matches
from watchkeeper.plan.types import Duration, format_duration
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceParams,
    Fact,
    counted,
    evidence_query,
    verdict,
)
from watchkeeper.tasks.training import last_attended
from watchkeeper.tasks.training_status import load_trainings, people


class TrainedParams(EvidenceParams):
    training: str = Field(
        "*",
        description="A required training's name, or a glob: each person is judged on the "
        "matching trainings that apply to them (a name: on that one, whoever they are).",
    )
    teams: list[str] = Field(default_factory=list, description="Judge these teams' members.")
    schedules: list[str] = Field(
        default_factory=list, description="Judge these on-call schedules' members."
    )
    within: Duration = Field(
        timedelta(days=365), description="Each must have attended within this period."
    )


@evidence_query("trainings_current", TrainedParams)
def trainings_current(db: Session, params: TrainedParams, now: datetime) -> Evidence:
    """Every member of ``teams`` and ``schedules`` (none named: everyone a matching training
    applies to) attended each matching required training within ``within``. No matching
    training, or nobody to judge, is unknown."""
    trainings = [t for t in load_trainings(db) if matches(t.name, params.training)]
    if not trainings:
        return Evidence("unknown", f'No required training matches "{params.training}".')
    everyone = people(db).values()
    named = bool(params.teams or params.schedules)
    group = [
        p
        for p in everyone
        if not named or p.teams & set(params.teams) or p.schedules & set(params.schedules)
    ]
    latest = last_attended(db)
    since = now - params.within
    facts: list[Fact] = []
    for person in group:
        judged = trainings if not is_glob(params.training) else person.required(trainings)
        for training in judged:
            attended = latest.get((person.name, training.name))
            subject = f"{person.name}: {training.title}"
            if attended is None:
                facts.append(Fact(subject, "fail", "never attended"))
            elif datetime.combine(attended, time(0), UTC) < since:
                facts.append(Fact(subject, "fail", f"last attended {attended:%Y-%m-%d}"))
            else:
                facts.append(Fact(subject, "pass", f"attended {attended:%Y-%m-%d}"))
    whom = ", ".join(
        [*(f"team {t}" for t in params.teams), *(f"on-call {s}" for s in params.schedules)]
    )
    if not facts:
        return Evidence("unknown", f"Nobody to judge ({whom or 'no training applies'}).")
    passing = sum(1 for f in facts if f.status == "pass")
    summary = (
        f"Trained in the last {format_duration(params.within)}"
        + (f" ({whom})" if whom else "")
        + f": {counted(passing, len(facts), 'person-training')}"
    )
    missing = [f.subject for f in facts if f.status == "fail"]
    if missing:
        summary += f"; not: {', '.join(missing[:3])}" + (" …" if len(missing) > 3 else "")
    return Evidence(verdict(facts), summary + ".", tuple(facts))
