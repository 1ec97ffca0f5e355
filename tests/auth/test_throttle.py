"""Login throttling and lockout, on the store (both databases)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from watchkeeper.auth import throttle
from watchkeeper.store.tables import LoginFailure, utcnow


def fail(
    db: Session, name: str, n: int, addr: str = "10.0.0.1", ago: timedelta = timedelta(0)
) -> None:
    at = utcnow() - ago
    for _ in range(n):
        db.add(LoginFailure(username=name.casefold(), client_addr=addr, at=at))
    db.flush()


def test_first_failures_are_not_delayed(db: Session) -> None:
    fail(db, "ann", throttle.DELAY_AFTER - 1)
    assert throttle.check(db, "ann", "10.0.0.1").allowed


def test_delay_grows_after_a_few_failures(db: Session) -> None:
    fail(db, "ann", throttle.DELAY_AFTER + 2)
    verdict = throttle.check(db, "ann", "10.0.0.2")
    assert not verdict.allowed and not verdict.locked
    assert verdict.retry_after == 4  # 2 ** (5 - 3) seconds after the last failure


def test_delay_has_passed(db: Session) -> None:
    fail(db, "ann", throttle.DELAY_AFTER + 2, ago=timedelta(seconds=5))
    assert throttle.check(db, "ann", "10.0.0.2").allowed


def test_lock_after_repeated_failures_then_it_ends(db: Session) -> None:
    fail(db, "ann", throttle.LOCK_AFTER)
    verdict = throttle.check(db, "ann", "10.9.9.9")
    assert verdict.locked and 0 < verdict.retry_after <= 15 * 60
    later = utcnow() + throttle.LOCK_FOR + timedelta(seconds=1)
    assert throttle.check(db, "ann", "10.9.9.9", now=later).allowed


def test_names_are_matched_case_insensitively(db: Session) -> None:
    fail(db, "Ann", throttle.LOCK_AFTER)
    assert throttle.is_locked(db, "ANN")


def test_failures_outside_the_window_do_not_count(db: Session) -> None:
    fail(db, "ann", throttle.LOCK_AFTER, ago=throttle.WINDOW + timedelta(seconds=1))
    assert throttle.check(db, "ann", "10.0.0.1").allowed


def test_password_spraying_from_one_address_is_refused(db: Session) -> None:
    for i in range(throttle.ADDRESS_LIMIT):
        fail(db, f"user{i}", 1, addr="192.0.2.7")
    verdict = throttle.check(db, "someone-else", "192.0.2.7")
    assert not verdict.allowed and not verdict.locked
    assert throttle.check(db, "someone-else", "192.0.2.8").allowed


def test_record_failure_reports_the_failure_that_locks(db: Session) -> None:
    results = [throttle.record_failure(db, "bob", "10.0.0.1") for _ in range(throttle.LOCK_AFTER)]
    assert results == [False] * (throttle.LOCK_AFTER - 1) + [True]


def test_clear_lifts_a_lock(db: Session) -> None:
    fail(db, "bob", throttle.LOCK_AFTER)
    assert throttle.clear(db, "BOB") == throttle.LOCK_AFTER
    assert throttle.check(db, "bob", "10.0.0.1").allowed


def test_purge_drops_only_old_failures(db: Session) -> None:
    fail(db, "old", 3, ago=throttle.KEEP_FOR + timedelta(minutes=1))
    fail(db, "new", 2)
    assert throttle.purge_old(db) == 3


def test_at_most_100_failures_per_hour_are_possible() -> None:
    """The fastest attacker: LOCK_AFTER guesses as fast as the delays allow, then wait out
    the lock, again and again. NIST SP 800-63B caps failed attempts at 100 per hour."""
    delays = sum(
        min(2 ** (n - throttle.DELAY_AFTER), throttle.MAX_DELAY.total_seconds())
        for n in range(throttle.DELAY_AFTER, throttle.LOCK_AFTER)
    )
    cycle = timedelta(seconds=delays) + throttle.LOCK_FOR
    cycles_per_hour = -(-timedelta(hours=1) // cycle)  # a cycle begun in the hour counts
    assert throttle.LOCK_AFTER * cycles_per_hour <= 100
    assert throttle.LOCK_AFTER * cycles_per_hour == 40  # the figure docs/security.md gives
