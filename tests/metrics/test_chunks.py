"""Chunk encoding: exact round trips, one chunk or many decoded together."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from watchkeeper.metrics.chunks import decode, decode_all, decode_many, encode
from watchkeeper.metrics.labels import STALE_NAN, is_stale


def sample_data(n: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    rng = np.random.default_rng(5)
    ts = np.sort(rng.choice(10**8, n, replace=False)).astype(np.int64) + 1_700_000_000_000
    values = rng.normal(0, 1e6, n)
    if n > 5:
        values[3], values[4], values[5] = math.nan, STALE_NAN, -math.inf
    return ts, values


def test_one_chunk_round_trips_every_bit() -> None:
    ts, values = sample_data(240)
    got_ts, got_values = decode(encode(ts, values))
    assert got_ts.tolist() == ts.tolist()
    assert got_values.view(np.uint64).tolist() == values.view(np.uint64).tolist()
    assert is_stale(float(got_values[4])) and not is_stale(float(got_values[3]))


@pytest.mark.parametrize("sizes", [[1], [1, 1], [240, 17, 1, 240], [3, 500]])
def test_many_chunks_decode_like_their_concatenation(sizes: list[int]) -> None:
    ts, values = sample_data(sum(sizes))
    bounds = np.cumsum([0, *sizes])
    packed = [encode(ts[a:b], values[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    got_ts, got_values = decode_many(packed)
    assert got_ts.dtype == np.int64 and got_values.dtype == np.float64
    assert got_ts.tolist() == ts.tolist()
    assert got_values.view(np.uint64).tolist() == values.view(np.uint64).tolist()


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric chunk format"):
        decode_many([b"\x09abc", b"\x09abc"])


def test_chunks_of_different_lengths_decode_all_at_once_in_order() -> None:
    ts, values = sample_data(240 * 3 + 17 + 1)
    sizes = [240, 17, 240, 1, 240]
    bounds = np.cumsum([0, *sizes])
    packed = [encode(ts[a:b], values[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    got_ts, got_values, counts = decode_all(packed)
    assert counts.tolist() == sizes
    assert got_ts.tolist() == ts.tolist()
    assert got_values.view(np.uint64).tolist() == values.view(np.uint64).tolist()
    empty_ts, empty_values, no_counts = decode_all([])
    assert len(empty_ts) == len(empty_values) == len(no_counts) == 0
    with pytest.raises(ValueError, match="unknown metric chunk format"):
        decode_all([packed[0], b"\x09abc"])
