"""The token that tells the check runner, the alert evaluator and the hardening service
whether the stored checks changed: it moves on every add, change and removal, and only then."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.plan import catalog
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.kind_version import KindCache, KindVersion, kind_version


def apply(sessions: sessionmaker[Session], checks: str) -> None:
    with sessions() as db:
        apply_plan(db, load_plan_text("checks:\n" + checks))
        db.commit()


def version(sessions: sessionmaker[Session]) -> KindVersion:
    with sessions() as db:
        return kind_version(db, "checks")


A = "  - {name: a, type: tcp, host: 127.0.0.1, port: 1}\n"
B = "  - {name: b, type: tcp, host: 127.0.0.1, port: 2}\n"


def test_it_moves_on_every_change_of_the_kind_and_only_then(
    sessions: sessionmaker[Session],
) -> None:
    empty = version(sessions)
    apply(sessions, A)
    one = version(sessions)
    assert one != empty
    apply(sessions, A)  # the same plan again: nothing written
    assert version(sessions) == one
    apply(sessions, A.replace("port: 1", "port: 3"))  # changed
    changed = version(sessions)
    assert changed != one
    apply(sessions, B)  # a removed, b added: the same count
    swapped = version(sessions)
    assert swapped != changed
    with sessions() as db:  # sealing the stored specs again does not change what they say
        catalog.seal_stored(db)
        db.commit()
    assert version(sessions) == swapped
    apply(sessions, B + A)  # a added
    assert version(sessions) != swapped
    apply(sessions, A)  # b removed
    assert version(sessions)[0] == 1


def test_a_kind_cache_computes_again_only_when_the_kind_changed(
    sessions: sessionmaker[Session],
) -> None:
    calls: list[Session] = []

    def compute(db: Session) -> int:
        calls.append(db)
        return len(calls)

    cache = KindCache("checks", compute)
    apply(sessions, A)
    with sessions() as db:
        assert cache.get(db) == cache.get(db) == 1
    apply(sessions, A + B)
    with sessions() as db:
        assert cache.get(db) == 2
