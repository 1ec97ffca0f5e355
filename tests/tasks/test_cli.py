"""`watchkeeper tasks list|due|complete|skip` on SQLite and PostgreSQL: tables, the exit
status of `due` when something is overdue, completion with a file and a ticked checklist,
and missing evidence or a bad instance as one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tests.tasks.support import Clock, apply_tasks, instances
from tests.test_silence_cli import clean_environment, run, store_env  # noqa: F401
from watchkeeper.store.tables import TaskEvidenceFile
from watchkeeper.tasks.service import TasksService

MONDAY = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_list_due_complete_skip(
    store_env: dict[str, str],  # noqa: F811
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    with sessions() as db:
        apply_tasks(db)
    TasksService(sessions, clock=Clock(MONDAY)).run_once()
    with sessions() as db:
        ids = {r.task: r.id for r in instances(db)}

    listed = run(store_env, "tasks", "list")
    assert listed.exit_code == 0
    assert "Weekly log review" in listed.stdout and "1 overdue" in listed.stdout
    due = run(store_env, "tasks", "due")
    assert due.exit_code == 1  # something is overdue
    assert "overdue" in due.stdout and "team:platform" in due.stdout

    missing = run(store_env, "tasks", "complete", str(ids["log-review"]), "--check", "1")
    assert missing.exit_code == 1
    assert "comment: this task needs a comment as evidence" in missing.stderr
    bad = run(store_env, "tasks", "complete", str(ids["log-review"]), "--check", "7")
    assert "--check 7: give a step number from 1 to 2, or all" in bad.stderr

    done = run(store_env, "tasks", "complete", str(ids["log-review"]), "--check", "all", "-m", "ok")
    assert done.exit_code == 0, done.stderr
    assert "completed" in done.stderr and "late" in done.stderr
    report = tmp_path / "review.pdf"
    report.write_bytes(b"%PDF-1.4 signed")
    attached = run(store_env, "tasks", "complete", str(ids["access-review"]), "-f", str(report))
    assert attached.exit_code == 0, attached.stderr
    with sessions() as db:
        assert db.query(TaskEvidenceFile).one().filename == "review.pdf"

    assert run(store_env, "tasks", "due").stdout.strip() == "nothing is due"
    again = run(store_env, "tasks", "skip", str(ids["log-review"]), "--reason", "x")
    assert again.exit_code == 1 and "is done already" in again.stderr
    assert "no task instance 999" in run(store_env, "tasks", "skip", "999", "-r", "x").stderr
