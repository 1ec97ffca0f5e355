"""Plan-compliance test support: apply a plan given as YAML, move objects back in time, and
judge one section on the real rows."""

from __future__ import annotations

import textwrap
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.security.compliance.plan_sections import EVALUATORS
from watchkeeper.security.compliance.plan_sections.base import Live, SectionResult
from watchkeeper.security.compliance.plan_status import plan_settings
from watchkeeper.store.tables import StoredObject


def apply_text(db: Session, text: str) -> None:
    """Apply the plan ``text`` (YAML) to the store and commit."""
    apply_plan(db, load_plan_text(textwrap.dedent(text), env={}))
    db.commit()


def declared_at(db: Session, when: datetime) -> None:
    """Pretend every stored object was declared (and last changed) at ``when``."""
    db.execute(update(StoredObject).values(created_at=when, updated_at=when))
    db.commit()


def judge(db: Session, section: str, now: datetime, **live: object) -> SectionResult:
    """Run the ``section`` evaluator at ``now`` (``live``: metrics, logs, evaluator)."""
    return EVALUATORS[section](db, Live(now, plan_settings(db), **live))  # type: ignore[arg-type]


def failing(result: SectionResult) -> dict[str, tuple[str, str, str]]:
    """The failing objects by name: (kind, reason, link)."""
    return {f.name: (f.kind, f.reason, f.link) for f in result.failing}
