"""The chunk format: the lines of one stream over a time window, columnar and zstd-compressed.

Layout: ``WKC1`` | u32 lines | u32 size of the time section | time section | body.
The time section (event times, delta-encoded) is compressed on its own so that counting lines
in a time range reads only it. The body holds receive times, message lengths, field lengths,
the messages and the fields (JSON) back to back.
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import zstandard

from watchkeeper.logs.model import Labels, LogLine

MAGIC = b"WKC1"
_HEAD = struct.Struct("<4sII")
_local = threading.local()


class ChunkCorrupt(ValueError):
    """A chunk that cannot be read."""


def _zstd() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    pair = getattr(_local, "zstd", None)
    if pair is None:
        pair = (zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor())
        _local.zstd = pair
    return pair


def encode(lines: Sequence[LogLine]) -> bytes:
    """Encode ``lines`` (sorted by event time) of one stream."""
    compress = _zstd()[0].compress
    ts = np.fromiter((line.ts for line in lines), dtype=np.int64, count=len(lines))
    deltas = np.diff(ts, prepend=np.int64(0))
    time_section = compress(deltas.tobytes())
    received = np.fromiter((line.received for line in lines), dtype=np.int64, count=len(lines))
    messages = [line.message.encode("utf-8", "replace") for line in lines]
    fields = [
        json.dumps(line.fields, separators=(",", ":"), ensure_ascii=False).encode()
        if line.fields
        else b""
        for line in lines
    ]
    body = b"".join(
        (
            np.diff(received, prepend=np.int64(0)).tobytes(),
            np.fromiter(map(len, messages), dtype=np.uint32, count=len(lines)).tobytes(),
            np.fromiter(map(len, fields), dtype=np.uint32, count=len(lines)).tobytes(),
            b"".join(messages),
            b"".join(fields),
        )
    )
    return b"".join(
        (_HEAD.pack(MAGIC, len(lines), len(time_section)), time_section, compress(body))
    )


def _header(blob: bytes) -> tuple[int, int]:
    if len(blob) < _HEAD.size:
        raise ChunkCorrupt("chunk too short")
    magic, count, time_size = _HEAD.unpack_from(blob)
    if magic != MAGIC:
        raise ChunkCorrupt("not a Watchkeeper chunk")
    return count, time_size


def decode_times(blob: bytes) -> np.ndarray:
    """Event times of the chunk's lines (ns), without reading the messages."""
    count, time_size = _header(blob)
    raw = _zstd()[1].decompress(blob[_HEAD.size : _HEAD.size + time_size])
    return np.cumsum(np.frombuffer(raw, dtype=np.int64, count=count))


@dataclass
class Block:
    """The columns of a chunk (or of some lines), read without making a LogLine per line.

    ``data[starts[i]:ends[i]]`` is line i's message (UTF-8); ``ts`` its event time. Counting
    and substring filters work on these columns; :meth:`lines` materialises lines on demand.
    """

    labels: Labels
    ts: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    data: bytes
    received: np.ndarray
    field_starts: np.ndarray
    field_ends: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, lo: int, hi: int) -> Block:
        """The lines with ``lo <= ts <= hi`` (the block's times must be sorted)."""
        a = int(np.searchsorted(self.ts, lo, side="left"))
        b = int(np.searchsorted(self.ts, hi, side="right"))
        if a == 0 and b == len(self.ts):
            return self
        return Block(
            self.labels,
            self.ts[a:b],
            self.starts[a:b],
            self.ends[a:b],
            self.data,
            self.received[a:b],
            self.field_starts[a:b],
            self.field_ends[a:b],
        )

    def message_bytes(self) -> np.ndarray:
        return np.asarray(self.ends - self.starts)

    def contains(self, needle: str) -> np.ndarray:
        """Mask of the lines whose message contains ``needle``: one bytes search over the
        whole block, not one per line."""
        mask = np.zeros(len(self.ts), dtype=bool)
        if not len(self.ts):
            return mask
        raw = needle.encode()
        if not raw:
            return np.ones(len(self.ts), dtype=bool)
        find = self.data.find
        hi = int(self.ends.max())
        at = find(raw, int(self.starts.min()), hi)
        if at < 0:
            return mask
        ends = self.ends
        while at >= 0:
            i = int(np.searchsorted(ends, at, side="right"))
            if i >= len(ends):
                break
            if at >= self.starts[i] and at + len(raw) <= ends[i]:
                mask[i] = True
                at = find(raw, int(ends[i]), hi)  # next line
            else:
                at = find(raw, at + 1, hi)
        return mask

    def messages(self) -> list[str]:
        data = self.data
        return [
            data[a:b].decode("utf-8", "replace")
            for a, b in zip(self.starts.tolist(), self.ends.tolist(), strict=True)
        ]

    def lines(self, mask: np.ndarray | None = None) -> list[LogLine]:
        data, labels = self.data, self.labels
        idx = range(len(self.ts)) if mask is None else np.flatnonzero(mask).tolist()
        ts, received = self.ts.tolist(), self.received.tolist()
        starts, ends = self.starts.tolist(), self.ends.tolist()
        fstarts, fends = self.field_starts.tolist(), self.field_ends.tolist()
        out = []
        for i in idx:
            f_at, f_end = fstarts[i], fends[i]
            fields = json.loads(data[f_at:f_end]) if f_end > f_at else {}
            message = data[starts[i] : ends[i]].decode("utf-8", "replace")
            out.append(LogLine(ts[i], received[i], labels, message, fields))
        return out


def read_block(blob: bytes, labels: Labels) -> Block:
    """The columns of a chunk."""
    count, time_size = _header(blob)
    try:
        dctx = _zstd()[1]
        ts = np.cumsum(
            np.frombuffer(
                dctx.decompress(blob[_HEAD.size : _HEAD.size + time_size]),
                dtype=np.int64,
                count=count,
            )
        )
        body = dctx.decompress(blob[_HEAD.size + time_size :])
        n8, n4 = count * 8, count * 4
        received = np.cumsum(np.frombuffer(body, dtype=np.int64, count=count))
        msg_lens = np.frombuffer(body, dtype=np.uint32, count=count, offset=n8)
        field_lens = np.frombuffer(body, dtype=np.uint32, count=count, offset=n8 + n4)
    except (zstandard.ZstdError, ValueError) as exc:
        raise ChunkCorrupt(str(exc)) from None
    start = n8 + 2 * n4
    ends = np.cumsum(msg_lens, dtype=np.int64) + start
    starts = ends - msg_lens
    field_start = int(ends[-1]) if count else start
    field_ends = np.cumsum(field_lens, dtype=np.int64) + field_start
    return Block(labels, ts, starts, ends, body, received, field_ends - field_lens, field_ends)


def block_of(lines: Sequence[LogLine]) -> Block:
    """A block holding ``lines`` (in their order): the head's lines, read like a chunk."""
    encoded = [line.message.encode("utf-8", "replace") for line in lines]
    lens = np.fromiter(map(len, encoded), dtype=np.int64, count=len(lines))
    ends = np.cumsum(lens)
    fields = [
        json.dumps(line.fields, separators=(",", ":"), ensure_ascii=False).encode()
        if line.fields
        else b""
        for line in lines
    ]
    flens = np.fromiter(map(len, fields), dtype=np.int64, count=len(lines))
    fends = np.cumsum(flens) + (int(ends[-1]) if len(lines) else 0)
    return Block(
        lines[0].labels if lines else (),
        np.fromiter((ln.ts for ln in lines), dtype=np.int64, count=len(lines)),
        ends - lens,
        ends,
        b"".join(encoded) + b"".join(fields),
        np.fromiter((ln.received for ln in lines), dtype=np.int64, count=len(lines)),
        fends - flens,
        fends,
    )


def decode(blob: bytes, labels: Labels) -> list[LogLine]:
    """All lines of a chunk, with the stream's ``labels``."""
    return read_block(blob, labels).lines()
