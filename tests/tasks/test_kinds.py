"""Task kinds through the registry: the plan's `kind` and `options` are checked against it,
the kind's worklist is prepared when the instance is made, and the reviewer's decisions
(the suggested ones by default) are applied on completion and recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import Field
from sqlalchemy.orm import Session, sessionmaker

from tests.tasks.support import Clock, apply_tasks, instances
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.tasks.completion import Completion, complete
from watchkeeper.tasks.kinds import KindContext, TaskKind, WorkItem, register, registry
from watchkeeper.tasks.service import TasksService

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SEEN: list[tuple[str, datetime | None, dict[str, str]]] = []


class FruitOptions(PlanModel):
    fruits: list[str] = Field(min_length=1)


def prepare(db: Session, ctx: KindContext) -> list[WorkItem]:
    return [
        WorkItem(f, f.title(), suggested="drop" if f == "kiwi" else "") for f in ctx.options.fruits
    ]


def apply(db: Session, ctx: KindContext, decisions: dict[str, str], actor: Actor) -> list[str]:
    SEEN.append((ctx.task, ctx.since, dict(decisions)))
    return [f"{decision} {key}" for key, decision in sorted(decisions.items())]


if "test-fruit" not in registry.kinds:
    register(TaskKind("test-fruit", "Fruit review", prepare, apply, FruitOptions, ("keep", "drop")))

PLAN = """
tasks:
  tasks:
    - name: fruit-review
      title: Fruit review
      kind: test-fruit
      options: {fruits: [apple, kiwi]}
      cron: "0 9 * * 1"
"""


def test_kind_and_options_are_checked_in_the_plan() -> None:
    with pytest.raises(PlanInvalid) as caught:
        load_plan_text(PLAN.replace("test-fruit", "test-nope"), env={})
    assert 'no task kind "test-nope"' in str(caught.value)
    with pytest.raises(PlanInvalid) as caught:
        load_plan_text(PLAN.replace("[apple, kiwi]", "[]"), env={})
    assert "options.fruits: List should have at least 1 item" in str(caught.value)


def test_worklist_prepared_and_decisions_applied(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as db:
        apply_tasks(db, PLAN)
    TasksService(sessions, clock=Clock(MONDAY)).run_once()
    with sessions() as db:
        row = instances(db)[0]
        assert [w["key"] for w in row.worklist] == ["apple", "kiwi"]
        with pytest.raises(ValidationFailed) as caught:
            complete(
                db, tmp_path, row.id, Completion(decisions={"pear": "keep"}), Actor("a"), MONDAY
            )
        assert caught.value.errors == [
            ("decisions.pear", "not an item of this instance's worklist")
        ]
        complete(db, tmp_path, row.id, Completion(), Actor("a"), MONDAY)
        db.commit()
        row = instances(db)[0]
        assert row.decisions == {"apple": "keep", "kiwi": "drop"}
        assert row.applied == ["keep apple", "drop kiwi"]
    assert SEEN[-1] == ("fruit-review", None, {"apple": "keep", "kiwi": "drop"})
