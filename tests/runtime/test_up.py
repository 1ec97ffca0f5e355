"""The `watchkeeper up` process: SIGHUP re-applies the plan, a bad plan keeps the last good one."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from signal import SIGHUP

from tests.helpers import UpProcess

ROOT = Path(__file__).resolve().parents[2]
EXTRA_CHECK = """
  - name: added-by-sighup
    type: tcp
    host: 127.0.0.1
    port: 6379
"""


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _until(predicate, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_sighup_applies_the_changed_plan_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    plan = tmp_path / "watchkeeper.yaml"
    shutil.copy(ROOT / "examples" / "watchkeeper.yaml", plan)
    shutil.copytree(ROOT / "examples" / "runbooks", tmp_path / "runbooks")  # runbooks.folder
    db = tmp_path / "home" / "watchkeeper.db"
    names = "SELECT name FROM objects WHERE kind = 'checks' ORDER BY name"
    with UpProcess(tmp_path, plan) as up:
        up.wait_for(r"running at")
        assert len(_query(db, names)) == 4

        text = plan.read_text().replace("\nchecks:\n", "\nchecks:" + EXTRA_CHECK, 1)
        plan.write_text(text)
        up.proc.send_signal(SIGHUP)
        _until(lambda: ("added-by-sighup",) in _query(db, names))
        assert _query(db, "SELECT actor FROM plan_applies ORDER BY id DESC LIMIT 1") == [
            ("SIGHUP",)
        ]

        plan.write_text(text.replace("interval: 30s", "interval: 30 seconds", 1))
        up.proc.send_signal(SIGHUP)
        _until(lambda: bool(_query(db, "SELECT value FROM meta WHERE key = 'plan_error'")))
        (error,) = _query(db, "SELECT value FROM meta WHERE key = 'plan_error'")[0]
        assert 'checks[1].interval: "30 seconds" is not a duration' in str(error)
        assert len(_query(db, names)) == 5  # the last good plan stays in force

        assert up.stop() == 0
    assert "not applied; the last good plan stays in force" in up.output
    assert "Traceback" not in up.output
