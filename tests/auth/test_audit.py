"""The audit trail: the hash chain detects edits and removals, secrets are masked, appends
from many threads keep the chain whole, and plan applies and object changes are recorded."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.logging_setup import MASK
from watchkeeper.plan import catalog
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.runtime.server import _reload, prepare
from watchkeeper.settings import load_settings
from watchkeeper.store.tables import AuditEntry, AuditHead

PLAN = """\
name: prod
checks:
  - {name: web, type: http, url: "https://shop.example.com/"}
  - {name: db, type: tcp, host: db.internal, port: 5432}
"""
CHECK = {"name": "cache", "type": "tcp", "host": "cache.internal", "port": 6379}


def fill(db: Session, n: int) -> list[AuditEntry]:
    actors = [Actor("alice", "10.0.0.1"), Actor("bob", "2001:db8::7"), audit.SYSTEM]
    made = [
        audit.record(
            db,
            actors[i % 3],
            ("login", "object.update", "user.role")[i % 3],
            f"checks/c{i}",
            {"i": i, "changes": audit.changes({"port": i}, {"port": i + 1}), "note": "é ✓"},
        )
        for i in range(n)
    ]
    db.commit()
    return made


def entries(db: Session) -> list[AuditEntry]:
    db.expire_all()
    return list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))


# --- the chain ------------------------------------------------------------------------------


def test_an_empty_trail_verifies(db: Session) -> None:
    result = audit.verify(db)
    assert (result.ok, result.checked, result.checkpoint) == (
        True,
        0,
        audit.Checkpoint(0, audit.GENESIS, 0),
    )


def test_the_chain_is_valid_after_many_records(db: Session) -> None:
    fill(db, 120)
    result = audit.verify(db)
    assert result.ok and result.checked == 120 and result.bad_id is None
    rows = entries(db)
    assert rows[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert db.get(AuditHead, 1).last_hash == rows[-1].hash  # type: ignore[union-attr]


def test_an_entry_commits_and_rolls_back_with_the_change_it_records(db: Session) -> None:
    fill(db, 2)
    audit.record(db, Actor("alice"), "object.delete", "checks/x")
    db.rollback()
    assert len(entries(db)) == 2
    assert audit.verify(db).ok
    fill(db, 1)
    again = audit.verify(db)
    assert (again.ok, again.checked) == (True, 3)


def test_a_walk_from_a_checkpoint_reads_only_what_was_appended(db: Session) -> None:
    rows = fill(db, 5)
    first = audit.verify(db)
    assert first.checkpoint == audit.Checkpoint(rows[-1].id, rows[-1].hash, 5)
    more = fill(db, 3)
    # An entry before the checkpoint is edited: only a whole walk finds it.
    db.execute(update(AuditEntry).where(AuditEntry.id == rows[1].id).values(actor="mallory"))
    db.commit()
    since = audit.verify(db, after=first.checkpoint)
    assert (since.ok, since.checked) == (True, 8)
    assert since.checkpoint == audit.Checkpoint(more[-1].id, more[-1].hash, 8)
    assert audit.verify(db).bad_id == rows[1].id
    # The checkpoint's own entry is checked: changed or removed, the walk fails.
    db.execute(update(AuditEntry).where(AuditEntry.id == more[-1].id).values(actor="mallory"))
    db.commit()
    broken = audit.verify(db, after=since.checkpoint)
    assert (broken.ok, broken.bad_id) == (False, more[-1].id)
    assert broken.reason == "was changed or removed since it was verified"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("detail", lambda e: {**e.detail, "i": 999}),
        ("actor", lambda e: "mallory"),
        ("at", lambda e: e.at - timedelta(seconds=1)),
        ("client_addr", lambda e: "192.0.2.66"),
        ("action", lambda e: "login.failed"),
        ("target", lambda e: "checks/other"),
    ],
)
def test_changing_one_field_of_a_row_fails_verify_naming_that_entry(
    db: Session, column: str, value: Any
) -> None:
    rows = fill(db, 10)
    victim = rows[4]
    db.execute(update(AuditEntry).where(AuditEntry.id == victim.id).values({column: value(victim)}))
    db.commit()
    result = audit.verify(db)
    assert not result.ok
    assert result.bad_id == victim.id
    assert result.reason == "content does not match its hash"
    assert result.checked == 4


def test_rewriting_a_row_with_a_fresh_hash_is_caught_by_the_next_entry(db: Session) -> None:
    rows = fill(db, 5)
    victim = rows[2]
    forged = audit._digest(
        victim.prev_hash, victim.at, "mallory", "", victim.action, victim.target, victim.detail
    )
    db.execute(
        update(AuditEntry)
        .where(AuditEntry.id == victim.id)
        .values(actor="mallory", client_addr="", hash=forged)
    )
    db.commit()
    result = audit.verify(db)
    assert (result.ok, result.bad_id) == (False, rows[3].id)
    assert "does not follow the entry before it" in result.reason


def test_deleting_a_middle_row_fails_verify(db: Session) -> None:
    rows = fill(db, 7)
    db.execute(delete(AuditEntry).where(AuditEntry.id == rows[3].id))
    db.commit()
    result = audit.verify(db)
    assert not result.ok
    assert result.bad_id == rows[4].id
    assert result.reason == "does not follow the entry before it (one was removed or changed)"


def test_deleting_the_first_row_fails_verify(db: Session) -> None:
    rows = fill(db, 3)
    db.execute(delete(AuditEntry).where(AuditEntry.id == rows[0].id))
    db.commit()
    assert audit.verify(db).bad_id == rows[1].id


def test_deleting_the_newest_row_fails_verify(db: Session) -> None:
    rows = fill(db, 6)
    db.execute(delete(AuditEntry).where(AuditEntry.id == rows[-1].id))
    db.commit()
    result = audit.verify(db)
    assert not result.ok
    assert result.bad_id is None
    assert result.reason == "the newest entries were removed"
    assert result.checked == 5


def test_an_entry_inserted_past_the_head_fails_verify(db: Session) -> None:
    rows = fill(db, 3)
    last = rows[-1]
    forged = AuditEntry(
        at=last.at,
        actor="mallory",
        client_addr="",
        action="login",
        target="user/mallory",
        detail={},
        prev_hash=last.hash,
        hash=audit._digest(last.hash, last.at, "mallory", "", "login", "user/mallory", {}),
    )
    db.add(forged)
    db.commit()
    result = audit.verify(db)
    assert (result.ok, result.bad_id, result.checked) == (False, forged.id, 3)
    assert result.reason == "was added outside the chain"


def test_verify_ignores_entries_appended_while_it_walks(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    """A server keeps appending while `audit verify` runs: not tampering."""
    fill(db, 3)
    statements: list[str] = []

    def append_meanwhile(state: ORMExecuteState) -> None:
        statements.append(str(state.statement))
        if len(statements) == 2:  # the head has been read; the walk is about to start
            with sessions() as writer:
                audit.record(writer, Actor("bob"), "login", "user/bob")
                writer.commit()

    with sessions() as reader:
        event.listen(reader, "do_orm_execute", append_meanwhile)
        assert audit.verify(reader) == audit.Verification(True, 3)
    assert "audit_head" in statements[0] and "audit_log" in statements[1]
    assert audit.verify(db) == audit.Verification(True, 4)


def test_deleting_every_row_fails_verify(db: Session) -> None:
    fill(db, 3)
    db.execute(delete(AuditEntry))
    db.commit()
    assert audit.verify(db).reason == "the newest entries were removed"


# --- secrets ---------------------------------------------------------------------------------


def test_secrets_in_the_detail_are_masked(db: Session) -> None:
    entry = audit.record(
        db,
        Actor("alice"),
        "object.update",
        "notifications/pager",
        {
            "password": "hunter2-hunter2",
            "nested": [{"api_key": "k-123456789", "Authorization": "Bearer abcdefgh"}],
            "changes": audit.changes(
                {"token": "old-token-value", "url": "https://u:pa55word@h.example/x", "n": 1},
                {"token": "new-token-value", "url": "https://u:n3wpass@h.example/x", "n": 2},
            ),
            "empty_secret": "",
            "user": "bob",
        },
    )
    db.commit()
    (stored,) = entries(db)
    assert stored.id == entry.id
    text = str(stored.detail)
    for secret in ("hunter2-hunter2", "k-123456789", "abcdefgh", "token-value", "pa55w", "n3wp"):
        assert secret not in text
    assert stored.detail["password"] == MASK
    assert stored.detail["nested"] == [{"api_key": MASK, "Authorization": MASK}]
    assert stored.detail["changes"]["token"] == MASK
    assert stored.detail["changes"]["url"] == {
        "before": f"https://u:{MASK}@h.example/x",
        "after": f"https://u:{MASK}@h.example/x",
    }
    assert stored.detail["changes"]["n"] == {"before": 1, "after": 2}
    assert stored.detail["empty_secret"] == ""
    assert stored.detail["user"] == "bob"
    assert audit.verify(db).ok


def test_changes_lists_only_the_fields_that_differ() -> None:
    assert audit.changes({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {
        "b": {"before": 2, "after": 3},
        "c": {"before": None, "after": 4},
    }
    assert audit.changes(None, None) == {}


# --- concurrency -----------------------------------------------------------------------------


def test_concurrent_appends_from_many_threads_keep_the_chain_whole(
    sessions: sessionmaker[Session], db: Session
) -> None:
    threads, per_thread = 5, 10
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait(timeout=10)
            for i in range(per_thread):
                with sessions() as own:  # each append is its own transaction
                    audit.record(own, Actor(f"worker-{n}"), "object.update", f"checks/w{n}-{i}")
                    own.commit()
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not failures, failures
    rows = entries(db)
    assert len(rows) == threads * per_thread
    assert len({r.prev_hash for r in rows}) == len(rows)  # no two entries share a parent
    assert audit.verify(db) == audit.Verification(True, threads * per_thread)


# --- search and export -----------------------------------------------------------------------


def test_search_filters_and_pages_newest_first(db: Session) -> None:
    rows = fill(db, 9)
    assert [e.id for e in audit.search(db)] == [r.id for r in reversed(rows)]
    assert {e.actor for e in audit.search(db, actor="alice")} == {"alice"}
    assert len(audit.search(db, action="object.")) == 3
    assert audit.search(db, action="object_") == []  # "_" is not a LIKE wildcard here
    assert [e.target for e in audit.search(db, target="c1")] == ["checks/c1"]
    page = audit.search(db, limit=4, before_id=rows[5].id)
    assert [e.id for e in page] == [rows[i].id for i in (4, 3, 2, 1)]
    later = rows[0].at + timedelta(days=1)
    assert audit.search(db, since=later) == []
    assert len(audit.search(db, until=later)) == 9
    assert audit.count(db, actor="bob") == 3


def test_json_lines_export_is_oldest_first_and_complete(db: Session) -> None:
    import json

    rows = fill(db, 4)
    lines = list(audit.as_json_lines(audit.entries(db)))
    docs = [json.loads(line) for line in lines]
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    assert [d["id"] for d in docs] == [r.id for r in rows]
    assert docs[0]["prev_hash"] == audit.GENESIS and docs[1]["prev_hash"] == docs[0]["hash"]
    assert docs[0]["detail"]["note"] == "é ✓"
    assert set(docs[0]) == {
        "id",
        "at",
        "actor",
        "client_addr",
        "action",
        "target",
        "detail",
        "prev_hash",
        "hash",
    }


# --- what is recorded ------------------------------------------------------------------------


def only(db: Session, action: str) -> AuditEntry:
    (entry,) = audit.search(db, action=action)
    return entry


def test_plan_apply_is_recorded_with_the_change_list_and_counts(db: Session) -> None:
    apply_plan(db, load_plan_text(PLAN, file="/etc/wk/plan.yaml", env={}), actor="cli")
    db.commit()
    entry = only(db, "plan.apply")
    assert (entry.actor, entry.target) == ("cli", "plan/prod")
    assert entry.detail["changes"] == ["+ checks/web", "+ checks/db"]
    assert entry.detail["file"] == "/etc/wk/plan.yaml"
    assert (entry.detail["created"], entry.detail["updated"], entry.detail["deleted"]) == (2, 0, 0)
    assert entry.detail["unchanged"] == 0

    changed = PLAN.replace("port: 5432", "port: 5433").replace("  - {name: web", "  - {name: w2")
    apply_plan(db, load_plan_text(changed, env={}), actor=Actor("alice", "10.1.1.1"))
    db.commit()
    latest = audit.search(db, action="plan.apply")[0]
    assert (latest.actor, latest.client_addr) == ("alice", "10.1.1.1")
    assert sorted(latest.detail["changes"]) == ["+ checks/w2", "- checks/web", "~ checks/db (port)"]
    assert (latest.detail["created"], latest.detail["updated"], latest.detail["deleted"]) == (
        1,
        1,
        1,
    )
    assert audit.verify(db).ok


def test_up_and_sighup_record_their_plan_applies(
    database_url: str, engine: Any, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    settings = load_settings(
        env={}, home=tmp_path / "home", database_url=database_url, plan_path=plan
    )
    ctx = AppContext.create(settings, env={})
    try:
        prepare(ctx, lambda line: None)  # what `watchkeeper up` does at start
        plan.write_text(PLAN.replace("port: 5432", "port: 6432"), encoding="utf-8")
        _reload(ctx)  # the SIGHUP handler
        plan.write_text("checks: [{name: x}]\n", encoding="utf-8")
        _reload(ctx)  # invalid: nothing applied, nothing recorded
        with ctx.sessions() as db:
            applies = list(reversed(audit.search(db, action="plan.apply")))
            assert [(e.actor, e.detail["changes"]) for e in applies] == [
                ("plan", ["+ checks/web", "+ checks/db"]),
                ("SIGHUP", ["~ checks/db (port)"]),
            ]
            assert audit.verify(db).ok
    finally:
        ctx.engine.dispose()


def test_object_create_update_delete_are_recorded_with_before_and_after(db: Session) -> None:
    alice = Actor("alice", "198.51.100.4")
    catalog.create_object(db, "checks", CHECK, alice)
    db.commit()
    catalog.update_object(db, "checks", "cache", {**CHECK, "port": 6380, "retries": 2}, "bob")
    db.commit()
    catalog.delete_object(db, "checks", "cache", Actor("carol", "203.0.113.9"))
    db.commit()

    created, updated, deleted = reversed(audit.search(db, action="object."))
    assert (created.action, created.actor, created.client_addr, created.target) == (
        "object.create",
        "alice",
        "198.51.100.4",
        "checks/cache",
    )
    assert created.detail["changes"]["port"] == {"before": None, "after": 6379}
    assert created.detail["changes"]["host"] == {"before": None, "after": "cache.internal"}
    assert "interval" not in created.detail["changes"]  # defaults are left out

    assert (updated.action, updated.actor, updated.client_addr) == ("object.update", "bob", "")
    assert updated.detail == {
        "changes": {
            "port": {"before": 6379, "after": 6380},
            "retries": {"before": 0, "after": 2},
        }
    }

    assert (deleted.action, deleted.actor, deleted.target) == (
        "object.delete",
        "carol",
        "checks/cache",
    )
    assert deleted.detail["changes"]["port"] == {"before": 6380, "after": None}
    again = audit.verify(db)
    assert (again.ok, again.checked) == (True, 3)


def test_a_refused_change_records_nothing(db: Session) -> None:
    from watchkeeper.exceptions import ConflictError, ValidationFailed

    catalog.create_object(db, "checks", CHECK, "alice")
    db.commit()
    with pytest.raises(ConflictError):
        catalog.create_object(db, "checks", CHECK, "alice")
    with pytest.raises(ValidationFailed):
        catalog.update_object(db, "checks", "cache", {**CHECK, "port": 0}, "alice")
    db.rollback()
    assert [e.action for e in audit.search(db)] == ["object.create"]
