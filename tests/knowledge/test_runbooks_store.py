"""Runbooks in the store (SQLite and PostgreSQL): every edit a revision with author, time
and note; the diff between two revisions; search by title, tags and body; reviews; and what
the knowledge bundle exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.knowledge import runbooks
from watchkeeper.knowledge.runbook_diff import diff, diff_lines
from watchkeeper.knowledge.runbook_doc import RunbookInvalid
from watchkeeper.store.tables import AuditEntry

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ALICE, BOB = Actor("alice"), Actor("bob")

FAILOVER = """---
title: Database failover
services: [api]
alerts: [PostgresDown]
tags: [database, dr]
owner: team-data
---

# Database failover

1. Check replication lag.
2. Promote the replica.
3. Point the api at it.
"""


def add(db: Session, content: str = FAILOVER, **kw: str) -> str:
    row = runbooks.create_runbook(db, content, ALICE, T0, **kw)
    db.commit()
    return row.slug


def test_every_edit_is_a_revision_with_author_time_and_note(db: Session) -> None:
    slug = add(db, note="first version")
    assert slug == "database-failover"
    edited = FAILOVER.replace("2. Promote the replica.", "2. Promote the replica with patroni.")
    runbooks.update_runbook(
        db, slug, edited, BOB, T0 + timedelta(hours=1), note="patroni", base_version=1
    )
    db.commit()
    # Saving the same document again records nothing.
    runbooks.update_runbook(db, slug, edited, BOB, T0 + timedelta(hours=2), base_version=2)
    db.commit()
    history = runbooks.revisions(db, slug)
    assert [(r.version, r.author, r.note, r.at) for r in history] == [
        (2, "bob", "patroni", T0 + timedelta(hours=1)),
        (1, "alice", "first version", T0),
    ]
    current = runbooks.get_runbook(db, slug, T0 + timedelta(hours=3))
    assert current.version == 2 and current.updated_by == "bob"
    assert "patroni" in current.body and current.content == edited
    assert runbooks.revision(db, slug, 1).content == FAILOVER
    actions = [e.action for e in db.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions == ["runbook.create", "runbook.update"]


def test_the_diff_between_two_revisions(db: Session) -> None:
    slug = add(db)
    edited = FAILOVER.replace(
        "3. Point the api at it.\n", "3. Point the api at it.\n4. Tell #ops.\n"
    )
    edited = edited.replace("1. Check replication lag.", "1. Check the replication lag.")
    runbooks.update_runbook(db, slug, edited, BOB, T0, base_version=1)
    db.commit()
    found = diff(db, slug, 1, 2)
    assert (found.added, found.removed) == (2, 1)
    changed = [(x.kind, x.old, x.new, x.text) for x in found.lines if x.kind != "same"]
    assert changed == [
        ("hunk", None, None, "@@ -8,6 +8,7 @@"),
        ("del", 11, None, "1. Check replication lag."),
        ("add", None, 11, "1. Check the replication lag."),
        ("add", None, 14, "4. Tell #ops."),
    ]
    assert "-1. Check replication lag.\n+1. Check the replication lag.\n" in found.unified()
    assert diff(db, slug, 2, 2).lines == []
    with pytest.raises(NotFoundError):
        diff(db, slug, 1, 3)


def test_diff_lines_with_context() -> None:
    old = "\n".join(f"line {i}" for i in range(1, 21))
    new = old.replace("line 2\n", "line two\n").replace("line 19", "line nineteen")
    hunks = [x.text for x in diff_lines(old, new) if x.kind == "hunk"]
    assert hunks == ["@@ -1,5 +1,5 @@", "@@ -16,5 +16,5 @@"]


def test_an_edit_from_an_old_version_is_refused(db: Session) -> None:
    slug = add(db)
    runbooks.update_runbook(db, slug, FAILOVER + "\nMore.\n", BOB, T0, base_version=1)
    db.commit()
    with pytest.raises(ConflictError, match="changed meanwhile"):
        runbooks.update_runbook(db, slug, FAILOVER + "\nOther.\n", ALICE, T0, base_version=1)


def test_bad_documents_and_slugs_are_refused_with_the_field(db: Session) -> None:
    with pytest.raises(RunbookInvalid) as caught:
        runbooks.create_runbook(db, "---\ntags: 3\n---\n# T\n", ALICE, T0)
    assert caught.value.errors == [("content", "line 2:7 tags: must be a list (got 3)")]
    with pytest.raises(ValidationFailed) as bad_slug:
        runbooks.create_runbook(db, FAILOVER, ALICE, T0, slug="Not A Slug")
    assert bad_slug.value.errors[0][0] == "slug"
    add(db)
    with pytest.raises(ConflictError, match="already named"):
        runbooks.create_runbook(db, FAILOVER, ALICE, T0)
    with pytest.raises(ValidationFailed, match="note"):
        runbooks.update_runbook(db, "database-failover", FAILOVER, ALICE, T0, note="x" * 501)


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("failover", ["database-failover"]),
        ("PATRONI", ["database-failover"]),  # body, case-insensitive
        ("dr", ["database-failover"]),  # a tag
        ("disk cleanup", ["disk-full"]),  # every word must match
        ("disk failover", []),
        ("100%", ["disk-full"]),  # LIKE wildcards are matched literally
        ("50%", []),
        ("a_b", []),
        ("", ["database-failover", "disk-full"]),
    ],
)
def test_search_matches_title_tags_and_body(db: Session, q: str, found: list[str]) -> None:
    add(db, FAILOVER.replace("replica.", "replica (patroni)."))
    add(db, "---\ntags: [disk]\nservices: [db]\n---\n# Disk full\n\nAt 100% run the cleanup job.\n")
    page = runbooks.list_runbooks(db, T0, q=q)
    assert [r.slug for r in page.rows] == found


def test_filters_by_tag_service_alert_and_source(db: Session) -> None:
    add(db)
    add(db, "---\ntags: [Disk]\nservices: [db]\n---\n# Disk full\n")
    assert [r.slug for r in runbooks.list_runbooks(db, T0, tag="disk").rows] == ["disk-full"]
    assert [r.slug for r in runbooks.list_runbooks(db, T0, service="api").rows] == [
        "database-failover"
    ]
    assert runbooks.list_runbooks(db, T0, alert="PostgresDown").total == 1
    assert runbooks.list_runbooks(db, T0, source="folder").total == 0
    assert runbooks.list_runbooks(db, T0).tags == ["database", "Disk", "dr"]


def test_review_due_after_the_period_and_a_review_resets_it(db: Session) -> None:
    add(db)
    add(db, "---\nreview_period: 30d\n---\n# Short-lived\n")
    later = T0 + timedelta(days=31)
    due = runbooks.list_runbooks(db, later, due=True)
    assert [r.slug for r in due.rows] == ["short-lived"] and due.due == 1
    assert runbooks.list_runbooks(db, T0 + timedelta(days=181), due=True).total == 2
    runbooks.review_runbook(db, "short-lived", BOB, later, note="checked the steps")
    db.commit()
    view = runbooks.get_runbook(db, "short-lived", later)
    assert (view.last_reviewed_at, view.last_reviewed_by, view.review_due) == (later, "bob", False)
    assert view.review_due_at == later + timedelta(days=30)
    assert [(r.by, r.note) for r in runbooks.reviews(db, "short-lived")] == [
        ("bob", "checked the steps")
    ]
    soon = runbooks.get_runbook(db, "short-lived", later + timedelta(days=20))
    assert soon.review_due_soon and not soon.review_due


def test_a_front_matter_review_date_counts_when_it_is_newer(db: Session) -> None:
    slug = add(db)
    runbooks.update_runbook(
        db, slug, FAILOVER.replace("owner:", "last_reviewed: 2026-06-01\nowner:"), BOB, T0
    )
    db.commit()
    view = runbooks.get_runbook(db, slug, T0)
    assert view.last_reviewed_at == datetime(2026, 6, 1, tzinfo=UTC)
    assert view.last_reviewed_by == "front matter"


def test_delete_removes_the_history(db: Session) -> None:
    slug = add(db)
    runbooks.delete_runbook(db, slug, ALICE, T0)
    db.commit()
    with pytest.raises(NotFoundError):
        runbooks.revisions(db, slug)


def test_all_for_export(db: Session) -> None:
    add(db)
    add(db, "---\ntitle: Another\ntags: [x]\n---\n\nBody *text*.\n")
    exported = runbooks.all_for_export(db)
    assert [(e.slug, e.title) for e in exported] == [
        ("another", "Another"),
        ("database-failover", "Database failover"),
    ]
    first = exported[0]
    assert first.markdown == "Body *text*.\n" and first.tags == ["x"] and first.services == []
    assert first.last_reviewed_at == T0
    assert (
        exported[1].markdown.startswith("# Database failover\n")
        and "---" not in exported[1].markdown
    )
