"""What one section's evaluator returns, and what every evaluator reads besides the store.

An evaluator judges the *objects* of its section (a check, a backup policy, a user whose
role needs MFA, ...): each is ok, failing (with a reason and a link to its page) or
unknown (its live state is recorded nowhere this process can read, with why). The section's
score is the share of its judged objects that are ok; unknown ones are not judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.logs.store import LogStore
from watchkeeper.metrics.source import SeriesSource
from watchkeeper.plan.objects import SETTINGS_KIND
from watchkeeper.plan.stored import stored_section
from watchkeeper.plan.types import format_duration
from watchkeeper.security.compliance.config import PlanStatusSettings
from watchkeeper.store.tables import StoredObject

M = TypeVar("M", bound=BaseModel)
Status = Literal["ok", "failing", "unknown", "empty"]
STATUSES: tuple[Status, ...] = ("failing", "unknown", "ok", "empty")
"""Worst first: the order sections are shown in."""
MAX_SHOWN = 50
"""Failing (and unknown) objects kept per section in a snapshot; the count keeps the rest."""
NOTHING_TO_JUDGE = "Declared, but nothing in it can be judged (only settings): not counted."


@dataclass(frozen=True)
class Failing:
    """An object of the plan that is not being followed right now."""

    kind: str
    name: str
    reason: str
    link: str = ""


@dataclass(frozen=True)
class Unknown:
    """An object whose live state cannot be read here, and why."""

    kind: str
    name: str
    reason: str


@dataclass(frozen=True)
class SectionResult:
    """One section's verdict at one moment."""

    section: str
    status: Status
    score: float | None  # 0..100, share of judged objects that are ok; None: none judged
    evidence: tuple[str, ...] = ()
    failing: tuple[Failing, ...] = ()
    failing_total: int = 0
    unknown: tuple[Unknown, ...] = ()
    judged: int = 0
    ok: int = 0
    last_ok: datetime | None = None  # the last evaluation at which it was fully followed

    @property
    def counted(self) -> bool:
        """Whether the section counts in the overall score (in the plan and judged)."""
        return self.status in ("ok", "failing") and self.score is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "score": self.score,
            "evidence": list(self.evidence),
            "failing": [f.__dict__ for f in self.failing],
            "failing_total": self.failing_total,
            "unknown": [u.__dict__ for u in self.unknown],
            "judged": self.judged,
            "ok": self.ok,
            "last_ok": self.last_ok.isoformat() if self.last_ok else None,
        }

    @classmethod
    def from_json(cls, section: str, data: dict[str, Any]) -> SectionResult:
        last = data.get("last_ok")
        return cls(
            section=section,
            status=data.get("status", "unknown"),
            score=data.get("score"),
            evidence=tuple(data.get("evidence", ())),
            failing=tuple(Failing(**f) for f in data.get("failing", ())),
            failing_total=int(data.get("failing_total", 0)),
            unknown=tuple(Unknown(**u) for u in data.get("unknown", ())),
            judged=int(data.get("judged", 0)),
            ok=int(data.get("ok", 0)),
            last_ok=datetime.fromisoformat(last) if last else None,
        )


@dataclass
class Tally:
    """Collects one section's judgements and turns them into its :class:`SectionResult`."""

    section: str
    ok: int = 0
    failing: list[Failing] = field(default_factory=list)
    unknown: list[Unknown] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def passed(self, count: int = 1) -> None:
        self.ok += count

    def failed(self, kind: str, name: str, reason: str, link: str = "") -> None:
        self.failing.append(Failing(kind, name, reason, link))

    def cannot_tell(self, kind: str, name: str, reason: str) -> None:
        self.unknown.append(Unknown(kind, name, reason))

    def say(self, sentence: str) -> None:
        self.evidence.append(sentence)

    def result(self) -> SectionResult:
        """Failing when any object fails; unknown when nothing could be judged but something
        was unknowable; empty when there was nothing to judge at all (a section declaring
        only settings: it must not count as followed, nor in the overall score); ok
        otherwise (unknown parts stay listed)."""
        judged = self.ok + len(self.failing)
        score = round(100.0 * self.ok / judged, 1) if judged else None
        status: Status
        if self.failing:
            status = "failing"
        elif judged:
            status = "ok"
        elif self.unknown:
            status = "unknown"
        else:
            status = "empty"
        evidence = (*self.evidence, NOTHING_TO_JUDGE) if status == "empty" else self.evidence
        return SectionResult(
            section=self.section,
            status=status,
            score=score,
            evidence=tuple(evidence),
            failing=tuple(self.failing[:MAX_SHOWN]),
            failing_total=len(self.failing),
            unknown=tuple(self.unknown[:MAX_SHOWN]),
            judged=judged,
            ok=self.ok,
        )


def not_in_plan(section: str) -> SectionResult:
    return SectionResult(section, "empty", None, ("Not in the plan: nothing is declared here.",))


def unknown(section: str, reason: str) -> SectionResult:
    return SectionResult(section, "unknown", None, (reason,))


class AlertEvaluatorHealth(Protocol):
    """Whether the alert evaluator is running, as one process can tell (see
    :mod:`watchkeeper.security.compliance.evaluator_probe`)."""

    def judge(self, db: Session, now: datetime) -> tuple[Status, str]: ...


@dataclass(frozen=True)
class Live:
    """What one evaluation reads besides the store: the time, the plan's plan-status
    settings, and the parts only a server process holds (None: not available here)."""

    now: datetime
    settings: PlanStatusSettings = field(default_factory=PlanStatusSettings)
    metrics: SeriesSource | None = None
    logs: LogStore | None = None
    evaluator: AlertEvaluatorHealth | None = None


def declared(db: Session, section: str) -> bool:
    """Whether the plan (or the UI) declares anything in ``section``: its settings or an
    object of one of its collections."""
    found = db.scalar(
        select(StoredObject.id)
        .where(
            or_(
                StoredObject.kind == section,
                StoredObject.kind.like(f"{section}.%"),
                (StoredObject.kind == SETTINGS_KIND) & (StoredObject.name == section),
            )
        )
        .limit(1)
    )
    return found is not None


def times_by_name(db: Session, query: Any) -> dict[str, datetime]:
    """The ``(name, time)`` rows of ``query`` as a mapping."""
    return {str(name): when for name, when in db.execute(query)}


def created_at(db: Session, kind: str) -> dict[str, datetime]:
    """When each object of ``kind`` was first stored (new objects get time to run once)."""
    return times_by_name(
        db, select(StoredObject.name, StoredObject.created_at).where(StoredObject.kind == kind)
    )


def every(delta: timedelta) -> str:
    """A duration from the plan, spelled as the plan spells it: ``30s``, ``5m``, ``1d``."""
    return format_duration(delta)


def at(moment: datetime) -> str:
    """``moment`` as ``2024-05-01 14:03 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"


class Unreadable(WatchkeeperError):
    """The stored section does not validate against its model (an older or damaged plan)."""


def load_section(db: Session, name: str, model: type[M]) -> M:
    """The stored section ``name`` as ``model``; raise Unreadable when it does not validate."""
    try:
        return model.model_validate(stored_section(db, name))
    except ValidationError as exc:
        raise Unreadable(
            f"the stored {name} section does not validate "
            f"({plural(exc.error_count(), 'problem')}); re-apply the plan"
        ) from None
