"""Completing an instance: the evidence its task requires is enforced field by field;
files are stored with their SHA-256, read back verified, and a file changed on disk is
reported as tampered. Skipping needs a reason; a finished instance cannot be finished again.
The history's on-time rate counts completions by their due time."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.tasks.support import Clock, apply_tasks, instances
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, ValidationFailed
from watchkeeper.store.tables import AuditEntry, TaskEvidenceFile
from watchkeeper.tasks import evidence_files, views
from watchkeeper.tasks.completion import Completion, complete, skip
from watchkeeper.tasks.evidence_files import TamperedEvidence, Upload
from watchkeeper.tasks.service import TasksService

MONDAY = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ALICE = Actor("alice")


def made(sessions: sessionmaker[Session], now: datetime = MONDAY) -> None:
    with sessions() as db:
        apply_tasks(db)
    TasksService(sessions, clock=Clock(now)).run_once()


def test_missing_evidence_is_named_field_by_field(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    made(sessions)
    with sessions() as db:
        row = instances(db, "log-review")[0]
        with pytest.raises(ValidationFailed) as caught:
            complete(db, tmp_path, row.id, Completion(checked=[True]), ALICE, MONDAY)
        assert caught.value.errors == [
            ("comment", "this task needs a comment as evidence"),
            ("checklist", "tick every step first (left: Triage each new error)"),
        ]
        review = instances(db, "access-review")[0]
        with pytest.raises(ValidationFailed) as caught:
            complete(db, tmp_path, review.id, Completion(link="javascript:x"), ALICE, MONDAY)
        assert caught.value.errors == [
            ("link", "use an http(s) URL or a path on this server"),
            ("files", "this task needs a file as evidence"),
        ]


def test_files_are_stored_with_their_checksum_and_tampering_is_detected(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    made(sessions)
    content = b"user,role,decision\nalice,admin,keep\n"
    with sessions() as db:
        review = instances(db, "access-review")[0]
        upload = Upload("../../etc/review.csv", content, "text/csv")
        complete(db, tmp_path, review.id, Completion(files=[upload]), ALICE, MONDAY)
        db.commit()
        stored = db.scalars(select(TaskEvidenceFile)).one()
        assert stored.filename == "review.csv"
        assert stored.sha256 == hashlib.sha256(content).hexdigest()
        row, data = evidence_files.read_verified(db, tmp_path, review.id, stored.id)
        assert data == content
        assert evidence_files.states(db, tmp_path, review.id) == {stored.id: "ok"}

        on_disk = evidence_files.folder(tmp_path) / stored.path
        on_disk.write_bytes(content.replace(b"keep", b"drop"))
        with pytest.raises(TamperedEvidence, match="does not match its recorded SHA-256"):
            evidence_files.read_verified(db, tmp_path, review.id, stored.id)
        assert evidence_files.states(db, tmp_path, review.id) == {stored.id: "tampered"}
        on_disk.unlink()
        assert evidence_files.states(db, tmp_path, review.id) == {stored.id: "missing"}


def test_complete_records_who_when_checklist_and_audits(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    made(sessions)
    at = MONDAY + timedelta(hours=3)
    with sessions() as db:
        row = instances(db, "log-review")[0]
        done = Completion(comment="2 new errors, both triaged", checked=[True, True], value="x")
        complete(db, tmp_path, row.id, done, ALICE, at)
        db.commit()
        row = instances(db, "log-review")[0]
        assert (row.status, row.completed_by, row.completed_at, row.on_time) == (
            "done",
            "alice",
            at,
            True,
        )
        assert row.checked == [True, True]
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "task.complete")).one()
        assert entry.target == f"task/log-review/{row.id}"
        with pytest.raises(ConflictError, match="is done already"):
            skip(db, row.id, "again", ALICE, at)


def test_skip_needs_a_reason(sessions: sessionmaker[Session]) -> None:
    made(sessions)
    with sessions() as db:
        row = instances(db, "log-review")[0]
        with pytest.raises(ValidationFailed):
            skip(db, row.id, "  ", ALICE, MONDAY)
        skip(db, row.id, "team offsite", ALICE, MONDAY)
        db.commit()
        assert instances(db, "log-review")[0].skip_reason == "team offsite"


def test_on_time_rate_counts_due_instances(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions() as db:
        apply_tasks(db)
    clock = Clock(MONDAY)
    service = TasksService(sessions, clock=clock)
    for week in range(4):
        clock.now = MONDAY + timedelta(weeks=week)
        service.run_once()
    now = MONDAY + timedelta(weeks=3, days=3)
    done = Completion(comment="ok", checked=[True, True])
    with sessions() as db:
        rows = instances(db, "log-review")
        complete(db, tmp_path, rows[0].id, done, ALICE, rows[0].due_at)  # on time
        complete(db, tmp_path, rows[1].id, done, ALICE, rows[1].due_at + timedelta(hours=1))
        skip(db, rows[2].id, "holiday", ALICE, rows[2].occurrence_at)
        db.commit()  # rows[3]: open past due at `now`
        rate, history = views.history(db, "log-review", now)
        assert (rate.due, rate.on_time, rate.late, rate.missed, rate.skipped) == (3, 1, 1, 1, 1)
        assert rate.percent == 33.3
        assert [h.state for h in history] == ["overdue", "skipped", "done", "done"]
