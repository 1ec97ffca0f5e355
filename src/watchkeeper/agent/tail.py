"""Follow one log file: read what is appended, through rotation and truncation.

A file is known by its (device, inode) and a fingerprint of its first bytes. The inode is
what stays the same when logrotate renames ``app.log`` to ``app.log.1``: the tailer keeps its
descriptor and reads the renamed file to its end, while the new ``app.log`` is another inode
and gets its own tailer. The fingerprint notices what the inode cannot: a file truncated and
rewritten between two polls (copytruncate), or an inode number reused by a new file while
the agent was stopped.

The position saved for a restart is the offset of the first byte not yet shipped: the start
of a line that has no newline yet, or of a stack trace still being joined. Reading again from
there after a restart repeats nothing that was shipped and loses nothing that was not.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import stat
import time
from dataclasses import dataclass
from typing import Any

from watchkeeper.agent.multiline import Event, Joiner
from watchkeeper.logs.config import Multiline
from watchkeeper.logs.model import MAX_LINE_BYTES

log = logging.getLogger(__name__)

FP_BYTES = 256
"""How many first bytes of a file make its fingerprint (fewer while the file is shorter)."""
READ_CHUNK = 64 * 1024


def check_encoding(name: str) -> str:
    """Return the codec's canonical name; raise ValueError for an unknown codec or one
    whose newline is not the byte 0x0A (UTF-16 and UTF-32 cannot be split into lines
    byte-wise)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f'encoding "{name}" is not known') from None
    if "\n".encode(info.name) != b"\n" or "a".encode(info.name) != b"a":
        raise ValueError(f'encoding "{name}" is not ASCII-compatible (use UTF-8, Latin-1...)')
    return info.name


def fingerprint(fd: int, length: int) -> tuple[str, int]:
    """Return (hex digest, bytes covered) of the first ``length`` bytes of ``fd`` (fewer
    when the file is shorter)."""
    head = os.pread(fd, length, 0)
    return hashlib.sha256(head).hexdigest(), len(head)


@dataclass(slots=True)
class Counters:
    """What the tailers of one agent did, for its self-metrics."""

    lines: int = 0
    repaired: int = 0
    cut: int = 0
    truncations: int = 0


class FileTailer:
    """One open file (one inode) and how far it has been read."""

    def __init__(
        self,
        path: str,
        fd: int,
        *,
        offset: int,
        multiline: Multiline | None,
        encoding: str = "utf-8",
        counters: Counters | None = None,
    ) -> None:
        """Take over the open ``fd`` of ``path`` and read from ``offset``."""
        st = os.fstat(fd)
        self.path = path
        self.fd = fd
        self.dev, self.ino = st.st_dev, st.st_ino
        self.encoding = encoding
        self.counters = counters or Counters()
        self.joiner = Joiner(multiline)
        self.offset = offset  # the next byte to read
        self._buf = bytearray()  # a line with no newline yet, read from _buf_start
        self._buf_start = offset
        self._size = st.st_size
        self.fp, self.fp_len = fingerprint(fd, FP_BYTES)
        self.orphan_since: float | None = None  # no longer at a watched path since
        self.idle_since = time.monotonic()

    @classmethod
    def open(cls, path: str, **kwargs: Any) -> FileTailer:
        """Open ``path`` and return its tailer; raise OSError when it cannot be read."""
        # Non-blocking: a FIFO put where a log file was must not hang the agent.
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise IsADirectoryError(f"{path} is not a regular file")
            return cls(path, fd, **kwargs)
        except BaseException:
            os.close(fd)
            raise

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.ino}"

    def position(self) -> dict[str, Any]:
        """The checkpoint of this file: where to read from after a restart."""
        pending = self.joiner.pending_start
        return {
            "path": self.path,
            "offset": self._buf_start if pending is None else pending,
            "fp": self.fp,
            "fp_len": self.fp_len,
        }

    def matches(self, fp: str, fp_len: int) -> bool:
        """Return True if the file still starts with the bytes fingerprinted as ``fp``."""
        return fingerprint(self.fd, fp_len) == (fp, fp_len)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def poll(
        self, budget: int, now: float, ts: int, max_events: int = 1 << 30
    ) -> tuple[list[Event], int]:
        """Read at most ``budget`` new bytes (stopping early past ``max_events``); return
        the events completed and the bytes read. ``now`` is monotonic seconds, ``ts`` the
        wall-clock ns stamped on new lines."""
        events: list[Event] = []
        size = self.size()
        if size != self._size:
            if size < self.offset or (self.fp_len and not self.matches(self.fp, self.fp_len)):
                events += self._start_over(ts)
            elif self.fp_len < FP_BYTES:
                self.fp, self.fp_len = fingerprint(self.fd, FP_BYTES)
            self._size = size
        read = 0
        while read < budget and self.offset < size and len(events) < max_events:
            chunk = os.pread(
                self.fd, min(READ_CHUNK, budget - read, size - self.offset), self.offset
            )
            if not chunk:
                break  # shrank meanwhile; the next poll sees it
            read += len(chunk)
            self.offset += len(chunk)
            events += self._split(chunk, now, ts)
        if read:
            self.idle_since = now
        events += self.joiner.flush_idle(now)
        return events, read

    def drain(self, ts: int) -> list[Event]:
        """Return what is held back: the pending event and a last line with no newline
        (the file is being closed: no newline will come)."""
        events = self._partial(ts)
        return events + self.joiner.flush()

    def close(self) -> None:
        os.close(self.fd)

    def rewind(self, offset: int) -> None:
        """Forget what was read past ``offset`` (a batch could not be spooled)."""
        self.joiner.reset()
        self._buf.clear()
        self.offset = self._buf_start = offset

    def _start_over(self, ts: int) -> list[Event]:
        """The file was truncated or replaced: ship what was held, read it again from 0."""
        self.counters.truncations += 1
        log.info("%s was truncated or replaced; reading it from the start", self.path)
        events = self.drain(ts)
        self.rewind(0)
        self.fp, self.fp_len = fingerprint(self.fd, FP_BYTES)
        return events

    def _split(self, chunk: bytes, now: float, ts: int) -> list[Event]:
        events: list[Event] = []
        buf = self._buf
        begin = len(buf)
        buf += chunk
        consumed = 0
        while True:
            newline = buf.find(b"\n", begin)
            if newline < 0:
                break
            events += self._line(bytes(buf[consumed:newline]), consumed, newline + 1, now, ts)
            consumed = begin = newline + 1
        # A line with no newline waits for the rest, unless it is already over the limit.
        while len(buf) - consumed > MAX_LINE_BYTES:
            self.counters.cut += 1
            end = consumed + MAX_LINE_BYTES
            events += self._line(bytes(buf[consumed:end]), consumed, end, now, ts)
            consumed = end
        if consumed:
            del buf[:consumed]
            self._buf_start += consumed
        return events

    def _line(self, raw: bytes, start: int, end: int, now: float, ts: int) -> list[Event]:
        """Turn one line (``start:end`` in the buffer, newline included) into events; a
        line over the size limit is shipped in pieces, nothing of it is dropped."""
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        base = self._buf_start
        events: list[Event] = []
        if len(raw) > MAX_LINE_BYTES:
            self.counters.cut += 1
        for at in range(0, max(len(raw), 1), MAX_LINE_BYTES):
            piece = raw[at : at + MAX_LINE_BYTES]
            try:
                text = piece.decode(self.encoding)
            except UnicodeDecodeError:
                self.counters.repaired += 1
                text = piece.decode(self.encoding, "replace")
            self.counters.lines += 1
            last = at + MAX_LINE_BYTES >= len(raw)
            stop = base + end if last else base + start + at + len(piece)
            events += self.joiner.feed(text, ts, base + start + at, stop, now)
        return events

    def _partial(self, ts: int) -> list[Event]:
        raw = bytes(self._buf)
        events = self._line(raw, 0, len(raw), time.monotonic(), ts) if raw.strip() else []
        self._buf.clear()
        self._buf_start += len(raw)
        return events
