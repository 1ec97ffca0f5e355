"""Task test support: a plan with tasks applied at a fixed time, a controllable clock, and
the rows the tests look at."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import Alert, OutboxNotification, StoredObject, TaskInstance

ADDED = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = """
notifications:
  channels: [{name: ops-mail, type: webhook, url: "http://127.0.0.1:9/hook"}]
tasks:
  tasks:
    - name: log-review
      title: Weekly log review
      description: |
        Read the **error** log of the week.
      cron: "0 9 * * 1"
      timezone: Europe/Paris
      due: 2d
      owner: alice
      checklist: [Open the saved search, Triage each new error]
      links:
        - {title: Errors this week, url: "/logs?q=level:error"}
      evidence: [checklist, comment]
      reminders: [1d, 4h]
      channels: [ops-mail]
      escalate_after: 1h
    - name: access-review
      title: Quarterly access review
      rrule: FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=1MO;BYHOUR=9
      timezone: Europe/Paris
      due: 14d
      owner: team:platform
      evidence: [file]
      severity: critical
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def apply_tasks(db: Session, text: str = PLAN, added: datetime = ADDED) -> None:
    """Apply ``text`` and pretend its tasks were added at ``added``."""
    apply_plan(db, load_plan_text(textwrap.dedent(text), env={}))
    db.execute(update(StoredObject).values(created_at=added, updated_at=added))
    db.commit()


def instances(db: Session, task: str | None = None) -> list[TaskInstance]:
    query = select(TaskInstance).order_by(TaskInstance.occurrence_at)
    if task:
        query = query.where(TaskInstance.task == task)
    return list(db.scalars(query))


def overdue_alerts(db: Session) -> list[tuple[str, dict[str, str]]]:
    rows = db.scalars(select(Alert).where(Alert.rule == INTERNAL_RULE).order_by(Alert.id))
    return [(a.state, a.labels) for a in rows if a.labels.get("alertname") == "TaskOverdue"]


def outbox(db: Session) -> list[tuple[str, str]]:
    rows = db.scalars(select(OutboxNotification).order_by(OutboxNotification.id))
    return [(r.channel, r.payload["common_annotations"]["summary"]) for r in rows]
