"""The outbox survives SIGKILL: a real `watchkeeper up` is killed mid-delivery and restarted."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.helpers import UpProcess
from tests.notify.outbox_support import ThreadedReceiver, add_row
from watchkeeper.store.engine import make_engine, session_factory
from watchkeeper.store.tables import OutboxNotification, utcnow

GROUPED = [f"a{i}" for i in range(1, 7)]  # one channel and group: delivered in this order
HELD = "a4"  # the receiver keeps this request open; the server is killed meanwhile
SINGLE = ["b1", "b2", "b3"]


def _statuses(db: Session) -> dict[str, str]:
    db.expire_all()
    return {r.key: r.status for r in db.scalars(select(OutboxNotification))}


def _until(predicate: Callable[[], bool], up: UpProcess, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, up.output
        time.sleep(0.05)


def test_sigkill_loses_nothing_and_resends_at_most_the_one_in_flight(tmp_path: Path) -> None:
    plan = tmp_path / "watchkeeper.yaml"
    store = f"sqlite:///{tmp_path / 'home' / 'watchkeeper.db'}"
    with ThreadedReceiver() as receiver:
        receiver.hold = {HELD}
        plan.write_text(
            "version: 1\nnotifications:\n  channels:\n"
            f"    - {{name: hook, type: webhook, url: '{receiver.hook('hook')}'}}\n"
        )
        with UpProcess(tmp_path, plan) as up:
            up.wait_for(r"running at")
            engine = make_engine(store)  # once `up` has made and migrated the store
            sessions = session_factory(engine)
            with sessions() as db:
                for key in GROUPED:
                    add_row(db, key, "hook", utcnow(), group="a")
                for key in SINGLE:
                    add_row(db, key, "hook", utcnow(), group=key)

            def in_flight() -> bool:
                with sessions() as db:
                    done = sorted(k for k, s in _statuses(db).items() if s == "delivered")
                return HELD in receiver.holding and done == ["a1", "a2", "a3", *SINGLE]

            try:
                _until(in_flight, up)
            except AssertionError:
                engine.dispose()
                raise
            up.proc.kill()
            up.proc.wait(10)
        try:
            with sessions() as db:
                assert _statuses(db)[HELD] == "sending"
            with UpProcess(tmp_path, plan) as up:
                up.wait_for(r"running at")

                def all_delivered() -> bool:
                    with sessions() as db:
                        return set(_statuses(db).values()) == {"delivered"}

                _until(all_delivered, up)
                assert up.stop() == 0
        finally:
            engine.dispose()
        assert "Traceback" not in up.output
        sent = Counter(receiver.keys("hook"))
        order = [k for k in receiver.keys("hook") if k.startswith("a") and k != HELD]

    assert set(sent) == {*GROUPED, *SINGLE}
    assert sent[HELD] == 2  # the one in flight when killed, and only that one
    assert all(count == 1 for key, count in sent.items() if key != HELD)
    assert order == [k for k in GROUPED if k != HELD]
