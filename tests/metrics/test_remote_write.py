"""Prometheus remote-write: the wire format, decoding errors, and the HTTP receiver."""

from __future__ import annotations

import math
import struct

import cramjam
import httpx
import pytest

from tests.helpers import LiveServer
from tests.metrics.ingest_support import api_token, stored
from watchkeeper.metrics.labels import STALE_NAN, is_stale, make_labels
from watchkeeper.metrics.payload import IngestError, PayloadTooLarge
from watchkeeper.metrics.remote_write import (
    HEADERS,
    decode_write_request,
    encode_write_request,
)
from watchkeeper.runtime.context import AppContext
from watchkeeper.telemetry import REGISTRY

T0 = 1_700_000_000_000
UP = make_labels({"__name__": "up", "job": "node", "instance": "h1:9100"})


def snappy(raw: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(raw))


def test_encoding_is_the_prometheus_wire_format() -> None:
    """Field numbers and types of prompb: WriteRequest.timeseries=1, TimeSeries.labels=1,
    samples=2, Label name=1/value=2, Sample value=1 (double), timestamp=2 (int64)."""
    label = b"\x0a\x08__name__\x12\x02up"
    sample = b"\x09" + struct.pack("<d", 1.0) + b"\x10\xe8\x07"  # timestamp 1000 as varint
    series = b"\x0a" + bytes([len(label)]) + label + b"\x12" + bytes([len(sample)]) + sample
    expected = b"\x0a" + bytes([len(series)]) + series
    body = encode_write_request([({"__name__": "up"}, [(1000, 1.0)])])
    assert bytes(cramjam.snappy.decompress_raw(body)) == expected


def test_round_trip_keeps_values_bits_and_sorts_labels() -> None:
    weird = make_labels({"__name__": "temperature", "room": "kitchen ☕", "z": "last"})
    body = encode_write_request(
        [
            (
                {"job": "node", "__name__": "up", "instance": "h1:9100"},
                [(T0, 1.0), (T0 + 15_000, 0.0)],
            ),
            (weird, [(-5, math.nan), (T0, STALE_NAN), (T0 + 1, -math.inf)]),
        ]
    )
    decoded = decode_write_request(body)
    assert decoded.problems == []
    assert decoded.samples == 5
    assert decoded.series[0] == (UP, [(T0, 1.0), (T0 + 15_000, 0.0)])
    labels, samples = decoded.series[1]
    assert labels == weird
    assert [ts for ts, _ in samples] == [-5, T0, T0 + 1]
    assert math.isnan(samples[0][1]) and not is_stale(samples[0][1])
    assert is_stale(samples[1][1])
    assert samples[2][1] == -math.inf
    # The same request decoded again (label sets now cached) gives the same result.
    again = decode_write_request(body)
    assert [labels for labels, _ in again.series] == [labels for labels, _ in decoded.series]


def test_bad_series_are_reported_and_the_good_kept() -> None:
    body = encode_write_request(
        [
            ({"__name__": "up", "job": "a"}, [(T0, 1.0)]),
            ({"job": "nameless"}, [(T0, 1.0), (T0 + 1, 2.0)]),
            ({"__name__": "bad-name"}, [(T0, 1.0)]),
            ({"__name__": "ok", "0label": "x"}, [(T0, 1.0)]),
            ({"__name__": "ok", "good": "1"}, [(T0, 3.0)]),
        ]
    )
    decoded = decode_write_request(body)
    assert [dict(labels) for labels, _ in decoded.series] == [
        {"__name__": "up", "job": "a"},
        {"__name__": "ok", "good": "1"},
    ]
    assert [(p.index, p.series, p.reason) for p in decoded.problems] == [
        (1, '{job="nameless"}', "no metric name (label __name__)"),
        (2, "bad-name", 'invalid metric name "bad-name" (use letters, digits, "_" and ":")'),
        (
            3,
            'ok{0label="x"}',
            'invalid label name "0label" (use letters, digits and "_", not first a digit)',
        ),
    ]
    assert decoded.rejected_samples == 4


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payloads here are shorter than 128 bytes)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def raw_series(*labels: tuple[bytes, bytes], extra: bytes = b"") -> bytes:
    """A TimeSeries field built by hand: labels, one sample at timestamp 1, ``extra``."""
    body = b"".join(field(1, field(1, name) + field(2, value)) for name, value in labels)
    return field(1, body + field(2, b"\x10\x01") + extra)


def test_duplicate_label_names_and_non_utf8_values_refuse_only_their_series() -> None:
    body = (
        raw_series((b"__name__", b"fine"))
        + raw_series((b"__name__", b"x"), (b"a", b"\xff\xfe"))
        + raw_series((b"__name__", b"x"), (b"a", b"1"), (b"a", b"2"))
    )
    decoded = decode_write_request(snappy(body))
    assert decoded.series == [(make_labels({"__name__": "fine"}), [(1, 0.0)])]
    assert [p.reason for p in decoded.problems] == [
        "a label is not valid UTF-8 or not a Label message",
        'duplicate label name "a"',
    ]


def test_histograms_are_counted_not_stored() -> None:
    """Prometheus sends histograms in series of their own (no float samples): those are
    counted; a series with float samples keeps its samples (its histograms, which
    Prometheus does not send, are neither stored nor looked for)."""
    histogram = field(4, b"\x78\x05")  # TimeSeries.histograms, with a timestamp
    only_histograms = field(
        1, field(1, field(1, b"__name__") + field(2, b"only_histogram")) + histogram + histogram
    )
    body = raw_series((b"__name__", b"h"), extra=histogram) + only_histograms
    decoded = decode_write_request(snappy(body))
    assert decoded.histograms == 2
    assert decoded.samples == 1
    assert [labels for labels, _ in decoded.series] == [make_labels({"__name__": "h"})]


def test_unreadable_bodies_are_errors() -> None:
    with pytest.raises(IngestError, match="not snappy-compressed"):
        decode_write_request(b"this is not snappy")
    with pytest.raises(IngestError, match="not a valid remote-write WriteRequest protobuf"):
        decode_write_request(snappy(b"\x0a\x05ab"))
    too_big = b"\x80\x80\x80\x20" + b"\x00" * 10  # the header announces 64 MiB
    with pytest.raises(PayloadTooLarge, match="larger than 32 MB"):
        decode_write_request(too_big)


# -- the HTTP receiver ------------------------------------------------------------------------


def counted(result: str) -> float:
    """Watchkeeper's own counter of remote-write samples with ``result`` (it is shared by
    the test process and the LiveServer thread)."""
    labels = {"source": "remote_write", "result": result}
    return REGISTRY.get_sample_value("watchkeeper_ingest_samples_total", labels) or 0.0


def post(server: LiveServer, body: bytes, token: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/write",
        content=body,
        headers={**HEADERS, "Authorization": f"Bearer {token}", **headers},
        timeout=30,
    )


def test_remote_write_stores_the_samples(ctx: AppContext, server: LiveServer) -> None:
    token = api_token(ctx)
    batch = [
        (UP, [(T0, 1.0), (T0 + 15_000, 1.0)]),
        (make_labels({"__name__": "node_load1", "job": "node"}), [(T0, 0.25)]),
        (make_labels({"__name__": "gone", "job": "node"}), [(T0, STALE_NAN)]),
    ]
    resp = post(server, encode_write_request(batch), token)
    assert resp.status_code == 204, resp.text
    assert stored(ctx, job="node", __name__="up") == {UP: [(T0, 1.0), (T0 + 15_000, 1.0)]}
    (load,) = stored(ctx, __name__="node_load1").values()
    assert load == [(T0, 0.25)]
    ((gone,),) = stored(ctx, __name__="gone").values()
    assert is_stale(gone[1])
    # Prometheus re-sends a batch when it did not see the answer: nothing is doubled.
    assert post(server, encode_write_request(batch), token).status_code == 204
    assert stored(ctx, __name__="up")[UP] == [(T0, 1.0), (T0 + 15_000, 1.0)]


def test_partial_batch_stores_the_good_series_and_answers_400(
    ctx: AppContext, server: LiveServer
) -> None:
    token = api_token(ctx)
    before = {r: counted(r) for r in ("accepted", "rejected")}
    body = encode_write_request(
        [
            (UP, [(T0, 1.0)]),
            ({"__name__": "bad-name", "job": "node"}, [(T0, 1.0)]),
            ({"instance": "x"}, [(T0, 1.0)]),
        ]
    )
    resp = post(server, body, token)
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["detail"].startswith("2 series refused (2 samples); 1 samples")
    assert problem["errors"] == [
        {
            "field": "timeseries[1]",
            "message": 'bad-name{job="node"}: invalid metric name "bad-name" '
            '(use letters, digits, "_" and ":")',
        },
        {"field": "timeseries[2]", "message": '{instance="x"}: no metric name (label __name__)'},
    ]
    assert stored(ctx, __name__="up") == {UP: [(T0, 1.0)]}
    assert counted("accepted") - before["accepted"] == 1
    assert counted("rejected") - before["rejected"] == 2


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"not snappy at all", 400, "not snappy-compressed"),
        (snappy(b"\x0a\x05ab"), 400, "not a valid remote-write WriteRequest protobuf"),
        (b"\x80\x80\x80\x20" + b"\x00" * 10, 413, "larger than 32 MB decompressed"),
    ],
)
def test_unreadable_bodies_get_a_problem(
    ctx: AppContext, server: LiveServer, body: bytes, status: int, detail: str
) -> None:
    resp = post(server, body, api_token(ctx))
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"
    assert detail in resp.json()["detail"]


def test_other_content_encodings_are_refused(ctx: AppContext, server: LiveServer) -> None:
    resp = post(server, b"x", api_token(ctx), **{"Content-Encoding": "gzip"})
    assert resp.status_code == 415
    assert "remote-write uses snappy" in resp.json()["detail"]


def test_remote_write_needs_an_operator(ctx: AppContext, server: LiveServer) -> None:
    body = encode_write_request([(UP, [(T0, 1.0)])])
    assert httpx.post(f"{server.url}/api/v1/write", content=body).status_code == 401
    assert post(server, body, api_token(ctx, "responder")).status_code == 403
    assert post(server, body, "wk_not_a_real_token").status_code == 401
    assert stored(ctx, __name__="up") == {}
