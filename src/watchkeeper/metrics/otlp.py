"""OTLP/HTTP metrics: read an ``ExportMetricsServiceRequest`` (protobuf or JSON) and turn it
into Prometheus series the way Prometheus's OTLP receiver does.

- names: see :mod:`watchkeeper.metrics.otlp_names` (``http.server.duration`` in ``ms`` ->
  ``http_server_duration_milliseconds``; monotonic sums get ``_total``);
- labels: the data point's attributes, normalised (keys that collide after normalisation
  have their values joined with ``;``); the resource's ``service.namespace``/``service.name``
  give ``job`` and ``service.instance.id`` gives ``instance``; the resource's other
  attributes go to one ``target_info`` series per resource, not onto every series;
- gauges and non-monotonic cumulative sums are gauges, monotonic cumulative sums counters,
  histograms ``_bucket{le}``/``_sum``/``_count``, summaries ``{quantile}``/``_sum``/``_count``;
  a point flagged "no recorded value" is a staleness marker;
- delta (or unspecified) temporality and exponential histograms are rejected and counted in
  the response's ``partial_success``, as the OTLP specification asks; the rest is kept.
"""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    DataPointFlags,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)

from watchkeeper.metrics.labels import METRIC_NAME, STALE_NAN, Labels, make_labels
from watchkeeper.metrics.otlp_names import (
    Kind,
    UntranslatableName,
    float_label,
    label_name,
    metric_name,
)
from watchkeeper.metrics.payload import IngestError

Encoding = Literal["protobuf", "json"]
MEDIA_TYPES: dict[str, Encoding] = {
    "application/x-protobuf": "protobuf",
    "application/json": "json",
}
SERVICE_NAME, SERVICE_NAMESPACE = "service.name", "service.namespace"
SERVICE_INSTANCE = "service.instance.id"
TARGET_INFO_EVERY_MS = 150_000  # half the 5-minute lookback: target_info never goes stale
_CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
_NO_VALUE = DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_MAX_MESSAGES = 5  # distinct problems named in partial_success.error_message

Series = tuple[Labels, list[tuple[int, float]]]
Point = NumberDataPoint | HistogramDataPoint | SummaryDataPoint


def encoding_of(content_type: str) -> Encoding | None:
    """Return the OTLP encoding a Content-Type names, or None when it is not OTLP's."""
    return MEDIA_TYPES.get(content_type.split(";", 1)[0].strip().lower())


def decode_request(body: bytes, encoding: Encoding) -> ExportMetricsServiceRequest:
    """Return the request in ``body``; raise IngestError when it is not a valid
    ExportMetricsServiceRequest in that encoding (unknown JSON fields are ignored, as the
    OTLP specification asks)."""
    request = ExportMetricsServiceRequest()
    try:
        if encoding == "json":
            json_format.Parse(body.decode(), request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError) as exc:
        raise IngestError(
            f"the body is not a valid OTLP ExportMetricsServiceRequest ({encoding}): {exc}"
        ) from None
    return request


@dataclass
class Translated:
    """The series of a request, and what was refused (counted per data point)."""

    series: list[Series] = field(default_factory=list)
    samples: int = 0
    rejected_points: int = 0
    problems: Counter[str] = field(default_factory=Counter)

    def reject(self, message: str, points: int) -> None:
        self.rejected_points += points
        self.problems[message] += points

    def add(self, labels: Labels, ts_ms: int, value: float) -> None:
        self.series.append((labels, [(ts_ms, value)]))
        self.samples += 1

    def error_message(self) -> str:
        """The partial_success message: the most frequent problems, with their counts."""
        parts = [f"{msg} ({n} data points)" for msg, n in self.problems.most_common(_MAX_MESSAGES)]
        more = len(self.problems) - _MAX_MESSAGES
        return "; ".join(parts) + (f"; and {more} more problems" if more > 0 else "")


def encode_response(result: Translated, encoding: Encoding) -> bytes:
    """Return the ExportMetricsServiceResponse for ``result``: ``partial_success`` is set only
    when data points were rejected (an empty one means full success)."""
    response = ExportMetricsServiceResponse()
    if result.problems:
        response.partial_success.rejected_data_points = result.rejected_points
        response.partial_success.error_message = result.error_message()
    if encoding == "json":
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()


def translate(request: ExportMetricsServiceRequest) -> Translated:
    """Return the Prometheus series of every data point of ``request`` that can be stored."""
    out = Translated()
    for resource_metrics in request.resource_metrics:
        attributes = list(resource_metrics.resource.attributes)
        target = _target_labels(attributes)
        first = len(out.series)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _metric(metric, target, out)
        stamps = [samples[0][0] for _, samples in out.series[first:]]
        if stamps:
            _target_info(attributes, target, min(stamps), max(stamps), out)
    return out


def _target_labels(attributes: Iterable[KeyValue]) -> dict[str, str]:
    values = {kv.key: any_value_text(kv.value) for kv in attributes}
    labels = {}
    if SERVICE_NAME in values:
        namespace = values.get(SERVICE_NAMESPACE)
        name = values[SERVICE_NAME]
        labels["job"] = f"{namespace}/{name}" if namespace else name
    if SERVICE_INSTANCE in values:
        labels["instance"] = values[SERVICE_INSTANCE]
    return labels


def _target_info(
    attributes: list[KeyValue], target: dict[str, str], start: int, end: int, out: Translated
) -> None:
    """Add ``target_info`` (the resource's descriptive attributes) from ``start`` to ``end``."""
    identifying = {SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE}
    rest = [kv for kv in attributes if kv.key not in identifying]
    if not rest or not target:
        return
    try:
        labels = _labels(rest, target, "target_info")
    except UntranslatableName as exc:
        out.reject(f"resource: {exc}", 0)
        return
    for ts in [*range(start, end, TARGET_INFO_EVERY_MS), end]:
        out.add(labels, ts, 1.0)


def _labels(
    attributes: Iterable[KeyValue],
    target: dict[str, str],
    name: str,
    extra: tuple[str, str] | None = None,
) -> Labels:
    pairs: dict[str, str] = {}
    for kv in sorted(attributes, key=lambda kv: kv.key):
        key, value = label_name(kv.key), any_value_text(kv.value)
        pairs[key] = f"{pairs[key]};{value}" if key in pairs else value
    pairs.update(target)
    pairs[METRIC_NAME] = name
    if extra:
        pairs[extra[0]] = extra[1]
    return make_labels(pairs)


_KINDS: dict[str, Kind] = {"gauge": "gauge", "histogram": "histogram", "summary": "summary"}


def _metric(metric: Metric, target: dict[str, str], out: Translated) -> None:
    data = metric.WhichOneof("data")
    label = f'metric "{metric.name}"'
    if data is None:
        out.reject(f"{label} has no data", 0)
        return
    points: Any = getattr(metric, data).data_points
    if data == "exponential_histogram":
        out.reject(
            f"{label}: exponential histograms are not supported; export explicit-bucket histograms",
            len(points),
        )
        return
    if (
        data in ("sum", "histogram")
        and getattr(metric, data).aggregation_temporality != _CUMULATIVE
    ):
        out.reject(
            f"{label}: only cumulative temporality is supported (delta or unspecified sent); "
            "set the exporter's temporality preference to cumulative",
            len(points),
        )
        return
    kind = _KINDS.get(data) or ("counter" if metric.sum.is_monotonic else "sum")
    try:
        name = metric_name(metric.name, metric.unit, kind)
    except UntranslatableName as exc:
        out.reject(str(exc), len(points))
        return
    for point in points:
        if point.time_unix_nano == 0:
            out.reject(f"{label}: a data point has no time_unix_nano", 1)
            continue
        try:
            _point(point, data, name, target, out)
        except UntranslatableName as exc:
            out.reject(f"{label}: {exc}", 1)


def _point(point: Point, data: str, name: str, target: dict[str, str], out: Translated) -> None:
    ts = point.time_unix_nano // 1_000_000
    stale = bool(point.flags & _NO_VALUE)

    def value(v: float) -> float:
        return STALE_NAN if stale else float(v)

    if isinstance(point, NumberDataPoint):
        number = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
        out.add(_labels(point.attributes, target, name), ts, value(float(number)))
        return
    if isinstance(point, HistogramDataPoint):
        cumulative = 0
        for bound, count in zip(point.explicit_bounds, point.bucket_counts, strict=False):
            cumulative += count
            le = ("le", float_label(bound))
            out.add(_labels(point.attributes, target, f"{name}_bucket", le), ts, value(cumulative))
        inf = ("le", "+Inf")
        out.add(_labels(point.attributes, target, f"{name}_bucket", inf), ts, value(point.count))
        if point.HasField("sum"):
            out.add(_labels(point.attributes, target, f"{name}_sum"), ts, value(point.sum))
    else:
        for q in point.quantile_values:
            quantile = ("quantile", float_label(q.quantile))
            out.add(_labels(point.attributes, target, name, quantile), ts, value(q.value))
        out.add(_labels(point.attributes, target, f"{name}_sum"), ts, value(point.sum))
    out.add(_labels(point.attributes, target, f"{name}_count"), ts, value(point.count))


def any_value_text(value: AnyValue) -> str:
    """Return an attribute value as a label value, as the collector's ``AsString`` does."""
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind in ("array_value", "kvlist_value"):
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)
    plain = _plain(value)
    if isinstance(plain, bool):
        return "true" if plain else "false"
    if isinstance(plain, float):
        return _es6_number(plain)
    return str(plain)


def _plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "double_value" and not math.isfinite(value.double_value):
        return str(value.double_value)
    return getattr(value, kind) if kind else None


def _es6_number(number: float) -> str:
    """Format a float as JavaScript does (``1``, ``0.5``, ``1e-7``, ``1e+21``)."""
    if not math.isfinite(number):
        return str(number)
    if number == int(number) and abs(number) < 1e21:
        return str(int(number))
    if 1e-6 <= abs(number) < 1e21:
        return format(Decimal(repr(number)), "f")
    mantissa, _, exponent = repr(number).partition("e")
    return f"{mantissa}e{int(exponent):+d}"
