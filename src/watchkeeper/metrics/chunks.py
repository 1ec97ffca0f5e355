"""Packing one series' samples of one hour into a compressed chunk, and back.

Timestamps are stored as deltas (a regular scrape interval makes them all equal), values
as the XOR of each value's bits with the previous one (slowly changing values leave mostly
zero bytes, the idea of Facebook's Gorilla encoding), and the lot is compressed with snappy.
Encoding and decoding are vectorised with numpy: a 24-hour query over 1,000 series decodes
24,000 chunks, not 5.7 million rows. Snappy rather than zlib: chunks are about 1.5 times
larger but decode four times faster, and decoding is most of a long query's read time.

The first byte of a chunk names its format, so that a later format can be read alongside.
"""

from __future__ import annotations

from collections.abc import Sequence

import cramjam
import numpy as np
import numpy.typing as npt

CHUNK_MS = 3_600_000
"""Samples are grouped into chunks of one aligned hour."""
ROLLUP_STEPS_MS = (300_000, 3_600_000)
"""5-minute and 1-hour rollups (written by compaction, read where raw samples are gone)."""
FORMAT_XOR_SNAPPY = b"\x01"


def chunk_start(ts_ms: int) -> int:
    return ts_ms - ts_ms % CHUNK_MS


def encode(ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> bytes:
    """Pack ascending, unique timestamps (ms) and their values."""
    deltas = np.diff(ts, prepend=np.int64(0)).astype("<i8")
    bits = values.astype("<f8").view("<u8")
    xored = bits ^ np.concatenate(([np.uint64(0)], bits[:-1])).astype("<u8")
    packed = cramjam.snappy.compress_raw(deltas.tobytes() + xored.tobytes())
    return FORMAT_XOR_SNAPPY + bytes(packed)


def decode(data: bytes) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    if data[:1] != FORMAT_XOR_SNAPPY:
        raise ValueError(f"unknown metric chunk format {data[:1]!r}")
    raw = bytes(cramjam.snappy.decompress_raw(data[1:]))
    n = len(raw) // 16
    ts = np.cumsum(np.frombuffer(raw, "<i8", n)).astype(np.int64)
    bits = np.bitwise_xor.accumulate(np.frombuffer(raw, "<u8", n, offset=8 * n))
    return ts, bits.view("<f8").astype(np.float64)


def decode_many(chunks: list[bytes]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Decode one series' consecutive chunks at once: decompress each, then undo the delta
    and XOR encodings over the joined arrays in a few vectorised steps (a day of a series is
    24 chunks; numpy's per-call overhead would otherwise dominate)."""
    if len(chunks) == 1:
        return decode(chunks[0])
    deltas, xors, lengths = [], [], []
    for data in chunks:
        if data[:1] != FORMAT_XOR_SNAPPY:
            raise ValueError(f"unknown metric chunk format {data[:1]!r}")
        raw = bytes(cramjam.snappy.decompress_raw(data[1:]))
        n = len(raw) // 16
        deltas.append(raw[: 8 * n])
        xors.append(raw[8 * n :])
        lengths.append(n)
    sizes = np.asarray(lengths)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    # Each chunk's first "delta" is its absolute first timestamp: running sums over the
    # joined array carry the previous chunks' totals, which are subtracted back out.
    d = np.frombuffer(b"".join(deltas), "<i8")
    running = np.cumsum(d)
    carried = np.concatenate(([0], running[starts[1:] - 1]))
    ts = running - np.repeat(carried, sizes)
    # Likewise each chunk's XOR chain starts from zero.
    acc = np.bitwise_xor.accumulate(np.frombuffer(b"".join(xors), "<u8"))
    before = np.concatenate(([np.uint64(0)], acc[starts[1:] - 1]))
    bits = acc ^ np.repeat(before, sizes)
    return ts.astype(np.int64), bits.view("<f8").astype(np.float64)


def decode_all(
    chunks: Sequence[bytes],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Decode chunks of any series, in order, into flat arrays: return (timestamps, values,
    samples per chunk).

    A long query reads tens of thousands of chunks. Each is decompressed straight into one
    shared buffer, and chunks holding the same number of samples (every complete hour of a
    regularly scraped series) are undone together as the rows of a matrix, whatever series
    they belong to: a few numpy calls in all rather than a dozen per series.
    """
    sizes = np.empty(len(chunks), dtype=np.int64)
    length = cramjam.snappy.decompress_raw_len
    for k, data in enumerate(chunks):
        if data[:1] != FORMAT_XOR_SNAPPY:
            raise ValueError(f"unknown metric chunk format {data[:1]!r}")
        sizes[k] = length(memoryview(data)[1:])
    if (sizes % 16).any():  # not written by encode(): decode one at a time, as decode() reads it
        pieces = [decode(data) for data in chunks]
        counts = np.array([len(ts) for ts, _ in pieces], dtype=np.int64)
        if not pieces:
            return np.empty(0, dtype=np.int64), np.empty(0), counts
        ts_all = np.concatenate([ts for ts, _ in pieces])
        return ts_all, np.concatenate([values for _, values in pieces]), counts
    counts = sizes // 16
    widths, groups = np.unique(counts, return_inverse=True)
    if len(widths) == 1:  # the usual case: complete hours of regular scrapes
        rows_ts, rows_bits = _undo_rows(list(chunks), int(widths[0]))
        return rows_ts.ravel(), rows_bits.view("<f8").ravel(), counts
    starts = np.concatenate(([0], np.cumsum(counts)))
    ts = np.empty(int(starts[-1]), dtype=np.int64)
    values = np.empty(int(starts[-1]), dtype=np.float64)
    for group, width in enumerate(widths.tolist()):
        members = np.flatnonzero(groups == group)
        rows_ts, rows_bits = _undo_rows([chunks[k] for k in members.tolist()], width)
        where = (starts[members][:, None] + np.arange(width)).ravel()
        ts[where] = rows_ts.ravel()
        values[where] = rows_bits.view("<f8").ravel()
    return ts, values, counts


def _undo_rows(
    chunks: list[bytes], samples: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """Decode chunks of ``samples`` samples each: (timestamps, value bits), one row each."""
    words = _decompress_rows(chunks, samples)
    # Row k is chunk k: its deltas (the first one absolute), then its XORed value bits.
    rows_ts = np.cumsum(words[:, 0, :].view("<i8"), axis=1)
    rows_bits = np.bitwise_xor.accumulate(words[:, 1, :], axis=1)
    return rows_ts, rows_bits


def _decompress_rows(chunks: list[bytes], samples: int) -> npt.NDArray[np.uint64]:
    """Decompress chunks of ``samples`` samples each into an array (chunks, 2, samples)."""
    words = np.empty((len(chunks), 2, samples), dtype="<u8")
    view = words.reshape(-1).view(np.uint8).data
    into = cramjam.snappy.decompress_raw_into
    row = 16 * samples
    for k, data in enumerate(chunks):
        into(memoryview(data)[1:], view[k * row : (k + 1) * row])
    return words
