"""What an evidence query is: a named function over Watchkeeper's own data with a pydantic
model of its parameters, returning pass, fail or unknown with a sentence and the facts
behind it.

A query never claims more than its data shows: when there is nothing to judge (no backup
policy, no inventory ever collected) it answers ``unknown``, not ``pass``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import Field
from sqlalchemy.orm import Session

from watchkeeper.plan.base import PlanModel

Status = Literal["pass", "fail", "unknown"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "unknown")


class EvidenceParams(PlanModel):
    """Parameters of an evidence query, as written in the plan next to ``query``."""

    query: str = Field(description="Name of the evidence query.")


class NoParams(EvidenceParams):
    """A query without parameters."""


P = TypeVar("P", bound=EvidenceParams)


@dataclass(frozen=True)
class Fact:
    """One observation behind a verdict: about what (a policy, a user, a host), whether it
    satisfies the query, and what was seen."""

    subject: str
    status: Status
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"subject": self.subject, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Evidence:
    """A query's answer: its status, one sentence an auditor can read, and the facts."""

    status: Status
    summary: str
    facts: tuple[Fact, ...] = ()


@dataclass(frozen=True)
class EvidenceQuery(Generic[P]):
    """A registered evidence query: ``run(db, params, now)`` gives its Evidence."""

    name: str
    description: str
    params_model: type[P]
    run: Callable[[Session, P, datetime], Evidence]

    def evaluate(self, db: Session, params: dict[str, Any], now: datetime) -> Evidence:
        """Validate ``params`` (the plan's keys besides ``query``) and run the query."""
        model = self.params_model.model_validate({**params, "query": self.name})
        return self.run(db, model, now)


@dataclass
class Registry:
    """The evidence queries by name."""

    queries: dict[str, EvidenceQuery[Any]] = field(default_factory=dict)

    def add(self, query: EvidenceQuery[Any]) -> None:
        if query.name in self.queries:
            raise ValueError(f"evidence query {query.name!r} is registered twice")
        self.queries[query.name] = query

    def get(self, name: str) -> EvidenceQuery[Any] | None:
        return self.queries.get(name)

    def names(self) -> list[str]:
        return sorted(self.queries)


registry = Registry()


def evidence_query(
    name: str, params: type[P]
) -> Callable[
    [Callable[[Session, P, datetime], Evidence]], Callable[[Session, P, datetime], Evidence]
]:
    """Register the decorated function as the evidence query ``name`` whose parameters
    ``params`` validates; its docstring's first paragraph is its description."""

    def register(
        run: Callable[[Session, P, datetime], Evidence],
    ) -> Callable[[Session, P, datetime], Evidence]:
        doc = inspect.getdoc(run) or ""
        description = " ".join(doc.split("\n\n", 1)[0].split())
        registry.add(EvidenceQuery(name, description, params, run))
        return run

    return register


# -- small helpers the queries share ----------------------------------------------------------


def when(value: datetime | None) -> str:
    """A time as the evidence shows it: ``2026-12-05 03:10`` (UTC), or ``never``."""
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "never"


def verdict(facts: Iterable[Fact]) -> Status:
    """``fail`` if a fact fails, else ``unknown`` if one is unknown, else ``pass``."""
    statuses = {f.status for f in facts}
    if "fail" in statuses:
        return "fail"
    return "unknown" if "unknown" in statuses else "pass"


def counted(passing: int, total: int, noun: str, plural: str | None = None) -> str:
    """``3 of 3 backup policies`` / ``1 of 1 admin``."""
    word = noun if total == 1 else (plural or noun + "s")
    return f"{passing} of {total} {word}"
