"""The agent's on-disk queue of batches not yet acknowledged by the server.

One file per batch, named by a sequence number so that sorting the names gives the order
they were made in. A batch is written to a temporary name, flushed to disk and renamed: a
crash leaves either the whole batch or none of it (temporary files are removed on open).
A batch is deleted only after the server acknowledged it, so a crash between sending and
deleting sends it again; the server ignores samples it already stores.

The spool is bounded: when a new batch takes it over ``max_bytes``, the oldest batches are
dropped (the newest data is the most useful after a long outage), counted, and reported
in one warning per overflow.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from watchkeeper.exceptions import ConfigError

log = logging.getLogger(__name__)

SUFFIX = ".batch"
TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class Entry:
    """One spooled batch: its sequence number, file and size on disk."""

    seq: int
    path: Path
    size: int


class Spool:
    """A bounded, crash-safe, ordered directory of batches. Thread-safe."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        """Open (creating it, owner-only) ``directory``; raise ConfigError if unusable."""
        self.directory = directory
        self.max_bytes = max_bytes
        self.dropped_total = 0
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
            try:
                seq = int(path.name.removesuffix(SUFFIX))
            except ValueError:
                continue  # not ours
            entries.append(Entry(seq, path, path.stat().st_size))
        return sorted(entries, key=lambda e: e.seq)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def put(self, body: bytes) -> Entry:
        """Store ``body`` durably as the newest batch, then drop the oldest batches while
        the spool is over its bound (never the one just stored). Raise OSError when the
        disk refuses the write."""
        with self._lock:
            seq = self._next
            self._next += 1
        path = self.directory / f"{seq:020d}{SUFFIX}"
        tmp = path.with_suffix(TMP_SUFFIX)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._fsync_directory()
        entry = Entry(seq, path, len(body))
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
            dropped += 1
        return dropped

    def oldest(self) -> Entry | None:
        with self._lock:
            return self._entries[0] if self._entries else None

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

    def _fsync_directory(self) -> None:
        """Make the rename itself durable (POSIX: it lives in the directory's data)."""
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return  # platforms that cannot open a directory do not need this
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
