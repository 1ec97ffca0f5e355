"""Read the systemd journal through ``journalctl -o json --follow``.

``journalctl`` is the journal's stable interface (the file format and libsystemd's API need
a C binding); each entry it prints carries a cursor, and the cursor of the last entry put
into the spool is the source's position. After a restart ``--after-cursor`` continues right
after it. A source seen for the first time starts with new entries (``--lines=0``); if no
entry came before the agent stopped, it continues from the time it first started.

Labels: ``source=journald``, ``host`` (the agent's), ``app`` (``SYSLOG_IDENTIFIER``, else the
unit), ``unit`` and ``level`` (from ``PRIORITY``), plus the source's own labels.
Without ``journalctl`` (not a systemd host, or a container) one warning is logged and the
source does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import threading
import time
from collections import deque
from typing import Any

from watchkeeper.agent.multiline import Event
from watchkeeper.logs.config import JournaldSource
from watchkeeper.logs.model import MAX_LINE_BYTES

log = logging.getLogger(__name__)

PRIORITY_LEVELS = {
    "0": "critical",
    "1": "critical",
    "2": "critical",
    "3": "error",
    "4": "warn",
    "5": "info",
    "6": "info",
    "7": "debug",
}
FIELDS = (
    "MESSAGE",
    "PRIORITY",
    "SYSLOG_IDENTIFIER",
    "_SYSTEMD_UNIT",
    "_SOURCE_REALTIME_TIMESTAMP",
)
MAX_ENTRY_BYTES = 4 << 20  # a JSON entry (binary messages are arrays of numbers: 4x)
_missing_warned = False


def journal_event(
    entry: dict[str, Any], base: dict[str, str]
) -> tuple[Event, dict[str, str]] | None:
    """Return the event and labels of one ``journalctl -o json`` entry; None when it has
    no message."""
    message = _text(entry.get("MESSAGE"))
    if not message or not message.strip():
        return None
    if len(message) * 4 > MAX_LINE_BYTES:
        message = message.encode()[:MAX_LINE_BYTES].decode("utf-8", "ignore")
    stamp = _text(entry.get("_SOURCE_REALTIME_TIMESTAMP")) or _text(
        entry.get("__REALTIME_TIMESTAMP")
    )
    ts = int(stamp) * 1000 if stamp and stamp.isdigit() else time.time_ns()
    unit = _text(entry.get("_SYSTEMD_UNIT")) or ""
    labels = dict(base)
    labels["app"] = _text(entry.get("SYSLOG_IDENTIFIER")) or unit
    labels["unit"] = unit
    labels["level"] = PRIORITY_LEVELS.get(_text(entry.get("PRIORITY")) or "", "")
    return Event(message, ts, 0, 0), {k: v for k, v in labels.items() if v}


def _text(value: Any) -> str | None:
    """A journal field as text: a string, an array of bytes (not UTF-8 in the journal), or
    an array of those when the field was given several times."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        if all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return bytes(value).decode("utf-8", "replace")
        parts = [_text(v) for v in value]
        return "\n".join(p for p in parts if p is not None)
    return None


class JournaldReader:
    """One ``logs.journald`` source: a ``journalctl`` process and the entries it printed
    that are not in the spool yet. ``run`` in the event loop; the shipper ``take``s."""

    def __init__(
        self,
        source_id: str,
        source: JournaldSource,
        host: str,
        state: dict[str, Any] | None,
        *,
        command: str = "journalctl",
        restart_delay: float = 5.0,
        max_buffered: int = 10_000,
    ) -> None:
        self.source_id = source_id
        self.source = source
        self.command = command
        self.restart_delay = restart_delay
        self.max_buffered = max_buffered
        state = state or {}
        self._cursor: str | None = state.get("cursor")  # the last one in the spool
        self._since_us: int = int(state.get("since_us") or time.time_ns() // 1000)
        self._read_cursor = self._cursor  # the last one read from journalctl
        self._first_time = not state
        self._taken: list[tuple[Event, dict[str, str], str]] = []
        self._buffer: deque[tuple[Event, dict[str, str], str]] = deque()
        self._lock = threading.Lock()
        self._stop = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._base = {"source": "journald", **source.labels, "host": host}
        self.entries = 0
        self.running = False

    def state(self) -> dict[str, Any]:
        """The position once the entries taken are in the spool."""
        with self._lock:
            cursor = self._taken[-1][2] if self._taken else self._cursor
        return {"cursor": cursor} if cursor else {"since_us": self._since_us}

    def take(self, limit: int) -> list[tuple[Event, dict[str, str]]]:
        """Take up to ``limit`` buffered entries for a batch (thread-safe); ``done`` or
        ``restore`` must follow."""
        with self._lock:
            while self._buffer and len(self._taken) < limit:
                self._taken.append(self._buffer.popleft())
            return [(event, labels) for event, labels, _ in self._taken]

    def done(self) -> None:
        """The taken entries are in the spool."""
        with self._lock:
            if self._taken:
                self._cursor = self._taken[-1][2]
            self._taken.clear()

    def restore(self) -> None:
        """The taken entries could not be spooled: they go back, first in line."""
        with self._lock:
            self._buffer.extendleft(reversed(self._taken))
            self._taken.clear()

    def _args(self) -> list[str]:
        args = [
            self.command,
            "--output=json",
            "--follow",
            "--no-pager",
            "--output-fields=" + ",".join(FIELDS),
        ]
        if self._read_cursor:
            args += [f"--after-cursor={self._read_cursor}", "--no-tail"]
        elif self._first_time:
            args.append("--lines=0")
        else:
            args += [f"--since=@{self._since_us // 1_000_000}", "--no-tail"]
        args += [f"--unit={unit}" for unit in self.source.units]
        return args

    async def run(self) -> None:
        """Follow the journal until ``stop``; restart ``journalctl`` when it ends."""
        global _missing_warned
        if shutil.which(self.command) is None:
            if not _missing_warned:
                _missing_warned = True
                log.warning(
                    "logs.journald %s: %s is not installed; the journal is not read",
                    self.source.name,
                    self.command,
                )
            return
        self.running = True
        try:
            while not self._stop.is_set():
                code, errors = await self._follow()
                if self._stop.is_set():
                    break
                if code:
                    log.warning(
                        "logs.journald %s: journalctl ended with status %s: %s",
                        self.source.name,
                        code,
                        errors or "(nothing on stderr)",
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.restart_delay)
        finally:
            self.running = False

    async def _follow(self) -> tuple[int | None, str]:
        started_with = self._read_cursor
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._args(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=MAX_ENTRY_BYTES,
            )
        except OSError as exc:
            return -1, str(exc)
        self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        errors = asyncio.create_task(proc.stderr.read())
        got = 0
        try:
            while not self._stop.is_set():
                try:
                    line = await proc.stdout.readline()
                except ValueError:
                    log.warning("logs.journald %s: skipped an oversized entry", self.source.name)
                    continue
                if not line:
                    break
                got += self._add(line)
                while len(self._buffer) >= self.max_buffered and not self._stop.is_set():
                    await asyncio.sleep(0.05)  # the pipe fills and journalctl waits
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
            code = await proc.wait()
            self._proc = None
        text = (await errors).decode("utf-8", "replace").strip().splitlines()
        if code and started_with and not got:
            # A cursor journalctl refuses (the journal was replaced): start from now on.
            log.warning(
                "logs.journald %s: journalctl refused the saved cursor; continuing with new "
                "entries (some may be missed)",
                self.source.name,
            )
            self._read_cursor = None
            self._first_time = True
        return code, " ".join(text[:3])

    def _add(self, line: bytes) -> int:
        try:
            entry = json.loads(line)
            cursor = entry["__CURSOR"]
        except (ValueError, KeyError, TypeError):
            return 0
        self._read_cursor = cursor
        made = journal_event(entry, self._base)
        with self._lock:
            if made is not None:
                self._buffer.append((*made, cursor))
            elif self._buffer:
                # Nothing to ship, but the position moves past it with the last entry.
                event, labels, _ = self._buffer[-1]
                self._buffer[-1] = (event, labels, cursor)
            else:
                self._cursor = cursor if not self._taken else self._cursor
        self.entries += 1
        return 1

    def stop(self) -> None:
        """End ``run``: journalctl is told to stop."""
        self._stop.set()
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.terminate()
