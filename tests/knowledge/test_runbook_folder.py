"""Runbooks kept in a repository folder the plan names: read on every apply (created,
changed with a revision, removed, a UI-made one taken over), read-only in the store, and a
broken front matter stops the plan with the runbook's own file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError
from watchkeeper.knowledge import runbooks
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import LoadedPlan, PlanInvalid, load_plan_file
from watchkeeper.store.tables import utcnow

PLAN = "version: 1\nrunbooks:\n  folder: runbooks\n  review_period: 90d\n"
DISK = "---\ntitle: Disk full\nservices: [db]\ntags: [disk]\n---\n\n# Disk full\n\nFree space.\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "watchkeeper.yaml"
    path.write_text(PLAN)
    (tmp_path / "runbooks").mkdir()
    return path


def apply(db: Session, plan: Path) -> LoadedPlan:
    loaded = load_plan_file(plan)
    apply_plan(db, loaded, actor="plan")
    db.commit()
    return loaded


def test_folder_runbooks_are_created_updated_and_removed(db: Session, plan: Path) -> None:
    folder = plan.parent / "runbooks"
    write(folder, "disk-full.md", DISK)
    write(folder, "db/Failover Steps.md", "# Failover\n\nPromote the replica.\n")
    write(folder, ".drafts/secret.md", "# Not read\n")
    write(folder, "notes.txt", "not a runbook")
    apply(db, plan)
    page = runbooks.list_runbooks(db, utcnow())
    assert [(r.slug, r.source, r.path) for r in page.rows] == [
        ("disk-full", "folder", "disk-full.md"),
        ("failover-steps", "folder", "db/Failover Steps.md"),
    ]
    assert page.rows[0].review_period.days == 90

    apply(db, plan)  # nothing changed: no new revision
    assert len(runbooks.revisions(db, "disk-full")) == 1

    write(folder, "disk-full.md", DISK.replace("Free space.", "Free space with `du -sh`."))
    (folder / "db" / "Failover Steps.md").unlink()
    apply(db, plan)
    history = runbooks.revisions(db, "disk-full")
    assert [(r.version, r.author, r.note) for r in history] == [
        (2, "plan", "read from disk-full.md"),
        (1, "plan", "read from disk-full.md"),
    ]
    assert "du -sh" in runbooks.get_runbook(db, "disk-full", utcnow()).body
    assert [r.slug for r in runbooks.list_runbooks(db, utcnow()).rows] == ["disk-full"]

    plan.write_text("version: 1\n")  # the plan no longer names a folder
    apply(db, plan)
    assert runbooks.list_runbooks(db, utcnow()).total == 0


def test_folder_runbooks_are_read_only_but_can_be_reviewed(db: Session, plan: Path) -> None:
    write(plan.parent / "runbooks", "disk-full.md", DISK)
    apply(db, plan)
    with pytest.raises(ConflictError, match=r"read from the plan's runbooks folder \(disk-full"):
        runbooks.update_runbook(db, "disk-full", DISK + "x", Actor("bob"), utcnow())
    with pytest.raises(ConflictError):
        runbooks.delete_runbook(db, "disk-full", Actor("bob"), utcnow())
    db.rollback()
    runbooks.review_runbook(db, "disk-full", Actor("bob"), utcnow())
    db.commit()
    assert runbooks.get_runbook(db, "disk-full", utcnow()).last_reviewed_by == "bob"


def test_a_ui_runbook_with_the_same_slug_is_taken_over(db: Session, plan: Path) -> None:
    runbooks.create_runbook(db, "# Disk full\n\nOld text.\n", Actor("alice"), utcnow())
    db.commit()
    write(plan.parent / "runbooks", "disk-full.md", DISK)
    apply(db, plan)
    view = runbooks.get_runbook(db, "disk-full", utcnow())
    assert (view.source, view.version) == ("folder", 2)
    assert runbooks.revisions(db, "disk-full")[0].note == (
        "taken over by the plan's folder (disk-full.md)"
    )


def test_bad_front_matter_names_the_runbook_file_and_line(db: Session, plan: Path) -> None:
    folder = plan.parent / "runbooks"
    write(folder, "good.md", DISK)
    bad = write(
        folder,
        "ops/bad.md",
        "---\ntitle: Restart\nservices: api\nowner: [a, b]\nreview: 30d\n---\n# Restart\n",
    )
    write(folder, "broken.md", "---\ntitle: x\n")
    with pytest.raises(PlanInvalid) as caught:
        load_plan_file(plan)
    shown = [str(p) for p in caught.value.problems]
    assert shown == [
        f"{folder / 'broken.md'}:1:1 the front matter opened by --- on line 1 is never closed "
        "by ---",
        f'{bad}:3:11 services: must be a list (got "api")',
        f"{bad}:4:8 owner: input should be a valid string",
        f'{bad}:5:1 review: unknown key (did you mean "review_period"?)',
    ]


def test_a_missing_folder_is_an_error_at_its_plan_line(tmp_path: Path) -> None:
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text("version: 1\nrunbooks:\n  folder: nowhere\n")
    with pytest.raises(PlanInvalid) as caught:
        load_plan_file(plan)
    assert [str(p) for p in caught.value.problems] == [
        f"{plan}:3:11 runbooks.folder: {tmp_path / 'nowhere'} is not a folder"
    ]


def test_file_names_that_make_the_same_slug(db: Session, plan: Path) -> None:
    folder = plan.parent / "runbooks"
    write(folder, "Disk Full.md", DISK)
    write(folder, "disk-full.md", DISK)
    with pytest.raises(PlanInvalid, match='slug "disk-full" is already taken by Disk Full.md'):
        load_plan_file(plan)
    write(folder, "Disk Full.md", DISK)
    (folder / "disk-full.md").unlink()
    write(folder, "new.md", DISK)
    with pytest.raises(PlanInvalid, match='rename the file.*"new" is reserved'):
        load_plan_file(plan)
