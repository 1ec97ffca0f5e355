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


def decode(blob: bytes, labels: Labels) -> list[LogLine]:
    """All lines of a chunk, with the stream's ``labels``."""
    count, time_size = _header(blob)
    try:
        dctx = _zstd()[1]
        ts = np.cumsum(
            np.frombuffer(
                dctx.decompress(blob[_HEAD.size : _HEAD.size + time_size]),
                dtype=np.int64,
                count=count,
            )
        ).tolist()
        body = dctx.decompress(blob[_HEAD.size + time_size :])
        n8, n4 = count * 8, count * 4
        received = np.cumsum(np.frombuffer(body, dtype=np.int64, count=count)).tolist()
        msg_lens = np.frombuffer(body, dtype=np.uint32, count=count, offset=n8)
        field_lens = np.frombuffer(body, dtype=np.uint32, count=count, offset=n8 + n4)
        start = n8 + 2 * n4
        msg_ends = (np.cumsum(msg_lens, dtype=np.int64) + start).tolist()
        field_start = msg_ends[-1] if count else start
        field_ends = (np.cumsum(field_lens, dtype=np.int64) + field_start).tolist()
    except (zstandard.ZstdError, ValueError) as exc:
        raise ChunkCorrupt(str(exc)) from None
    out: list[LogLine] = []
    m_at, f_at = start, field_start
    for i in range(count):
        m_end, f_end = msg_ends[i], field_ends[i]
        message = body[m_at:m_end].decode("utf-8", "replace")
        fields = json.loads(body[f_at:f_end]) if f_end > f_at else {}
        out.append(LogLine(ts[i], received[i], labels, message, fields))
        m_at, f_at = m_end, f_end
    return out
