"""Split a syslog TCP stream into messages (RFC 6587), detecting the framing per frame.

- Octet counting: ``LEN SP MSG``, the framing of RFC 5425 (TLS) and of rsyslog's and
  syslog-ng's ``octet-counted`` senders.
- Non-transparent framing: messages ended by LF (also NUL, as some old senders do).

A frame that starts with digits and a space is octet-counted; anything else runs to the next
LF or NUL. Work is done on whole reads with ``bytes.find``/``split`` and compiled regular
expressions, never byte by byte in Python: newline-framed reads are split in one call.

Damage is contained to the frame it hits, and counted:

- a message longer than ``max_bytes`` is cut there (``truncated``) and the rest of it is
  skipped up to the next frame;
- an octet count that is not a number (``1x2 <13>...``) or is absurd, or a stream that no
  longer starts a frame where the previous count said it would (a count that lied), is
  ``rejected``: the framer skips to the next LF or the next ``LEN <PRI>`` and goes on;
- a frame cut short by the end of the connection is ``rejected`` if octet-counted (its count
  promised more) and kept if newline-framed (many senders do not end their last line).

Only a stream in which no next frame can be found within ``max_bytes`` is hopeless: the
framer sets ``failure`` and the connection is closed (after the frames before the damage
are taken).
"""

from __future__ import annotations

import re

OCTET_COUNT = re.compile(rb"([0-9]{1,12}) ")
# A count that is not a number, followed by what starts a syslog message: ``1x2 <13>``.
BAD_COUNT = re.compile(rb"[0-9][^ \n<>]{0,19} <[0-9]{1,3}>")
# Where a frame can start again after a damaged one: after a LF/NUL, or at ``LEN <PRI>``.
RESYNC = re.compile(rb"[\n\0]|[1-9][0-9]{0,11} <[0-9]{1,3}>")
LINE_END = re.compile(rb"[\n\0]")
# A newline-framed chunk can be split in one call unless a line in it is octet-counted.
COUNTED_LINE = re.compile(rb"[\n\0][0-9]")
SEPARATORS = b"\r\n\0 "
MAX_PLAUSIBLE_COUNT = 16 * 1024 * 1024
UNDECIDED = 16  # bytes needed at most to tell an octet count from a line


def cut_utf8(data: bytes, limit: int) -> bytes:
    """Return ``data`` cut to at most ``limit`` bytes, not inside a UTF-8 sequence."""
    if len(data) <= limit:
        return data
    end = limit
    # data[end] is the first byte left out: while it continues a sequence, leave out the
    # sequence's start too (sequences are at most 4 bytes long)
    while end > 0 and limit - end < 3 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end]


class Framer:
    """Split one connection's bytes into messages; ``truncated`` and ``rejected`` count the
    frames cut or refused since the caller last reset them; ``failure`` says why the stream
    is hopeless, once it is."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_count = max(MAX_PLAUSIBLE_COUNT, max_bytes)
        self.truncated = 0
        self.rejected = 0
        self._rest = b""
        self._skip = 0  # bytes of an oversized octet-counted frame still to skip
        self._discard_line = False  # skipping the rest of an oversized line
        self._counted = False  # the last frame was octet-counted
        self.failure: str | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """Return the complete messages in ``data`` (and what was left from before); keep an
        incomplete one for the next call. Once the stream is hopeless (``failure`` set),
        return the messages before the damage and nothing after."""
        if self.failure:
            return []
        buf = self._rest + data if self._rest else data
        self._rest = b""
        frames: list[bytes] = []
        pos = self._skip_partial(buf, 0)
        end = len(buf)
        while pos < end:
            first = buf[pos]
            if first in SEPARATORS:
                pos += 1
                continue
            if 0x30 <= first <= 0x39:  # a digit: octet counting, or a line starting so
                step = self._counted_frame(buf, pos, frames)
                if step is not None:
                    if step < 0:
                        break  # wait for more data
                    pos = step
                    continue
            elif self._counted and first != 0x3C:  # "<": a line; anything else is damage
                step = self._resync(buf, pos)
                if step < 0:
                    break
                pos = step
                continue
            step = self._lines(buf, pos, frames)
            if step < 0:
                break
            pos = step
        if pos < end:
            self._rest = buf[pos:]
        return frames

    def finish(self) -> list[bytes]:
        """Return the last message when the connection ends: a newline-framed one without its
        LF is kept; an incomplete octet-counted one is rejected."""
        rest, self._rest = self._rest, b""
        if self.failure or self._skip or self._discard_line or not rest.strip(SEPARATORS):
            return []
        if self._counted or OCTET_COUNT.match(rest) or BAD_COUNT.match(rest):
            self.rejected += 1
            return []
        return [self._cut(rest)]

    def _skip_partial(self, buf: bytes, pos: int) -> int:
        """Skip what remains of an oversized frame; return where the next frame starts."""
        if self._skip:
            taken = min(self._skip, len(buf) - pos)
            self._skip -= taken
            return pos + taken
        if self._discard_line:
            found = LINE_END.search(buf, pos)
            if found is None:
                return len(buf)
            self._discard_line = False
            return found.end()
        return pos

    def _counted_frame(self, buf: bytes, pos: int, frames: list[bytes]) -> int | None:
        """Take an octet-counted frame at ``pos``: return where the next frame starts, -1 to
        wait for more data, None if this is a line that starts with a digit."""
        match = OCTET_COUNT.match(buf, pos)
        if match is None:
            if BAD_COUNT.match(buf, pos):
                return self._resync(buf, buf.index(b" <", pos))
            if len(buf) - pos < UNDECIDED and LINE_END.search(buf, pos) is None:
                return -1
            if self._counted:
                return self._resync(buf, pos)
            return None
        count = int(match[1])
        if count == 0 or count > self.max_count:
            return self._resync(buf, match.end() - 1)
        self._counted = True
        start = match.end()
        stop = start + count
        if stop <= len(buf):
            frames.append(self._cut(buf[start:stop]))
            return stop
        if len(buf) - start < self.max_bytes:
            return -1
        # Longer than allowed: keep the head now, skip the tail as it arrives.
        frames.append(self._cut(buf[start:stop]))
        self._skip = stop - len(buf)
        return len(buf)

    def _lines(self, buf: bytes, pos: int, frames: list[bytes]) -> int:
        """Take newline-framed messages from ``pos``: return where the next frame starts,
        or -1 to wait for the end of the line."""
        self._counted = False
        last = buf.rfind(b"\n", pos)
        # Checked in this order so that a slow path taken line by line stays linear: a
        # counted line is found near ``pos``, the NUL scan runs only when there is none.
        if (
            last > pos
            and not COUNTED_LINE.search(buf, pos, last)
            and buf.find(b"\0", pos, last) < 0
        ):
            lines = buf[pos:last].split(b"\n")
            if max(map(len, lines)) > self.max_bytes:
                lines = [self._cut(line) for line in lines]
            frames.extend(line for line in lines if line and line != b"\r")
            return last + 1
        found = LINE_END.search(buf, pos)
        if found is None:
            if len(buf) - pos <= self.max_bytes:
                return -1
            frames.append(self._cut(buf[pos:]))
            self._discard_line = True
            return len(buf)
        frames.append(self._cut(buf[pos : found.start()]))
        return found.end()

    def _resync(self, buf: bytes, pos: int) -> int:
        """Reject the damaged frame at ``pos`` (searching for the next frame after ``pos``):
        return where the next frame starts, or -1 to wait for more data; when none starts
        within ``max_bytes``, set ``failure`` and return the end of ``buf``."""
        found = RESYNC.search(buf, pos + 1)
        if found is None:
            if len(buf) - pos > self.max_bytes:
                self.rejected += 1
                self.failure = (
                    f"no syslog frame found in {len(buf) - pos} bytes after an invalid octet count"
                )
                return len(buf)
            return -1
        self.rejected += 1
        self._counted = False
        return found.end() if found[0] in (b"\n", b"\0") else found.start()

    def _cut(self, frame: bytes) -> bytes:
        if len(frame) <= self.max_bytes:
            return frame
        self.truncated += 1
        return cut_utf8(frame, self.max_bytes)
