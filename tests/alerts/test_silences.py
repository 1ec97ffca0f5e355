"""Silences: validation (Alertmanager's rules), states over time, expiry, what the
dispatcher asks (active silences, which silence an alert), and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from watchkeeper.alerts import silences
from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.store.tables import utcnow

ALICE = Actor("alice", "192.0.2.7")


def create(db: Session, matchers: list[str], **kw: object) -> silences.SilenceView:
    now = utcnow()
    args: dict[str, object] = {
        "ends_at": now + timedelta(hours=2),
        "comment": "db-1 disk swap",
        "created_by": "alice",
        "now": now,
    }
    args.update(kw)
    return silences.create_silence(db, ALICE, matchers, **args)  # type: ignore[arg-type]


def errors_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return dict(exc.value.errors)


def test_a_silence_stores_its_matchers_normalised_and_is_active(db: Session) -> None:
    view = create(db, ['alertname="DiskFull"', "instance=~db-.*", "", "env!=staging"])
    db.commit()
    assert view.state == "active"
    assert view.matchers == ['alertname="DiskFull"', 'instance=~"db-.*"', 'env!="staging"']
    assert silences.get_silence(db, view.id) == view
    assert len(view.id) == 36


@pytest.mark.parametrize(
    ("matchers", "field", "words"),
    [
        ([], "matchers", "at least one"),
        (["   "], "matchers", "at least one"),
        (["instance=~.*"], "matchers", "every alert"),
        (['env!="prod"', 'team=~""'], "matchers", "every alert"),
        (['alertname="A"', "not a matcher"], "matchers[1]", "is not a label matcher"),
        (['alertname=~"("'], "matchers[0]", "regular expression"),
    ],
)
def test_bad_matchers_are_refused_by_line(
    db: Session, matchers: list[str], field: str, words: str
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        create(db, matchers)
    assert words in errors_of(exc)[field]


def test_times_comment_and_author_are_checked_together(db: Session) -> None:
    now = utcnow()
    with pytest.raises(ValidationFailed) as exc:
        create(
            db,
            ["alertname=A"],
            starts_at=now + timedelta(hours=1),
            ends_at=now + timedelta(minutes=30),
            comment="  ",
            created_by="",
        )
    problems = errors_of(exc)
    assert problems["endsAt"] == "must be after the start"
    assert set(problems) == {"endsAt", "comment", "createdBy"}
    with pytest.raises(ValidationFailed) as exc:
        create(db, ["alertname=A"], ends_at=now - timedelta(minutes=1))
    assert errors_of(exc) == {"endsAt": "must be after the start"}
    with pytest.raises(ValidationFailed) as exc:
        create(db, ["alertname=A"], ends_at=None)
    assert "endsAt" in errors_of(exc)
    with pytest.raises(ValidationFailed) as exc:
        create(db, ["alertname=A"], ends_at=(now + timedelta(hours=1)).replace(tzinfo=None))
    assert "time zone" in errors_of(exc)["endsAt"]


def test_states_over_time_and_listing_order(db: Session) -> None:
    now = utcnow()
    soon = create(db, ["alertname=Soon"], ends_at=now + timedelta(minutes=5))
    later = create(db, ["alertname=Later"], ends_at=now + timedelta(hours=5))
    pending = create(
        db,
        ["alertname=Tonight"],
        starts_at=now + timedelta(hours=8),
        ends_at=now + timedelta(hours=10),
    )
    db.commit()
    assert pending.state == "pending"
    assert [s.id for s in silences.list_silences(db, "active")] == [soon.id, later.id]
    assert [s.id for s in silences.list_silences(db, "pending")] == [pending.id]
    assert silences.list_silences(db, "expired") == []
    in_a_day = now + timedelta(days=1)
    assert {s.id for s in silences.list_silences(db, "expired", now=in_a_day)} == {
        soon.id,
        later.id,
        pending.id,
    }
    assert silences.get_silence(db, pending.id, now + timedelta(hours=9)).state == "active"
    # Everything, in one list: active, then pending, then expired.
    assert [s.state for s in silences.list_silences(db, now=now + timedelta(hours=1))] == [
        "active",
        "pending",
        "expired",
    ]


def test_expire_ends_it_now_and_twice_is_a_conflict(db: Session) -> None:
    view = create(db, ["alertname=DiskFull"])
    db.commit()
    expired = silences.expire_silence(db, ALICE, view.id)
    db.commit()
    assert expired.state == "expired"
    assert expired.ends_at <= utcnow()
    with pytest.raises(ConflictError, match="already expired"):
        silences.expire_silence(db, ALICE, view.id)
    with pytest.raises(NotFoundError):
        silences.expire_silence(db, ALICE, "no-such-silence")
    with pytest.raises(NotFoundError):
        silences.get_silence(db, "x" * 100)


def test_expiring_a_pending_silence_means_it_never_starts(db: Session) -> None:
    now = utcnow()
    view = create(
        db, ["alertname=A"], starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2)
    )
    expired = silences.expire_silence(db, ALICE, view.id)
    assert expired.state == "expired"
    assert expired.starts_at == expired.ends_at


def test_active_silences_and_silenced_by(db: Session) -> None:
    now = utcnow()
    disk = create(db, ["alertname=DiskFull", 'instance=~"db-.*"'])
    db1 = create(db, ['instance="db-1"'])
    create(db, ["alertname=DiskFull"], starts_at=now + timedelta(hours=1))  # not yet
    gone = create(db, ["alertname=DiskFull"])
    silences.expire_silence(db, ALICE, gone.id)
    db.commit()
    active = silences.active_silences(db)
    assert {s.id for s in active} == {disk.id, db1.id}
    labels = {"alertname": "DiskFull", "instance": "db-1", "severity": "critical"}
    assert sorted(silences.silenced_by(labels, active)) == sorted([disk.id, db1.id])
    assert silences.silenced_by({**labels, "instance": "db-2"}, active) == [disk.id]
    assert silences.silenced_by({**labels, "instance": "web-1"}, active) == []
    assert silences.silenced_by({"alertname": "Other"}, active) == []


def test_create_and_expire_are_in_the_audit_trail(db: Session) -> None:
    view = create(db, ["alertname=DiskFull"])
    silences.expire_silence(db, Actor("bob", "192.0.2.8"), view.id)
    db.commit()
    entries = audit.search(db, action="silence.")
    assert [(e.action, e.actor, e.target) for e in entries] == [
        ("silence.expire", "bob", f"silence/{view.id}"),
        ("silence.create", "alice", f"silence/{view.id}"),
    ]
    assert entries[1].detail["matchers"] == ['alertname="DiskFull"']
    assert entries[1].detail["comment"] == "db-1 disk swap"
    assert entries[1].client_addr == "192.0.2.7"
    assert audit.verify(db).ok


def test_new_silence_path_prefills_one_matcher_per_label() -> None:
    path = silences.new_silence_path({"instance": "db-1", "alertname": 'Disk "full"'})
    assert path == (
        "/alerts/silences/new?matcher=alertname%3D%22Disk+%5C%22full%5C%22%22"
        "&matcher=instance%3D%22db-1%22"
    )
