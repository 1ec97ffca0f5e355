"""Prometheus remote-write 1.0: decode requests (and encode them, as Prometheus does).

The body is a ``prometheus.WriteRequest`` protobuf, snappy-compressed in the block format.
The message classes are built at import time from descriptors written here (the subset of
``prompb/types.proto`` and ``remote.proto`` that carries float samples, same field numbers),
so there is no generated code to keep in step. Fields not declared (exemplars, metadata) are
skipped by the parser; histograms are counted, not stored (native histograms are not
supported).

Decoding reads a series' labels as raw bytes first (an embedded message and a ``bytes``
field share one wire format) and looks them up in a cache of label sets already checked:
a remote-write stream sends the same series every few seconds, and building and checking
label sets is most of the work otherwise. A series with an invalid metric or label name, a
label that is not UTF-8, or no ``__name__`` is reported and left out; the other series of
the request are kept, as Prometheus's receiver does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from watchkeeper.metrics.labels import LABEL_RE, METRIC_NAME, NAME_RE, Labels
from watchkeeper.metrics.payload import MAX_BODY_BYTES, IngestError, snappy_block

CONTENT_TYPE = "application/x-protobuf"
HEADERS = {
    "Content-Type": CONTENT_TYPE,
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
"""The headers Prometheus sends with a remote-write 1.0 request."""

Series = tuple[Labels, list[tuple[int, float]]]

_F = descriptor_pb2.FieldDescriptorProto


def _classes(name: str, *, raw_labels: bool) -> dict[str, Any]:
    """Build the remote-write messages; with ``raw_labels`` a series' labels are ``bytes``
    (each an encoded Label) instead of Label messages."""
    proto = descriptor_pb2.FileDescriptorProto(name=name, package="prometheus", syntax="proto3")

    def message(msg_name: str, *fields: tuple[str, int, int | str]) -> None:
        """Declare a message; a field's kind is a scalar type or a message name (repeated)."""
        msg = proto.message_type.add(name=msg_name)
        for field_name, number, kind in fields:
            spec = msg.field.add(name=field_name, number=number)
            if isinstance(kind, str):
                spec.type, spec.type_name = _F.TYPE_MESSAGE, f".prometheus.{kind}"
                spec.label = _F.LABEL_REPEATED
            else:
                spec.type = kind  # type: ignore[assignment]
                spec.label = _F.LABEL_REPEATED if kind == _F.TYPE_BYTES else _F.LABEL_OPTIONAL

    message("Label", ("name", 1, _F.TYPE_STRING), ("value", 2, _F.TYPE_STRING))
    message("Sample", ("value", 1, _F.TYPE_DOUBLE), ("timestamp", 2, _F.TYPE_INT64))
    message("Histogram")  # fields left undeclared: histograms are only counted
    message(
        "TimeSeries",
        ("labels", 1, _F.TYPE_BYTES if raw_labels else "Label"),
        ("samples", 2, "Sample"),
        ("histograms", 4, "Histogram"),
    )
    message("WriteRequest", ("timeseries", 1, "TimeSeries"))
    pool = descriptor_pool.DescriptorPool()  # private: no clash with other "prometheus" protos
    pool.Add(proto)
    return {
        m: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{m}"))
        for m in ("WriteRequest", "Label")
    }


_TYPED = _classes("watchkeeper/remote_write.proto", raw_labels=False)
_RAW = _classes("watchkeeper/remote_write_raw_labels.proto", raw_labels=True)
WriteRequest: Any = _TYPED["WriteRequest"]
"""``prometheus.WriteRequest`` as Prometheus sends it."""
_RawWriteRequest: Any = _RAW["WriteRequest"]
_Label: Any = _RAW["Label"]


@dataclass(frozen=True)
class SeriesProblem:
    """A series left out of a request: its position, how it reads, and why."""

    index: int
    series: str
    reason: str
    samples: int

    def __str__(self) -> str:
        return f"series {self.index} {self.series}: {self.reason}"


@dataclass
class DecodedWrite:
    series: list[Series] = field(default_factory=list)
    samples: int = 0
    histograms: int = 0
    problems: list[SeriesProblem] = field(default_factory=list)

    @property
    def rejected_samples(self) -> int:
        return sum(p.samples for p in self.problems)


def show_series(pairs: Iterable[tuple[str, str]], limit: int = 200) -> str:
    """Return a series as PromQL writes it (``name{a="b"}``), cut at ``limit`` characters."""
    items = list(pairs)
    name = next((v for k, v in items if k == METRIC_NAME), "")
    inner = ",".join(f'{k}="{v}"' for k, v in items if k != METRIC_NAME)
    text = f"{name}{{{inner}}}" if inner or not name else name
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_labels(pairs: Iterable[tuple[str, str]]) -> str | None:
    """Return why a series' labels cannot be stored, or None when they can."""
    seen: set[str] = set()
    name = None
    for key, value in pairs:
        if key in seen:
            return f'duplicate label name "{key}"'
        seen.add(key)
        if key == METRIC_NAME:
            name = value
        elif LABEL_RE.match(key) is None:
            return f'invalid label name "{key}" (use letters, digits and "_", not first a digit)'
    if name is None:
        return "no metric name (label __name__)"
    if NAME_RE.match(name) is None:
        return f'invalid metric name "{name}" (use letters, digits, "_" and ":")'
    return None


class _Checked(NamedTuple):
    labels: Labels  # empty when refused
    problem: str | None = None
    shown: str = ""  # the series as text, when refused


class _LabelCache:
    """Raw label bytes of a series -> its checked label set (or why it is refused)."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self.entries: dict[tuple[bytes, ...], _Checked] = {}

    def get(self, raw: tuple[bytes, ...]) -> _Checked:
        found = self.entries.get(raw)
        if found is None:
            found = self._check(raw)
            if len(self.entries) >= self.size:
                self.entries.clear()  # cheaper than LRU bookkeeping; refills in one round
            self.entries[raw] = found
        return found

    @staticmethod
    def _check(raw: tuple[bytes, ...]) -> _Checked:
        pairs = []
        for item in raw:
            label = _Label()
            try:
                label.ParseFromString(item)
            except DecodeError:
                return _Checked((), "a label is not valid UTF-8 or not a Label message", "{…}")
            pairs.append((label.name, label.value))
        problem = check_labels(pairs)
        if problem is not None:
            return _Checked((), problem, show_series(pairs))
        return _Checked(tuple(sorted(p for p in pairs if p[1])))


_CACHE = _LabelCache()


def decode_write_request(body: bytes, limit: int = MAX_BODY_BYTES) -> DecodedWrite:
    """Return the series of a snappy-compressed remote-write request, the problem series
    left out; raise IngestError when the body is not snappy or not a WriteRequest, and
    PayloadTooLarge when it is over ``limit`` bytes decompressed."""
    raw = snappy_block(body, limit)
    request = _RawWriteRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError as exc:
        raise IngestError(
            f"the body is not a valid remote-write WriteRequest protobuf: {exc}"
        ) from None
    out = DecodedWrite()
    get, keep, histograms, kept = _CACHE.get, out.series.append, 0, 0
    for index, ts in enumerate(request.timeseries):  # the hot loop: locals only
        found = ts.samples
        count = len(found)
        if count == 1:  # a scrape's batch: one sample per series
            first = found[0]
            samples = [(first.timestamp, first.value)]
        elif count:
            samples = [(s.timestamp, s.value) for s in found]
        else:
            # Prometheus sends a series' histograms in a series of their own (no float
            # samples): counted there only, which spares a look at every float series.
            histograms += len(ts.histograms)
            continue
        checked = get(tuple(ts.labels))
        if checked.problem is None:
            keep((checked.labels, samples))
            kept += count
        else:
            out.problems.append(SeriesProblem(index, checked.shown, checked.problem, count))
    out.histograms = histograms
    out.samples = kept
    return out


def encode_write_request(
    series: Iterable[tuple[Labels | Mapping[str, str], Sequence[tuple[int, float]]]],
) -> bytes:
    """Return a remote-write request body as Prometheus sends it: a WriteRequest with labels
    sorted by name, snappy-compressed (block format). Samples are ``(timestamp_ms, value)``."""
    request = WriteRequest()
    for labels, samples in series:
        items = labels.items() if isinstance(labels, Mapping) else labels
        ts = request.timeseries.add()
        for name, text in sorted(items):
            ts.labels.add(name=name, value=text)
        for timestamp, value in samples:
            ts.samples.add(value=value, timestamp=timestamp)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
