"""The push body: the format both sides share, and staleness markers for series that end."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from watchkeeper.agent.batch import BatchBuilder
from watchkeeper.agent.collect import Sample
from watchkeeper.agent.wire import AgentPush
from watchkeeper.metrics.labels import is_stale

ETH0 = Sample("node_network_receive_bytes_total", (("device", "eth0"),), 100.0)
ETH1 = Sample("node_network_receive_bytes_total", (("device", "eth1"),), 5.0)
LOAD = Sample("node_load1", (), 0.25)


def decode(body: bytes) -> AgentPush:
    return AgentPush.model_validate_json(body)


def test_a_batch_carries_host_labels_once_and_every_series() -> None:
    body = BatchBuilder("web-1").build(1000, [LOAD, ETH0])
    raw = json.loads(body)
    assert raw["labels"] == {"instance": "web-1", "job": "agent"}
    assert "inventory" not in raw
    assert raw["series"][0] == {"name": "node_load1", "samples": [[1000, 0.25]]}
    push = decode(body)
    assert push.host == "web-1"
    assert [(s.name, s.labels, s.samples) for s in push.series] == [
        ("node_load1", {}, [(1000, 0.25)]),
        ("node_network_receive_bytes_total", {"device": "eth0"}, [(1000, 100.0)]),
    ]


def test_a_series_that_disappears_gets_one_staleness_marker() -> None:
    builder = BatchBuilder("web-1")
    builder.build(1000, [LOAD, ETH0, ETH1])
    second = decode(builder.build(2000, [LOAD, ETH0]))
    gone = [s for s in second.series if s.labels.get("device") == "eth1"]
    assert len(gone) == 1 and gone[0].samples[0][0] == 2000
    assert is_stale(gone[0].samples[0][1])
    third = decode(builder.build(3000, [LOAD, ETH0]))
    assert not [s for s in third.series if s.labels.get("device") == "eth1"]
    fourth = decode(builder.build(4000, [LOAD, ETH0, ETH1]))  # back again: a plain value
    assert [s.samples for s in fourth.series if s.labels.get("device") == "eth1"] == [[(4000, 5.0)]]


def test_special_values_travel_as_strings() -> None:
    samples = [
        Sample("a", (), math.inf),
        Sample("b", (), -math.inf),
        Sample("c", (), math.nan),
    ]
    builder = BatchBuilder("h")
    builder.build(1, [*samples, LOAD])
    body = builder.build(2, samples)
    raw = {s["name"]: s["samples"][0][1] for s in json.loads(body)["series"]}
    assert raw == {"a": "+Inf", "b": "-Inf", "c": "NaN", "node_load1": "stale"}
    values = {s.name: s.samples[0][1] for s in decode(body).series}
    assert values["a"] == math.inf and values["b"] == -math.inf
    assert math.isnan(values["c"]) and not is_stale(values["c"])
    assert is_stale(values["node_load1"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"host": "-leading-dash", "agent_version": "1", "series": []}, "is not a host name"),
        (
            {"host": "h", "agent_version": "1", "series": [{"name": "x", "samples": [[1, True]]}]},
            "must be a number",
        ),
        (
            {"host": "h", "agent_version": "1", "series": [{"name": "x", "samples": [[1, 2, 3]]}]},
            "at most 2 items",
        ),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AgentPush.model_validate(body)
