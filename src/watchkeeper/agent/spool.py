"""The agent's on-disk queue of batches not yet acknowledged by the server.

One file per batch, named by a sequence number so that sorting the names gives the order
they were made in. A batch is written to a temporary name, flushed to disk and renamed: a
crash leaves either the whole batch or none of it (temporary files are removed on open).
A batch is deleted only after the server acknowledged it, so a crash between sending and
deleting sends it again; the server ignores samples it already stores.

The spool is bounded: when a new batch takes it over ``max_bytes``, the oldest batches are
dropped (the newest data is the most useful after a long outage), counted, and reported
in one warning per overflow.

Entries have a kind: host metrics (``00000000000000000001.batch``, the name older agents
wrote), log lines (``00000000000000000002.logs.batch``) or inventories of installed software
(``00000000000000000003.packages.batch``). They share the directory, the
order and the bound, and each kind is sent on its own, so that a server which does not take
one kind yet does not hold the other back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchkeeper.agent.checkpoint import write_atomically
from watchkeeper.exceptions import ConfigError

log = logging.getLogger(__name__)

SUFFIX = ".batch"
TMP_SUFFIX = ".tmp"
METRICS = "metrics"
LOGS = "logs"
PACKAGES = "packages"
KINDS = frozenset({METRICS, LOGS, PACKAGES})


@dataclass(frozen=True)
class Entry:
    """One spooled batch: its sequence number, file, size on disk and kind."""

    seq: int
    path: Path
    size: int
    kind: str = METRICS


class Spool:
    """A bounded, crash-safe, ordered directory of batches. Thread-safe."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        """Open (creating it, owner-only) ``directory``; raise ConfigError if unusable."""
        self.directory = directory
        self.max_bytes = max_bytes
        self.dropped_total = 0
        self.dropped_by_kind: dict[str, int] = dict.fromkeys(sorted(KINDS), 0)
        self._lock = threading.Lock()
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            for tmp in directory.glob(f"*{TMP_SUFFIX}"):
                tmp.unlink()  # a batch that was being written when the agent died
            self._entries = self._scan()
        except OSError as exc:
            raise ConfigError(f"spool directory {directory}: {exc.strerror or exc}") from None
        self._bytes = sum(e.size for e in self._entries)
        self._next = self._entries[-1].seq + 1 if self._entries else 1

    def _scan(self) -> list[Entry]:
        entries = []
        for path in self.directory.glob(f"*{SUFFIX}"):
            number, _, kind = path.name.removesuffix(SUFFIX).partition(".")
            try:
                seq = int(number)
            except ValueError:
                continue  # not ours
            if (kind or METRICS) not in KINDS:
                continue  # written by a newer agent: left alone
            entries.append(Entry(seq, path, path.stat().st_size, kind or METRICS))
        return sorted(entries, key=lambda e: e.seq)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def bytes_of(self, kind: str) -> int:
        """Bytes held by batches of ``kind``."""
        with self._lock:
            return sum(e.size for e in self._entries if e.kind == kind)

    def entries(self, kind: str | None = None) -> list[Entry]:
        """The batches (of ``kind``, or all), oldest first."""
        with self._lock:
            return [e for e in self._entries if kind is None or e.kind == kind]

    def put(
        self,
        body: bytes,
        kind: str = METRICS,
        before_visible: Callable[[], None] | None = None,
    ) -> Entry:
        """Store ``body`` durably as the newest batch of ``kind``, then drop the oldest
        batches while the spool is over its bound (never the one just stored). Raise
        OSError when the disk refuses the write.

        ``before_visible`` runs once the batch is on disk and before a sender can see it
        (and so send and delete it): the log shipper saves its read positions there. If it
        raises, the batch is removed again and the error propagates."""
        if kind not in KINDS:
            raise ValueError(f"unknown spool entry kind {kind!r}")
        with self._lock:
            seq = self._next
            self._next += 1
        name = f"{seq:020d}" if kind == METRICS else f"{seq:020d}.{kind}"
        path = self.directory / f"{name}{SUFFIX}"
        write_atomically(path, body)
        if before_visible is not None:
            try:
                before_visible()
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        entry = Entry(seq, path, len(body), kind)
        with self._lock:
            self._entries.append(entry)
            self._bytes += entry.size
            dropped = self._enforce_bound()
            self.dropped_total += dropped
            total = self.dropped_total
        if dropped:
            log.warning(
                "spool %s is over its bound of %d bytes: dropped the %d oldest batch(es) "
                "(%d dropped since the agent started)",
                self.directory,
                self.max_bytes,
                dropped,
                total,
            )
        return entry

    def _enforce_bound(self) -> int:
        dropped = 0
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            oldest = self._entries.pop(0)
            self._bytes -= oldest.size
            oldest.path.unlink(missing_ok=True)
            self.dropped_by_kind[oldest.kind] += 1
            dropped += 1
        return dropped

    def oldest(self, kind: str | None = None) -> Entry | None:
        """The oldest batch (of ``kind``, or of any kind); None when there is none."""
        with self._lock:
            if kind is None:
                return self._entries[0] if self._entries else None
            return next((e for e in self._entries if e.kind == kind), None)

    def read(self, entry: Entry) -> bytes | None:
        """Return the batch's bytes; None if it was dropped meanwhile."""
        try:
            return entry.path.read_bytes()
        except FileNotFoundError:
            return None

    def remove(self, entry: Entry) -> None:
        """Forget an acknowledged (or refused) batch; fine if it was already dropped."""
        with self._lock:
            if entry in self._entries:
                self._entries.remove(entry)
                self._bytes -= entry.size
        entry.path.unlink(missing_ok=True)
