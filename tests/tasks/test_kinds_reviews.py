"""The review task kinds: the log review lists the error issues new or regressed since the
last review and triages them; the backup review lists the period's drills and failures
(failures pre-marked for follow-up); the documentation review lists runbooks past their
review date and "still correct" records the review; the release acceptance lists the
planned releases coming up and records who accepted which."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.tasks.support import apply_tasks, instances
from watchkeeper.auth.audit import Actor
from watchkeeper.knowledge.runbooks import create_runbook, find
from watchkeeper.store.tables import (
    BackupRun,
    ErrorIssue,
    ErrorIssueTriage,
    LogTemplate,
    LogTemplateScope,
    TaskInstance,
)
from watchkeeper.tasks.completion import Completion, complete
from watchkeeper.tasks.kinds_releases import signoff
from watchkeeper.tasks.schedule import make_due

ADDED = datetime(2026, 3, 1, tzinfo=UTC)  # the day before the first occurrence
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the first occurrence: Mon 2 March 09:00
LATER = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # the second
ME = Actor("rita")


def plan(kind: str, options: str = "{}", extra: str = "") -> str:
    return f"""
{extra}
tasks:
  tasks:
    - name: review
      title: Weekly review
      kind: {kind}
      options: {options}
      cron: "0 9 * * 1"
      due: 2d
"""


def make(db: Session, at: datetime) -> TaskInstance:
    (row,) = make_due(db, at)
    db.commit()
    return row


def finish(db: Session, home: Path, row: TaskInstance, decisions: dict[str, str]) -> list[str]:
    done = complete(db, home, row.id, Completion(decisions=decisions), ME, row.occurrence_at)
    db.commit()
    return list(done.applied)


def issue(db: Session, n: int, first_seen: datetime, status: str = "unresolved") -> int:
    row = ErrorIssue(
        project_id=1,
        fingerprint=f"f{n}",
        grouping="exception",
        title=f"ValueError {n}",
        level="error",
        status=status,
        first_seen=first_seen,
        last_seen=first_seen + timedelta(hours=1),
        count=3,
    )
    db.add(row)
    db.flush()
    return row.id


def test_log_review_triages_the_new_issues(db: Session, tmp_path: Path) -> None:
    apply_tasks(db, plan("log_review", "{lookback: 7d}"), added=ADDED)
    old = issue(db, 1, MONDAY - timedelta(days=10))
    new = issue(db, 2, MONDAY - timedelta(days=2))
    issue(db, 3, MONDAY - timedelta(days=1), status="resolved")
    regressed = issue(db, 4, MONDAY - timedelta(days=30))
    db.add(ErrorIssueTriage(issue_id=regressed, regressed_at=MONDAY - timedelta(hours=5)))
    db.commit()
    first = make(db, MONDAY)
    assert sorted(w["key"] for w in first.worklist) == [f"issue:{new}", f"issue:{regressed}"]
    assert first.worklist[0]["link"].startswith("/errors/issues/")
    applied = finish(
        db, tmp_path, first, {f"issue:{new}": "triaged", f"issue:{regressed}": "resolve"}
    )
    assert applied == ["resolve: 1 issue(s)", "triaged: 1 issue(s)"]
    assert db.get(ErrorIssue, regressed).status == "resolved"  # type: ignore[union-attr]
    triage = db.get(ErrorIssueTriage, new)
    assert triage is not None and triage.changed_by == "rita"
    # the next review covers only what came since the previous one
    newer = issue(db, 5, MONDAY + timedelta(days=3))
    db.commit()
    second = make(db, LATER)
    assert [w["key"] for w in second.worklist] == [f"issue:{newer}"]
    assert f"issue:{old}" not in {w["key"] for w in first.worklist}


def test_backup_review_lists_drills_and_failures(db: Session, tmp_path: Path) -> None:
    apply_tasks(db, plan("backup_review", "{lookback: 30d}"), added=ADDED)
    runs = [
        BackupRun(policy="db", repository="s3", kind="drill", status="succeeded", rto_s=300.0),
        BackupRun(policy="db", kind="backup", status="failed", error="disk full\nmore"),
        BackupRun(policy="db", kind="backup", status="succeeded"),
        BackupRun(policy="db", kind="drill", status="succeeded"),  # before the period
    ]
    for run, days in zip(runs, (3, 2, 1, 40), strict=True):
        run.started_at = MONDAY - timedelta(days=days)
        db.add(run)
    db.commit()
    row = make(db, MONDAY)
    items = {w["key"]: w for w in row.worklist}
    drill, failed = (f"run:{runs[0].id}", f"run:{runs[1].id}")
    assert list(items) == [drill, failed]
    assert items[drill]["label"] == "restore drill of db → s3"
    assert "RTO 5m" in items[drill]["detail"]
    assert items[failed]["suggested"] == "follow-up"
    assert items[failed]["detail"].endswith("disk full")
    applied = finish(db, tmp_path, row, {})
    assert applied == ["signed off 1 run(s)", f"follow-up: backup {runs[1].id} of db (failed)"]


def test_documentation_review_confirms_runbooks_in_one_click(db: Session, tmp_path: Path) -> None:
    apply_tasks(db, plan("documentation_review"), added=ADDED)
    for slug in ("restore-db", "rotate-keys", "fresh"):
        create_runbook(db, f"# {slug}\n\nDo it.\n", ME, ADDED, slug=slug)
    for slug, reviewed in (("restore-db", 400), ("rotate-keys", 400), ("fresh", 1)):
        find(db, slug).last_reviewed_at = MONDAY - timedelta(days=reviewed)
    db.commit()
    row = make(db, MONDAY)
    assert [w["key"] for w in row.worklist] == ["runbook:restore-db", "runbook:rotate-keys"]
    applied = finish(db, tmp_path, row, {"runbook:rotate-keys": "needs-edit"})
    assert applied == [
        "still correct: restore-db",
        "runbook rotate-keys needs an edit: /runbooks/rotate-keys/edit",
    ]
    assert find(db, "restore-db").last_reviewed_at == MONDAY
    assert find(db, "rotate-keys").last_reviewed_at == MONDAY - timedelta(days=400)


RELEASES = """
releases:
  services: [{name: shop}, {name: api}]
  planned:
    - {name: shop-2-0, service: shop, version: 2.0.0, at: 2026-03-05T10:00:00Z}
    - {name: api-9, service: api, version: "9", at: 2026-03-06T10:00:00Z}
    - {name: shop-far, service: shop, at: 2026-06-01T10:00:00Z}
"""


def test_release_acceptance_is_explicit_and_recorded(db: Session, tmp_path: Path) -> None:
    apply_tasks(db, plan("release_acceptance", "{service: shop}", RELEASES), added=ADDED)
    row = make(db, MONDAY)
    assert [(w["key"], w["label"]) for w in row.worklist] == [
        ("release:shop-2-0", "shop 2.0.0 → production")
    ]
    assert signoff(db, "shop-2-0") is None
    applied = finish(db, tmp_path, row, {"release:shop-2-0": "accepted"})
    assert applied == ["shop-2-0: accepted"]
    found = signoff(db, "shop-2-0")
    assert found is not None and (found.by, found.at) == ("rita", MONDAY)
    assert signoff(db, "api-9") is None
    rows = db.scalars(select(TaskInstance).where(TaskInstance.kind == "release_acceptance"))
    assert [r.decisions for r in rows] == [{"release:shop-2-0": "accepted"}]
    assert instances(db, "review")[0].status == "done"


def test_log_review_lists_the_log_anomalies_of_the_period(db: Session, tmp_path: Path) -> None:
    apply_tasks(db, plan("log_review", "{lookback: 7d}"), added=ADDED)
    scope = LogTemplateScope(scope='{app="api"}', state=b"", first_seen=MONDAY - timedelta(days=30))
    db.add(scope)
    db.flush()

    def template(text: str, first_seen: datetime, new: bool, anomaly: bool) -> int:
        row = LogTemplate(
            scope_id=scope.id,
            cluster=db.query(LogTemplate).count() + 1,
            template=text,
            first_seen=first_seen,
            last_seen=first_seen + timedelta(hours=1),
            count=7,
            new=new,
            anomaly={"direction": "high"} if anomaly else None,
        )
        db.add(row)
        db.flush()
        return row.id

    fresh = template("disk <*> is full", MONDAY - timedelta(days=1), new=True, anomaly=False)
    template("old and quiet", MONDAY - timedelta(days=20), new=False, anomaly=False)
    template("new long ago", MONDAY - timedelta(days=9), new=True, anomaly=False)
    busy = template("retrying <*>", MONDAY - timedelta(days=20), new=False, anomaly=True)
    db.commit()
    first = make(db, MONDAY)
    items = {w["key"]: w for w in first.worklist}
    assert sorted(items) == sorted([f"template:{busy}", f"template:{fresh}"])
    assert items[f"template:{fresh}"]["label"] == "disk <*> is full"
    assert items[f"template:{busy}"]["detail"].startswith("rate anomaly")
    assert items[f"template:{fresh}"]["link"] == "/logs/anomalies"
    applied = finish(db, tmp_path, first, dict.fromkeys(items, "triaged"))
    assert applied == ["looked at: 2 log template(s)"]
