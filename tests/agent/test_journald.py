"""Reading the journal through a fake ``journalctl`` on PATH, which prints recorded
``-o json`` entries (a real journal is not available in CI) and follows the recording as the
test appends to it, honouring --lines=0, --after-cursor, --since and --unit as journalctl
does."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.agent.logutil import Shipper, spooled_lines
from watchkeeper.agent import journald
from watchkeeper.agent.log_sources import LogSources
from watchkeeper.logs.config import JournaldSource

FAKE = """#!{python}
import json, sys, time
journal, calls = {journal!r}, {calls!r}
args = sys.argv[1:]
def value(prefix):
    return next((a[len(prefix):] for a in args if a.startswith(prefix)), None)
def entries():
    try:
        with open(journal) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []
after, since, units = value("--after-cursor="), value("--since=@"), [
    a[len("--unit="):] for a in args if a.startswith("--unit=")
]
seen = entries()
if after is not None:
    cursors = [e["__CURSOR"] for e in seen]
    if after not in cursors:
        with open(calls, "a") as fh:
            fh.write(json.dumps(args) + "\\n")
        print("Failed to seek to cursor: Invalid argument", file=sys.stderr)
        sys.exit(1)
    position = cursors.index(after) + 1
elif since is not None:
    position = next(
        (i for i, e in enumerate(seen) if int(e["__REALTIME_TIMESTAMP"]) >= int(since) * 10**6),
        len(seen),
    )
elif "--lines=0" in args:
    position = len(seen)
else:
    position = max(0, len(seen) - 10)
with open(calls, "a") as fh:  # once the starting point is known
    fh.write(json.dumps(args) + "\\n")
while True:
    current = entries()
    for entry in current[position:]:
        if not units or entry.get("_SYSTEMD_UNIT") in units:
            print(json.dumps(entry), flush=True)
    position = len(current)
    time.sleep(0.02)
"""


class Journal:
    """The recording the fake journalctl follows, and the arguments it was called with."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "journal.jsonl"
        self.calls = directory / "calls.jsonl"
        self.count = 0
        self.entries: list[dict[str, Any]] = []

    def add(self, message: Any, **fields: Any) -> str:
        self.count += 1
        cursor = f"s=abc;i={self.count:x}"
        entry = {
            "__CURSOR": cursor,
            "__REALTIME_TIMESTAMP": str(time.time_ns() // 1000),
            "MESSAGE": message,
            "PRIORITY": "6",
            "_SYSTEMD_UNIT": "shop.service",
            **fields,
        }
        with self.path.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")
        self.entries.append(entry)
        return cursor

    def args(self) -> list[list[str]]:
        return [json.loads(line) for line in self.calls.read_text().splitlines()]


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Journal:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = Journal(tmp_path)
    script = bin_dir / "journalctl"
    script.write_text(
        FAKE.format(python=sys.executable, journal=str(fake.path), calls=str(fake.calls))
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return fake


async def run_until(
    shipper: Shipper, predicate: Callable[[], bool], what: str, timeout: float = 20
) -> None:
    """Run the shipper's loop until ``predicate`` holds; the loop is stopped after."""
    stop = asyncio.Event()
    task = asyncio.create_task(shipper.shipper.run(stop, lambda: None))
    try:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task


def gathered(
    s: Shipper, got: list[Any], count: int, take: Callable[[dict[str, Any]], Any] = lambda x: x
) -> Callable[[], bool]:
    """A condition: ``count`` lines (through ``take``) have been spooled into ``got``."""

    def check() -> bool:
        got.extend(take(line) for line in spooled_lines(s.spool))
        return len(got) >= count

    return check


def shipper(tmp_path: Path, *sources: JournaldSource) -> Shipper:
    s = Shipper(tmp_path, [], journald_restart=0.05, log_sources_every=3600)
    s.shipper._plan = LogSources(journald=list(sources))
    return s


def test_entries_become_lines_with_app_unit_level_and_host(
    tmp_path: Path, journal: Journal
) -> None:
    journal.add("before the agent: not read")
    got: list[dict[str, Any]] = []

    async def scenario() -> None:
        s = shipper(tmp_path, JournaldSource(name="system", labels={"env": "prod"}))
        try:
            await run_until(s, lambda: any(s.shipper.journals.values()), "the reader")
            await run_until(s, lambda: journal.calls.exists(), "journalctl to start")
            journal.add("accepted order 17", SYSLOG_IDENTIFIER="shop", PRIORITY="4")
            journal.add(list(b"caf\xe9 binary"), PRIORITY="3")  # not UTF-8: bytes
            journal.add(None)  # no message: skipped, its cursor still counts
            journal.add("disk is on fire", PRIORITY="2", _SYSTEMD_UNIT="kernel.service")
            await run_until(s, gathered(s, got, 3), "lines")
        finally:
            await s._close()

    asyncio.run(scenario())
    assert [line["message"] for line in got] == [
        "accepted order 17",
        "caf\ufffd binary",
        "disk is on fire",
    ]
    base = {"source": "journald", "env": "prod", "host": "test-host"}
    assert [line["labels"] for line in got] == [
        {**base, "app": "shop", "unit": "shop.service", "level": "warn"},
        {**base, "app": "shop.service", "unit": "shop.service", "level": "error"},
        {**base, "app": "kernel.service", "unit": "kernel.service", "level": "critical"},
    ]
    assert got[0]["timestamp"] == int(journal.entries[1]["__REALTIME_TIMESTAMP"]) * 1000
    assert "--lines=0" in journal.args()[0] and "--output=json" in journal.args()[0]


def test_a_restart_continues_after_the_saved_cursor(tmp_path: Path, journal: Journal) -> None:
    source = JournaldSource(name="shop", units=["shop.service"])
    got: list[str] = []
    cursors: list[str] = []

    def collect(s: Shipper, count: int) -> Callable[[], bool]:
        return gathered(s, got, count, lambda line: line["message"])

    async def first() -> None:
        s = shipper(tmp_path, source)
        try:
            await run_until(s, lambda: journal.calls.exists(), "journalctl to start")
            journal.add("one")
            journal.add("not ours", _SYSTEMD_UNIT="other.service")
            cursors.append(journal.add("two"))
            await run_until(s, collect(s, 2), "the first lines")
        finally:
            await s._close()

    async def second() -> None:
        s = shipper(tmp_path, source)
        try:
            await run_until(s, collect(s, 4), "the lines written while stopped")
        finally:
            await s._close()

    asyncio.run(first())
    journal.add("three")  # while the agent is stopped
    journal.add("four")
    asyncio.run(second())
    assert got == ["one", "two", "three", "four"]
    first_call, second_call = journal.args()[:2]
    assert "--unit=shop.service" in first_call
    assert f"--after-cursor={cursors[0]}" in second_call


def test_a_source_that_saw_no_entry_yet_continues_from_when_it_started(
    tmp_path: Path, journal: Journal
) -> None:
    source = JournaldSource(name="quiet")

    async def first() -> None:
        s = shipper(tmp_path, source)
        try:
            await run_until(s, lambda: journal.calls.exists(), "journalctl to start")
        finally:
            await s._close()

    async def second() -> list[str]:
        s = shipper(tmp_path, source)
        got: list[str] = []
        try:
            await run_until(
                s,
                gathered(s, got, 1, lambda line: line["message"]),
                "the line written while stopped",
            )
        finally:
            await s._close()
        return got

    asyncio.run(first())
    journal.add("while the agent was stopped")
    assert asyncio.run(second()) == ["while the agent was stopped"]
    assert any(arg.startswith("--since=@") for arg in journal.args()[1])


def test_a_refused_cursor_falls_back_to_new_entries(
    tmp_path: Path, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "spool" / "state"
    state.mkdir(parents=True)
    (state / "log-positions.json").write_text(
        json.dumps(
            {
                "version": 1,
                "gen": 1,
                "sources": {"journald/plan/system": {"cursor": "s=gone;i=1"}},
            }
        )
    )

    async def scenario() -> list[str]:
        s = shipper(tmp_path, JournaldSource(name="system"))
        got: list[str] = []
        try:
            await run_until(
                s,
                lambda: len(journal.args()) >= 2 if journal.calls.exists() else False,
                "journalctl to be started again",
            )
            journal.add("new")
            await run_until(
                s,
                gathered(s, got, 1, lambda line: line["message"]),
                "the new line",
            )
        finally:
            await s._close()
        return got

    with caplog.at_level(logging.WARNING, logger="watchkeeper.agent"):
        assert asyncio.run(scenario()) == ["new"]
    assert "refused the saved cursor" in caplog.text
    assert "--lines=0" in journal.args()[1]


def test_without_journalctl_one_warning_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(journald, "_missing_warned", False)

    async def scenario() -> None:
        s = shipper(tmp_path, JournaldSource(name="a"), JournaldSource(name="b"))
        try:
            await run_until(s, lambda: "not installed" in caplog.text, "the warning")
            await run_until(
                s, lambda: all(t.done() for t in s.shipper._tasks.values()), "the readers"
            )
        finally:
            await s._close()

    with caplog.at_level(logging.WARNING, logger="watchkeeper.agent"):
        asyncio.run(scenario())
    assert caplog.text.count("not installed") == 1
