"""OTLP metrics: names and series as Prometheus's OTLP receiver makes them, and the receiver."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Metric,
    NumberDataPoint,
)

from tests.helpers import LiveServer
from tests.metrics.ingest_support import api_token, stored
from watchkeeper.metrics.labels import is_stale
from watchkeeper.metrics.otlp import any_value_text, decode_request, translate
from watchkeeper.metrics.otlp_names import UntranslatableName, label_name, metric_name
from watchkeeper.metrics.payload import IngestError
from watchkeeper.runtime.context import AppContext

NS = 1_700_000_000_000_000_000  # a time in ns
MS = NS // 1_000_000
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("http.server.duration", "ms", "histogram", "http_server_duration_milliseconds"),
        ("http.server.request.duration", "s", "histogram", "http_server_request_duration_seconds"),
        ("http.server.requests", "{request}", "counter", "http_server_requests_total"),
        ("system.cpu.utilization", "1", "gauge", "system_cpu_utilization_ratio"),
        ("system.network.io", "By", "counter", "system_network_io_bytes_total"),
        ("throughput", "By/s", "gauge", "throughput_bytes_per_second"),
        ("queue.size", "{item}", "sum", "queue_size"),  # non-monotonic: no _total
        ("requests_total", "", "counter", "requests_total"),  # no _total_total
        ("memory.usage.bytes", "By", "gauge", "memory_usage_bytes"),  # unit already there
        ("load", "%", "gauge", "load_percent"),
        ("distance", "km", "gauge", "distance_km"),  # unknown units pass through
        ("2xx.responses", "", "counter", "_2xx_responses_total"),
        ("weird..name__x", "", "gauge", "weird_name_x"),
    ],
)
def test_metric_names(name: str, unit: str, kind: Any, expected: str) -> None:
    assert metric_name(name, unit, kind) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("http.method", "http_method"),
        ("net.peer.name", "net_peer_name"),
        ("1xx", "key_1xx"),
        ("_private", "key_private"),
        ("__reserved", "__reserved"),
        ("k8s-pod", "k8s_pod"),
    ],
)
def test_label_names(key: str, expected: str) -> None:
    assert label_name(key) == expected


def test_names_with_nothing_to_keep_are_refused() -> None:
    with pytest.raises(UntranslatableName):
        metric_name("...", "", "gauge")
    with pytest.raises(UntranslatableName):
        label_name("..")


def kv(key: str, value: str | int | float | bool) -> dict[str, Any]:
    kind = {str: "stringValue", int: "intValue", float: "doubleValue", bool: "boolValue"}
    return {"key": key, "value": {kind[type(value)]: value}}


def export(
    *metrics: dict[str, Any], resource: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """An OTLP JSON export with one resource (api of shop, on pod-1) and one scope."""
    attributes = (
        resource
        if resource is not None
        else [
            kv("service.name", "api"),
            kv("service.namespace", "shop"),
            kv("service.instance.id", "pod-1"),
            kv("host.name", "node-7"),
        ]
    )
    return {
        "resourceMetrics": [
            {
                "resource": {"attributes": attributes},
                "scopeMetrics": [{"scope": {"name": "test"}, "metrics": list(metrics)}],
            }
        ]
    }


def points(metrics: dict[str, Any]) -> dict[str, dict[frozenset[tuple[str, str]], float]]:
    """Translate a JSON export; return name -> {labels without __name__: value}."""
    body = json.dumps(metrics).encode()
    out: dict[str, dict[frozenset[tuple[str, str]], float]] = {}
    for labels, samples in translate(decode_request(body, "json")).series:
        name = dict(labels)["__name__"]
        rest = frozenset((k, v) for k, v in labels if k != "__name__")
        ((ts, value),) = samples
        assert ts == MS
        out.setdefault(name, {})[rest] = value
    return out


TARGET = {("job", "shop/api"), ("instance", "pod-1")}


def test_gauge_and_counter_with_job_instance_and_target_info() -> None:
    got = points(
        export(
            {
                "name": "process.memory.usage",
                "unit": "By",
                "gauge": {"dataPoints": [{"timeUnixNano": str(NS), "asInt": "1024"}]},
            },
            {
                "name": "http.server.requests",
                "unit": "{request}",
                "sum": {
                    "aggregationTemporality": CUMULATIVE,
                    "isMonotonic": True,
                    "dataPoints": [
                        {
                            "timeUnixNano": str(NS),
                            "asDouble": 7.5,
                            "attributes": [kv("http.method", "GET"), kv("http.status_code", 200)],
                        }
                    ],
                },
            },
        )
    )
    assert got["process_memory_usage_bytes"] == {frozenset(TARGET): 1024.0}
    labels = frozenset(TARGET | {("http_method", "GET"), ("http_status_code", "200")})
    assert got["http_server_requests_total"] == {labels: 7.5}
    # The other resource attributes go to target_info, not onto every series.
    assert got["target_info"] == {frozenset(TARGET | {("host_name", "node-7")}): 1.0}


def test_histogram_buckets_are_cumulative_with_inf_sum_and_count() -> None:
    got = points(
        export(
            {
                "name": "http.server.duration",
                "unit": "ms",
                "histogram": {
                    "aggregationTemporality": CUMULATIVE,
                    "dataPoints": [
                        {
                            "timeUnixNano": str(NS),
                            "count": "10",
                            "sum": 123.5,
                            "bucketCounts": ["1", "4", "0", "5"],
                            "explicitBounds": [0.005, 10, 250],
                        }
                    ],
                },
            }
        )
    )
    buckets = {dict(k)["le"]: v for k, v in got["http_server_duration_milliseconds_bucket"].items()}
    assert buckets == {"0.005": 1, "10": 5, "250": 5, "+Inf": 10}
    assert list(got["http_server_duration_milliseconds_sum"].values()) == [123.5]
    assert list(got["http_server_duration_milliseconds_count"].values()) == [10]


def test_summary_gives_quantiles_sum_and_count() -> None:
    got = points(
        export(
            {
                "name": "rpc.latency",
                "unit": "s",
                "summary": {
                    "dataPoints": [
                        {
                            "timeUnixNano": str(NS),
                            "count": "4",
                            "sum": 2.0,
                            "quantileValues": [
                                {"quantile": 0.5, "value": 0.4},
                                {"quantile": 0.99, "value": 0.9},
                            ],
                        }
                    ]
                },
            }
        )
    )
    quantiles = {dict(k)["quantile"]: v for k, v in got["rpc_latency_seconds"].items()}
    assert quantiles == {"0.5": 0.4, "0.99": 0.9}
    assert list(got["rpc_latency_seconds_sum"].values()) == [2.0]
    assert list(got["rpc_latency_seconds_count"].values()) == [4.0]


def test_no_recorded_value_is_a_staleness_marker() -> None:
    got = points(
        export(
            {
                "name": "queue.depth",
                "gauge": {"dataPoints": [{"timeUnixNano": str(NS), "asDouble": 3, "flags": 1}]},
            }
        )
    )
    (value,) = got["queue_depth"].values()
    assert is_stale(value)


def test_colliding_attribute_keys_join_their_values() -> None:
    point = {
        "timeUnixNano": str(NS),
        "asInt": "1",
        "attributes": [kv("a.b", "dot"), kv("a_b", "underscore"), kv("job", "overridden")],
    }
    got = points(export({"name": "m", "gauge": {"dataPoints": [point]}}))
    ((labels, _),) = got["m"].items()
    assert dict(labels) == {"a_b": "dot;underscore", "job": "shop/api", "instance": "pod-1"}


def test_delta_and_exponential_histograms_are_rejected_the_rest_kept() -> None:
    request = export(
        {
            "name": "requests",
            "sum": {
                "aggregationTemporality": DELTA,
                "isMonotonic": True,
                "dataPoints": [{"timeUnixNano": str(NS), "asInt": "1"}] * 3,
            },
        },
        {
            "name": "latency",
            "exponentialHistogram": {
                "aggregationTemporality": CUMULATIVE,
                "dataPoints": [{"timeUnixNano": str(NS), "count": "1", "scale": 2}],
            },
        },
        {"name": "no.time", "gauge": {"dataPoints": [{"asInt": "1"}]}},
        {"name": "ok", "gauge": {"dataPoints": [{"timeUnixNano": str(NS), "asInt": "1"}]}},
    )
    result = translate(decode_request(json.dumps(request).encode(), "json"))
    assert result.rejected_points == 5
    names = {dict(labels)["__name__"] for labels, _ in result.series}
    assert names == {"ok", "target_info"}
    message = result.error_message()
    assert 'metric "requests": only cumulative temporality is supported' in message
    assert "(3 data points)" in message
    assert 'metric "latency": exponential histograms are not supported' in message
    assert 'metric "no.time": a data point has no time_unix_nano' in message


def test_resource_without_service_has_no_job_and_no_target_info() -> None:
    got = points(
        export(
            {"name": "m", "gauge": {"dataPoints": [{"timeUnixNano": str(NS), "asInt": "2"}]}},
            resource=[kv("host.name", "x")],
        )
    )
    assert got == {"m": {frozenset(): 2.0}}


def test_attribute_values_as_label_values() -> None:
    cases = [
        (AnyValue(string_value="s"), "s"),
        (AnyValue(bool_value=True), "true"),
        (AnyValue(int_value=-3), "-3"),
        (AnyValue(double_value=2.0), "2"),
        (AnyValue(double_value=0.25), "0.25"),
        (AnyValue(double_value=1e-7), "1e-7"),
        (
            AnyValue(
                array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="a")])
            ),
            '[1,"a"]',
        ),
        (AnyValue(), ""),
    ]
    assert [any_value_text(value) for value, _ in cases] == [text for _, text in cases]


def test_unreadable_requests_are_errors() -> None:
    with pytest.raises(IngestError, match="not a valid OTLP ExportMetricsServiceRequest"):
        decode_request(b"{not json", "json")
    with pytest.raises(IngestError, match=r"\(protobuf\)"):
        decode_request(b"\x0a\x05ab", "protobuf")


def test_unknown_json_fields_are_ignored() -> None:
    request = export({"name": "m", "futureField": 1, "gauge": {"dataPoints": []}})
    request["somethingNew"] = True
    decode_request(json.dumps(request).encode(), "json")


# -- the HTTP receiver ------------------------------------------------------------------------


def protobuf_request() -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="worker"))
    )
    metrics = resource.scope_metrics.add().metrics
    gauge = Metric(name="jobs.queued", unit="{job}")
    gauge.gauge.data_points.append(NumberDataPoint(time_unix_nano=NS, as_int=12))
    delta = Metric(name="jobs.done")
    delta.sum.aggregation_temporality = DELTA
    delta.sum.is_monotonic = True
    delta.sum.data_points.append(NumberDataPoint(time_unix_nano=NS, as_int=1))
    metrics.extend([gauge, delta])
    return request


def post(
    server: LiveServer, body: bytes, token: str, content_type: str, **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/otlp/v1/metrics",
        content=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {token}", **headers},
        timeout=30,
    )


def test_otlp_json_is_stored(ctx: AppContext, server: LiveServer) -> None:
    body = json.dumps(
        export(
            {
                "name": "temp",
                "unit": "Cel",
                "gauge": {"dataPoints": [{"timeUnixNano": str(NS), "asDouble": 21.5}]},
            }
        )
    ).encode()
    resp = post(server, body, api_token(ctx), "application/json")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {}  # no partial_success: everything was accepted
    (series,) = stored(ctx, __name__="temp_celsius").items()
    assert dict(series[0])["job"] == "shop/api"
    assert series[1] == [(MS, 21.5)]


def test_otlp_protobuf_gzip_with_partial_success(ctx: AppContext, server: LiveServer) -> None:
    body = gzip.compress(protobuf_request().SerializeToString())
    resp = post(
        server, body, api_token(ctx), "application/x-protobuf", **{"Content-Encoding": "gzip"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/x-protobuf"
    answer = ExportMetricsServiceResponse.FromString(resp.content)
    assert answer.partial_success.rejected_data_points == 1
    assert 'metric "jobs.done": only cumulative temporality' in answer.partial_success.error_message
    assert stored(ctx, __name__="jobs_queued") == {
        (("__name__", "jobs_queued"), ("job", "worker")): [(MS, 12.0)]
    }


@pytest.mark.parametrize(
    ("content_type", "body", "headers", "status", "detail"),
    [
        ("application/json", b"{nope", {}, 400, "not a valid OTLP ExportMetricsServiceRequest"),
        ("application/x-protobuf", b"\x0a\x05ab", {}, 400, "(protobuf)"),
        ("application/json", b"not gzip", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
        ("text/plain", b"{}", {}, 415, "use application/x-protobuf or application/json"),
        ("application/json", b"{}", {"Content-Encoding": "br"}, 415, "use gzip or none"),
        (
            "application/json",
            gzip.compress(b" " * (33 * 1024 * 1024)),
            {"Content-Encoding": "gzip"},
            413,
            "larger than 32 MB decompressed",
        ),
    ],
)
def test_bad_otlp_requests_get_a_problem(
    ctx: AppContext,
    server: LiveServer,
    content_type: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    detail: str,
) -> None:
    resp = post(server, body, api_token(ctx), content_type, **headers)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert detail in resp.json()["detail"]


def test_otlp_needs_an_operator(ctx: AppContext, server: LiveServer) -> None:
    body = protobuf_request().SerializeToString()
    resp = httpx.post(
        f"{server.url}/api/v1/otlp/v1/metrics",
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert resp.status_code == 401
    assert post(server, body, api_token(ctx, "viewer"), "application/x-protobuf").status_code == 403
    assert stored(ctx, __name__="jobs_queued") == {}
