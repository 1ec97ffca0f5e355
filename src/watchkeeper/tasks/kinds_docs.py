"""The documentation review: every runbook past its review date (or due within
``ahead``), each confirmed "still correct" in one click (recorded as a runbook review,
which resolves its ``RunbookReviewDue``) or marked "needs edit" (listed with the
completion, with a link to edit it)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError
from watchkeeper.knowledge.runbooks import load_section, review_runbook, view
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Duration
from watchkeeper.store.tables import Runbook
from watchkeeper.tasks.kinds import KindContext, TaskKind, WorkItem, register

DECISIONS = ("still-correct", "needs-edit")


class DocsReviewOptions(PlanModel):
    """Options of the ``documentation_review`` task kind."""

    ahead: Duration = Field(
        timedelta(0), description="Also list runbooks whose review falls due within this."
    )


def _prepare(db: Session, context: KindContext) -> list[WorkItem]:
    options: DocsReviewOptions = context.options
    section = load_section(db)
    horizon = context.now + options.ahead
    items = []
    for row in db.scalars(select(Runbook).order_by(Runbook.slug)):
        v = view(row, section, context.now)
        if not (v.review_due or v.review_due_at <= horizon):
            continue
        by = f" by {v.last_reviewed_by}" if v.last_reviewed_by else ""
        detail = (
            f"last reviewed {v.last_reviewed_at:%Y-%m-%d}{by}, due {v.review_due_at:%Y-%m-%d}"
            + (f", owner {v.owner}" if v.owner else "")
        )
        items.append(WorkItem(f"runbook:{v.slug}", v.title, detail, "", v.url))
    return items


def _apply(db: Session, context: KindContext, chosen: dict[str, str], actor: Actor) -> list[str]:
    confirmed: list[str] = []
    notes: list[str] = []
    for key, decision in sorted(chosen.items()):
        slug = key.removeprefix("runbook:")
        if decision == "needs-edit":
            notes.append(f"runbook {slug} needs an edit: /runbooks/{slug}/edit")
            continue
        try:
            review_runbook(db, slug, actor, context.now, f"documentation review ({context.task})")
        except NotFoundError:
            notes.append(f"runbook {slug}: no longer exists")
            continue
        confirmed.append(slug)
    head = [f"still correct: {', '.join(confirmed)}"] if confirmed else []
    return head + notes


KIND = register(
    TaskKind(
        name="documentation_review",
        description="Runbooks past their review date, each confirmed still correct in one "
        "click or marked for an edit.",
        prepare=_prepare,
        apply=_apply,
        options_model=DocsReviewOptions,
        decisions=DECISIONS,
    )
)
