"""The agent's log loop: read the log sources, put their lines into the spool, save where
each source was read to.

Each cycle reads what the files and journal readers have, writes one spool batch (a header
line with the new positions, then the lines as gzip-compressed NDJSON for ``POST
/api/v1/logs``) and saves the positions before the batch can be sent (``checkpoint.py``).
While log batches fill half of the spool, reading pauses: the files themselves keep the
lines meanwhile, better than dropping the oldest batches would.

The sources are the local ``--tail`` globs plus the plan's sources for this host, asked of
the server at start and every ``log_sources_every`` seconds and kept in the state directory
for restarts while the server is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from watchkeeper.agent.checkpoint import Checkpoints, split_header, write_atomically
from watchkeeper.agent.config import AgentConfig
from watchkeeper.agent.journald import JournaldReader
from watchkeeper.agent.log_sources import LogSources, parse_sources
from watchkeeper.agent.multiline import Event
from watchkeeper.agent.push import Pusher, PushFailed
from watchkeeper.agent.spool import LOGS, Spool
from watchkeeper.agent.tail import Counters
from watchkeeper.agent.tail_files import FileSourceTailer
from watchkeeper.logs.config import FileSource, JournaldSource
from watchkeeper.logs.model import MAX_LINE_BYTES

log = logging.getLogger(__name__)

SOURCES_PATH = "/api/v1/agent/log-sources"
SOURCES_CACHE = "log-sources.json"
READ_BUDGET = 4 << 20
"""Bytes read from the files in one cycle."""
MAX_BATCH_EVENTS = 10_000
PAUSE_SHARE = 0.5
"""Reading pauses while log batches hold this share of the spool's bound."""

Source = FileSource | JournaldSource
Changes = dict[str, dict[str, Any] | None]


def encode_lines(events: list[tuple[Event, dict[str, str]]]) -> bytes:
    """Return the NDJSON body of ``POST /api/v1/logs`` for ``events``, gzip-compressed."""
    parts = []
    for event, labels in events:
        text = event.text
        if len(text) * 4 > MAX_LINE_BYTES and len(text.encode()) > MAX_LINE_BYTES:
            text = text.encode()[:MAX_LINE_BYTES].decode("utf-8", "ignore")
        parts.append(
            json.dumps(
                {"timestamp": event.ts, "message": text, "labels": labels},
                ensure_ascii=False,
                separators=(",", ":"),
            )
        )
    return gzip.compress(("\n".join(parts) + "\n").encode("utf-8", "replace"), 5)


class LogShipper:
    """The log sources of one agent and their positions."""

    def __init__(self, config: AgentConfig, spool: Spool, pusher: Pusher) -> None:
        self.config = config
        self.spool = spool
        self.pusher = pusher
        self.counters = Counters()
        self.checkpoints = Checkpoints(config.state_directory)
        self._recover()
        self.files: dict[str, FileSourceTailer] = {}
        self.journals: dict[str, JournaldReader] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ending: set[asyncio.Task[None]] = set()
        self._specs: dict[str, str] = {}
        self._plan = self._load_cache()
        self._fetched_at = float("-inf")
        self._fetch_failing = False
        self._stream_journal = True
        self.lines_spooled = 0
        self.paused = False
        self._cycling = threading.Lock()  # close() waits for a cycle still reading

    # -- sources ---------------------------------------------------------------------------

    def _recover(self) -> None:
        headers = []
        for entry in self.spool.entries(LOGS):
            try:
                with entry.path.open("rb") as fh:
                    header, _ = split_header(fh.readline(1 << 24))
            except OSError:
                continue
            if header is not None:
                headers.append(header)
        if self.checkpoints.recover(headers):
            log.info("log positions brought up to date from the spooled batches")

    def _load_cache(self) -> LogSources | None:
        path = self.config.state_directory / SOURCES_CACHE
        try:
            return parse_sources(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("cannot read the saved log sources %s: %s", path, exc)
            return None

    def _save_cache(self, sources: LogSources) -> None:
        path = self.config.state_directory / SOURCES_CACHE
        try:
            write_atomically(path, sources.model_dump_json(by_alias=True).encode())
        except OSError as exc:
            log.warning("cannot save the log sources in %s: %s", path, exc)

    def wanted(self) -> dict[str, Source]:
        """Every source this agent should read, by source id."""
        out: dict[str, Source] = {}
        for number, pattern in enumerate(self.config.tail, 1):
            out[f"file/local/{pattern}"] = FileSource(name=f"tail-{number}", paths=[pattern])
        if self._plan is not None:
            for source in self._plan.files:
                out[f"file/plan/{source.name}"] = source
            for journal in self._plan.journald:
                out[f"journald/plan/{journal.name}"] = journal
        return out

    def reconcile(self) -> None:
        """Start, restart and stop readers to match ``wanted()``; forget the positions of
        sources that are gone."""
        wanted = self.wanted()
        specs = {sid: source.model_dump_json() for sid, source in wanted.items()}
        for sid in [*self.files, *self.journals]:
            if specs.get(sid) != self._specs.get(sid):
                self._stop_source(sid)
        for sid, source in wanted.items():
            if sid in self.files or sid in self.journals:
                continue
            self._start_source(sid, source)
            self._specs[sid] = specs[sid]
        # Plan sources are judged only once the plan's list is known.
        gone: Changes = {
            sid: None
            for sid in self.checkpoints.sources
            if sid not in wanted and (self._plan is not None or sid.startswith("file/local/"))
        }
        if gone:
            self._commit(gone)

    def _start_source(self, sid: str, source: Source) -> None:
        state = self.checkpoints.sources.get(sid)
        host = self.config.host_name
        if isinstance(source, FileSource):
            try:
                self.files[sid] = FileSourceTailer(
                    sid,
                    source,
                    host,
                    state,
                    self.counters,
                    glob_every=self.config.log_glob_every,
                    close_after=self.config.log_close_after,
                )
            except ValueError as exc:
                log.error("logs.files %s: %s; not tailed", source.name, exc)
            return
        reader = JournaldReader(
            sid,
            source,
            host,
            state,
            command=self.config.journalctl,
            restart_delay=self.config.journald_restart,
        )
        self.journals[sid] = reader
        if self._stream_journal:
            self._tasks[sid] = asyncio.get_running_loop().create_task(
                reader.run(), name=f"journald-{source.name}"
            )

    def _stop_source(self, sid: str) -> None:
        self._specs.pop(sid, None)
        tailer = self.files.pop(sid, None)
        if tailer is not None:
            tailer.close()
        reader = self.journals.pop(sid, None)
        if reader is not None:
            reader.stop()
            task = self._tasks.pop(sid, None)
            if task is not None:  # kept until it ended: close() waits for it
                self._ending.add(task)
                task.add_done_callback(self._ending.discard)

    async def refresh(self) -> None:
        """Ask the server for this host's sources; reconcile when they changed."""
        self._fetched_at = time.monotonic()
        try:
            doc = await self.pusher.get_json(SOURCES_PATH, {"host": self.config.host_name})
        except PushFailed as exc:
            if exc.status == 404 and self._plan is None:
                log.info("%s has no log sources for agents (an older server?)", self.pusher.server)
                self._plan = LogSources()
                self.reconcile()
            elif not self._fetch_failing:
                log.warning("cannot get this host's log sources: %s; keeping the last ones", exc)
            self._fetch_failing = True
            return
        if self._fetch_failing:
            log.info("got this host's log sources again")
        self._fetch_failing = False
        sources = parse_sources(doc)
        if self._plan is None or sources != self._plan:
            self._plan = sources
            await asyncio.to_thread(self._save_cache, sources)
            log.info(
                "log sources: %d file source(s), %d journald source(s) from the plan",
                len(sources.files),
                len(sources.journald),
            )
        self.reconcile()

    def files_tailed(self) -> int:
        return sum(len(source.tailers) for source in list(self.files.values()))

    # -- cycles ----------------------------------------------------------------------------

    def spool_full(self) -> bool:
        return self.spool.bytes_of(LOGS) >= self.spool.max_bytes * PAUSE_SHARE

    def cycle(self) -> tuple[bool, int]:
        """Read every source once and spool what was read; return (more to read at once,
        lines spooled). Runs in a worker thread."""
        with self._cycling:
            return self._cycle()

    def _cycle(self) -> tuple[bool, int]:
        now, ts = time.monotonic(), time.time_ns()
        events: list[tuple[Event, dict[str, str]]] = []
        changes: Changes = {}
        budget, busy = READ_BUDGET, False
        for sid, source in self.files.items():
            if budget <= 0 or len(events) >= MAX_BATCH_EVENTS:
                busy = True
                break
            got, used = source.poll(budget, now, ts, MAX_BATCH_EVENTS - len(events))
            budget -= used
            events += got
            self._note(changes, sid, source.state())
        busy = busy or budget <= 0 or len(events) >= MAX_BATCH_EVENTS
        taken = []
        for sid, reader in self.journals.items():
            room = MAX_BATCH_EVENTS - len(events)
            if room <= 0:
                busy = True
                break
            events += reader.take(room)
            taken.append(reader)
            self._note(changes, sid, reader.state())
        if not changes:
            return busy, 0
        try:
            if events:
                gen, header = self.checkpoints.header(changes)
                body = header + encode_lines(events)
                self.spool.put(body, LOGS, before_visible=lambda: self._commit(changes, gen))
            else:
                self._commit(changes)
        except OSError as exc:
            log.error("cannot spool %d log line(s): %s; reading them again", len(events), exc)
            self._undo(changes, taken)
            return False, 0
        for reader in taken:
            reader.done()
        self.lines_spooled += len(events)
        return busy, len(events)

    def _note(self, changes: Changes, sid: str, state: dict[str, Any]) -> None:
        if self.checkpoints.sources.get(sid) != state:
            changes[sid] = state

    def _commit(self, changes: Changes, gen: int | None = None) -> None:
        self.checkpoints.commit(self.checkpoints.gen + 1 if gen is None else gen, changes)

    def _undo(self, changes: Changes, taken: list[JournaldReader]) -> None:
        """A batch could not be spooled: read its lines again from the saved positions."""
        for reader in taken:
            reader.restore()
        for sid in changes:
            tailer = self.files.pop(sid, None)
            if tailer is not None:
                tailer.close()
                self._start_source(sid, tailer.source)

    # -- loops -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, spooled: Callable[[], None]) -> None:
        """Read and spool until ``stop`` is set; call ``spooled`` after each batch."""
        self.reconcile()  # local and saved sources at once; the server may be away
        while not stop.is_set():
            if time.monotonic() - self._fetched_at >= self.config.log_sources_every:
                await self.refresh()
            busy = await self._cycle_once(spooled)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.log_poll)

    async def _cycle_once(self, spooled: Callable[[], None]) -> bool:
        if self.spool_full():
            if not self.paused:
                log.warning(
                    "log batches fill half the spool (%d bytes); reading logs pauses until "
                    "the server takes them",
                    self.spool.bytes_of(LOGS),
                )
            self.paused = True
            return False
        if self.paused:
            log.info("the spool has room again; reading logs resumes")
            self.paused = False
        try:
            busy, lines = await asyncio.to_thread(self.cycle)
        except Exception as exc:  # one bad cycle must not end the agent
            log.error("reading logs failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
            return False
        if lines:
            spooled()
        return busy

    async def once(self) -> int:
        """Read the files once to their current end (journald is not read); return the
        lines spooled."""
        self._stream_journal = False
        self.reconcile()
        await self.refresh()
        total, busy = 0, True
        while busy and not self.spool_full():
            busy, lines = await asyncio.to_thread(self.cycle)
            total += lines
        return total

    async def close(self) -> None:
        """Stop the journal readers and close the files, once a cycle in flight is done."""
        await asyncio.to_thread(self._cycling.acquire)
        try:
            self._close_files()
        finally:
            self._cycling.release()
        tasks = [*self._tasks.values(), *self._ending]
        for reader in self.journals.values():
            reader.stop()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        self.journals.clear()
        self._tasks.clear()

    def _close_files(self) -> None:
        for tailer in self.files.values():
            tailer.close()
        self.files.clear()
