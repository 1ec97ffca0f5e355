"""The log store's write-ahead log: every batch is written here before it is acknowledged,
and replayed at start into the in-memory head chunks it had not yet been cut from.

Segments are files ``<seq>.wal`` of records ``u32 size | u32 crc32 | i64 batch | payload``;
a torn record at the end of a segment (a crash mid-write) ends the replay of that segment.
Batch ids grow monotonically; the store remembers per stream the last batch cut into a
chunk, so a replay skips what is already in chunks.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from watchkeeper.logs import chunk
from watchkeeper.logs.model import Labels, LogLine

log = logging.getLogger(__name__)
_RECORD = struct.Struct("<IIq")  # size, crc32 of the payload, batch id
SEGMENT_BYTES = 64 * 1024 * 1024


def _payload(lines: Sequence[LogLine]) -> bytes:
    """``u32 size | labels (JSON) | u32 lines | u32 stream index per line | chunk``."""
    index: dict[Labels, int] = {}
    streams = np.fromiter(
        (index.setdefault(line.labels, len(index)) for line in lines),
        dtype=np.uint32,
        count=len(lines),
    )
    labels = json.dumps([list(map(list, key)) for key in index], separators=(",", ":")).encode()
    return b"".join(
        (
            struct.pack("<I", len(labels)),
            labels,
            struct.pack("<I", len(lines)),
            streams.tobytes(),
            chunk.encode(lines),
        )
    )


def _lines(payload: bytes) -> list[LogLine]:
    (size,) = struct.unpack_from("<I", payload)
    keys: list[Labels] = [
        tuple((k, v) for k, v in pairs) for pairs in json.loads(payload[4 : 4 + size])
    ]
    (count,) = struct.unpack_from("<I", payload, 4 + size)
    at = 8 + size
    streams = np.frombuffer(payload, dtype=np.uint32, count=count, offset=at).tolist()
    lines = chunk.decode(payload[at + 4 * count :], ())
    for line, stream in zip(lines, streams, strict=True):
        line.labels = keys[stream]
    return lines


class WriteAheadLog:
    def __init__(self, directory: Path, *, sync: bool = False) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.sync = sync
        existing = self.segments()
        self.seq = existing[-1] + 1 if existing else 1
        self.last_batch = 0
        self._file = open(self._path(self.seq), "ab")  # noqa: SIM115 - held open

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:010d}.wal"

    def segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.wal") if p.stem.isdigit())

    def append(self, lines: Sequence[LogLine]) -> tuple[int, int]:
        """Write a batch; return (its segment, its batch id)."""
        payload = _payload(lines)
        self.last_batch = max(time.time_ns(), self.last_batch + 1)
        self._file.write(_RECORD.pack(len(payload), zlib.crc32(payload), self.last_batch) + payload)
        self._file.flush()
        if self.sync:
            os.fsync(self._file.fileno())
        return self.seq, self.last_batch

    def rotate_if_large(self) -> None:
        if self._file.tell() >= SEGMENT_BYTES:
            self.rotate()

    def rotate(self) -> None:
        self._file.close()
        self.seq += 1
        self._file = open(self._path(self.seq), "ab")  # noqa: SIM115

    def sync_now(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def remove_before(self, seq: int) -> int:
        """Delete segments older than ``seq`` (their lines are all in chunks)."""
        removed = 0
        for old in self.segments():
            if old < min(seq, self.seq):
                self._path(old).unlink(missing_ok=True)
                removed += 1
        return removed

    def replay(self) -> Iterator[tuple[int, int, list[LogLine]]]:
        """Yield (segment, batch id, lines) of every intact record, oldest first."""
        for seq in self.segments():
            data = self._path(seq).read_bytes()
            at = 0
            while at + _RECORD.size <= len(data):
                size, crc, batch = _RECORD.unpack_from(data, at)
                payload = data[at + _RECORD.size : at + _RECORD.size + size]
                if len(payload) < size or zlib.crc32(payload) != crc:
                    log.warning(
                        "log write-ahead log %s: torn record at byte %d ignored (%d bytes)",
                        self._path(seq).name,
                        at,
                        len(data) - at,
                    )
                    break
                self.last_batch = max(self.last_batch, batch)
                try:
                    yield seq, batch, _lines(payload)
                except (ValueError, KeyError, chunk.ChunkCorrupt) as exc:
                    log.warning("log write-ahead log %s: unreadable record: %s", seq, exc)
                at += _RECORD.size + size

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.glob("*.wal"))

    def close(self) -> None:
        self._file.close()
