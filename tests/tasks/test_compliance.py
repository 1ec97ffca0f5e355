"""Tasks in compliance: the plan-compliance section fails while an instance is overdue, and
the ``tasks_done_on_time`` evidence fails for a missed quarterly review, passes when every
instance was done by its due time, and is unknown before any fell due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tests.security.plan_compliance.support import failing, judge
from tests.tasks.support import Clock, apply_tasks, instances
from watchkeeper.auth.audit import Actor
from watchkeeper.security.compliance.evidence import registry
from watchkeeper.tasks.completion import Completion, complete
from watchkeeper.tasks.evidence_files import Upload
from watchkeeper.tasks.service import TasksService

QUARTER = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # first Monday of Q1, 09:00 Paris
QUERY = {"task": "access-*", "within": "365d"}


def evidence(db: Session, now: datetime) -> tuple[str, str]:
    found = registry.get("tasks_done_on_time")
    assert found is not None
    result = found.evaluate(db, QUERY, now)
    return result.status, result.summary


def test_a_missed_quarterly_review_fails_its_evidence_and_the_section(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as db:
        apply_tasks(db)
    clock = Clock(QUARTER)
    TasksService(sessions, clock=clock).run_once()
    with sessions() as db:
        assert evidence(db, QUARTER)[0] == "unknown"  # made, not due yet
        assert judge(db, "tasks", QUARTER).status == "ok"
    late = QUARTER + timedelta(days=15)
    TasksService(sessions, clock=Clock(late)).run_once()
    with sessions() as db:
        status, summary = evidence(db, late)
        assert status == "fail"
        assert summary.startswith("Done on time in the last 365d: 0 of 1 instance; not: ")
        result = judge(db, "tasks", late)
        assert result.status == "failing"
        assert set(failing(result)) == {"access-review", "log-review"}
        kind, reason, link = failing(result)["access-review"]
        assert reason.startswith("Quarterly access review: due 2026-01-19 08:00 UTC")


def test_reviews_done_on_time_pass(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions() as db:
        apply_tasks(db)
    TasksService(sessions, clock=Clock(QUARTER)).run_once()
    with sessions() as db:
        row = instances(db, "access-review")[0]
        files = [Upload("review.pdf", b"%PDF-1.4 signed")]
        complete(db, tmp_path, row.id, Completion(files=files), Actor("bob"), QUARTER)
        db.commit()
        status, summary = evidence(db, QUARTER + timedelta(days=30))
        assert (status, summary) == ("pass", "Done on time in the last 365d: 1 of 1 instance.")
