"""The outbox in the store: enqueue once, claim in order with a lease, prune, test sends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.notify.outbox_support import (
    START,
    add_channel,
    add_row,
    message,
    rows,
    set_settings,
)
from watchkeeper.exceptions import NotFoundError
from watchkeeper.notify import outbox
from watchkeeper.notify.interface import from_payload
from watchkeeper.store.tables import Meta, OutboxNotification

LEASE = timedelta(minutes=2)


def test_enqueue_adds_a_key_once_inside_the_callers_transaction(db: Session) -> None:
    kwargs: dict[str, Any] = {
        "batch": "b",
        "channel": "ops",
        "group_key": "g",
        "payload": message("k1"),
    }
    assert outbox.enqueue(db, key="k1", now=START, **kwargs)
    db.commit()
    db.add(Meta(key="before", value="1"))
    assert not outbox.enqueue(db, key="k1", now=START, **kwargs)  # no error, nothing added
    db.add(Meta(key="after", value="1"))  # the transaction is still usable (PostgreSQL too)
    db.commit()
    assert len(rows(db)) == 1
    assert {m.key for m in db.scalars(select(Meta))} >= {"before", "after"}
    row = rows(db)["k1"]
    assert (row.status, row.attempts, row.next_attempt_at, row.created_at) == (
        "pending",
        0,
        START,
        START,
    )


def test_enqueue_refuses_a_key_too_long_for_the_store(db: Session) -> None:
    with pytest.raises(ValueError, match="key is longer than 64 characters"):
        outbox.enqueue(db, key="k" * 65, batch="b", channel="c", group_key="g", payload={})


def test_fallback_keys_fit_the_key_column() -> None:
    assert outbox.fallback_key("batch-1") == "batch-1:fallback"
    long = outbox.fallback_key("b" * 64)
    assert len(long) == 64 and long.endswith(":fallback")
    assert long == outbox.fallback_key("b" * 64) != outbox.fallback_key("b" * 63 + "c")


def test_claim_takes_the_first_unfinished_row_of_each_group(db: Session) -> None:
    for key, channel, group in [
        ("a1", "ops", "A"),
        ("a2", "ops", "A"),
        ("b1", "ops", "B"),
        ("a-other", "pager", "A"),  # same group, other channel: independent
    ]:
        add_row(db, key, channel, START, group=group)
    claimed = outbox.claim_due(db, now=START, limit=10, lease=LEASE)
    db.commit()
    assert [c.key for c in claimed] == ["a1", "b1", "a-other"]
    assert {c.lease_until for c in claimed} == {START + LEASE}
    assert outbox.claim_due(db, now=START, limit=10, lease=LEASE) == []  # a2 waits for a1

    (a1, b1, other) = claimed
    assert outbox.retry_later(db, a1, when=START + timedelta(seconds=30), error="HTTP 500")
    db.commit()
    assert outbox.claim_due(db, now=START + timedelta(seconds=10), limit=10, lease=LEASE) == []
    assert outbox.mark_delivered(db, b1, now=START)
    assert outbox.mark_failed(db, other, error="HTTP 400")
    db.commit()
    later = START + timedelta(seconds=30)
    assert [c.key for c in outbox.claim_due(db, now=later, limit=10, lease=LEASE)] == ["a1"]
    db.commit()
    found = rows(db)
    assert (found["a1"].attempts, found["a1"].last_error) == (1, "HTTP 500")
    assert (found["b1"].status, found["b1"].delivered_at) == ("delivered", START)
    assert (found["a-other"].status, found["a-other"].last_error) == ("failed", "HTTP 400")


def test_claim_respects_the_limit(db: Session) -> None:
    for i in range(5):
        add_row(db, f"n{i}", "ops", START, group=f"g{i}")
    first = outbox.claim_due(db, now=START, limit=2, lease=LEASE)
    second = outbox.claim_due(db, now=START, limit=10, lease=LEASE)
    db.commit()
    assert [c.key for c in first] == ["n0", "n1"]
    assert [c.key for c in second] == ["n2", "n3", "n4"]


def test_an_expired_lease_lets_another_worker_take_the_row(db: Session) -> None:
    add_row(db, "n1", "ops", START)
    (held,) = outbox.claim_due(db, now=START, limit=1, lease=LEASE)
    db.commit()
    assert (
        outbox.claim_due(db, now=START + LEASE - timedelta(seconds=1), limit=1, lease=LEASE) == []
    )
    (again,) = outbox.claim_due(db, now=START + LEASE, limit=1, lease=LEASE)
    db.commit()
    assert again.lease_until == START + 2 * LEASE
    # The first holder's outcome no longer counts; a delivery is still recorded.
    assert not outbox.mark_failed(db, held, error="late")
    assert not outbox.defer(db, held, when=START)
    assert outbox.mark_delivered(db, held, now=START + LEASE)
    db.commit()
    assert rows(db)["n1"].status == "delivered"
    assert not outbox.retry_later(db, again, when=START, error="x")


def test_take_back_returns_sending_rows_to_pending(db: Session) -> None:
    add_row(db, "n1", "ops", START)
    outbox.claim_due(db, now=START, limit=1, lease=LEASE)
    assert outbox.take_back_sending(db) == 1
    db.commit()
    row = rows(db)["n1"]
    assert (row.status, row.lease_until, row.attempts) == ("pending", None, 0)


def test_batch_is_exhausted_when_every_primary_row_failed_or_tried_enough(db: Session) -> None:
    add_row(db, "x-a", "a", START, batch="x")
    add_row(db, "x-b", "b", START, batch="x")
    a, b = outbox.claim_due(db, now=START, limit=5, lease=LEASE)
    outbox.mark_failed(db, a, error="404")
    assert outbox.batch_exhausted(db, "x", fallback_after=2) is None  # b is being sent
    outbox.retry_later(db, b, when=START, error="500")
    assert outbox.batch_exhausted(db, "x", fallback_after=2) is None  # one attempt only
    assert outbox.batch_exhausted(db, "x", fallback_after=1) == ["a", "b"]
    assert outbox.batch_exhausted(db, "nothing", fallback_after=1) is None


def test_prune_keeps_unfinished_and_recent_rows(db: Session) -> None:
    set_settings(db, keep="7d")
    old, recent = START - timedelta(days=8), START - timedelta(days=1)
    for key, at in [("old-done", old), ("old-failed", old), ("old-pending", old)]:
        add_row(db, key, "ops", at, group=key)
    add_row(db, "recent-done", "ops", recent, group="r")
    claimed = {c.key: c for c in outbox.claim_due(db, now=START, limit=10, lease=LEASE)}
    outbox.mark_delivered(db, claimed["old-done"], now=old)
    outbox.mark_failed(db, claimed["old-failed"], error="x")
    outbox.mark_delivered(db, claimed["recent-done"], now=recent)
    outbox.retry_later(db, claimed["old-pending"], when=START, error="x")
    db.commit()
    assert outbox.prune(db, now=START) == 2
    db.commit()
    assert sorted(rows(db)) == ["old-pending", "recent-done"]
    assert outbox.prune(db, now=START, keep=timedelta(hours=1)) == 1


def test_queue_stats_count_unfinished_rows(db: Session) -> None:
    assert outbox.queue_stats(db, now=START) == (0, 0.0)
    add_row(db, "n1", "ops", START - timedelta(seconds=90), group="a")
    add_row(db, "n2", "ops", START, group="b")
    assert outbox.queue_stats(db, now=START) == (2, 90.0)


def test_send_test_queues_one_sample_alert(db: Session) -> None:
    add_channel(db, "ops", "http://127.0.0.1:9/hook")
    row_id = outbox.send_test(db, "ops", "alice")
    db.commit()
    row = db.get(OutboxNotification, row_id)
    assert row is not None and row.channel == "ops" and row.key.startswith("test:")
    note = from_payload(row.id, row.key, row.channel, row.payload)
    assert note.test and len(note.alerts) == 1 and note.status == "firing"
    assert note.alerts[0].labels["alertname"] == "WatchkeeperTest"
    assert note.extra == {"requested_by": "alice"}
    assert outbox.send_test(db, "ops", "alice") != row_id  # each test is its own row


def test_send_test_to_an_unknown_channel_is_a_clear_error(db: Session) -> None:
    with pytest.raises(NotFoundError, match='no notification channel is named "nope"'):
        outbox.send_test(db, "nope", "alice")
