"""The body of ``POST /api/v1/agent/push``: one format, written by the agent, read by the
server.

```json
{"host": "web-1", "agent_version": "0.3.0",
 "labels": {"instance": "web-1", "job": "agent"},
 "inventory": {"os": {"name": "Debian GNU/Linux", ...}, ...},
 "series": [{"name": "node_load1", "labels": {}, "samples": [[1767225600000, 0.42]]},
            {"name": "node_cpu_seconds_total", "labels": {"cpu": "0", "mode": "idle"},
             "samples": [[1767225600000, 81234.5]]}]}
```

``labels`` at the top are added to every series (a series' own labels win), which keeps
the body small: ``instance`` and ``job`` are sent once. ``inventory`` is optional. A sample
is ``[timestamp in ms, value]``; values that JSON cannot carry as numbers are written as
the strings ``"NaN"``, ``"+Inf"``, ``"-Inf"``, and ``"stale"`` for Prometheus's staleness
marker (a series that disappeared, e.g. an unmounted filesystem).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

from watchkeeper.metrics.labels import STALE_NAN, is_stale

HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
MAX_SERIES = 50_000
MAX_SAMPLES_PER_SERIES = 10_000
MAX_LABEL_VALUE = 2048
_SPECIAL = {"nan": math.nan, "+inf": math.inf, "inf": math.inf, "-inf": -math.inf}


def check_host_name(value: str) -> str:
    """Return ``value`` if it is a usable host name; raise a pydantic error otherwise."""
    if not HOST_RE.fullmatch(value):
        raise PydanticCustomError(
            "host_name",
            '"{value}" is not a host name (letters, digits, ".", "-", "_", ":"; starting '
            "with a letter or digit; at most 200 characters)",
            {"value": value[:80]},
        )
    return value


def _parse_value(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("sample_value", "a sample value must be a number")
    if isinstance(value, str):
        if value == "stale":
            return STALE_NAN
        special = _SPECIAL.get(value.lower())
        if special is None:
            raise PydanticCustomError(
                "sample_value",
                '"{value}" is not a sample value (a number, "NaN", "+Inf", "-Inf" or "stale")',
                {"value": value[:40]},
            )
        return special
    return value


def _dump_value(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if is_stale(value):
        return "stale"
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


SampleValue = Annotated[
    float, BeforeValidator(_parse_value), PlainSerializer(_dump_value, return_type=Any)
]
Timestamp = Annotated[int, Field(ge=0, le=2**53)]
Sample = tuple[Timestamp, SampleValue]
HostName = Annotated[str, AfterValidator(check_host_name)]
LabelValue = Annotated[str, Field(max_length=MAX_LABEL_VALUE)]


class SeriesIn(BaseModel):
    """One series and its samples (oldest first is usual, not required)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="Metric name.")
    labels: dict[str, LabelValue] = Field(default_factory=dict)
    samples: list[Sample] = Field(min_length=1, max_length=MAX_SAMPLES_PER_SERIES)


class AgentPush(BaseModel):
    """What an agent sends at each interval (or a spooled batch it sends later)."""

    model_config = ConfigDict(extra="forbid")
    host: HostName = Field(description="The host's name; its `hosts` row is keyed by it.")
    agent_version: str = Field(max_length=40)
    labels: dict[str, LabelValue] = Field(
        default_factory=dict, description="Added to every series (a series' own labels win)."
    )
    inventory: dict[str, Any] | None = Field(
        None, description="The host's inventory; sent at start, on change and hourly."
    )
    series: list[SeriesIn] = Field(max_length=MAX_SERIES)


class PushResult(BaseModel):
    """The server's answer: what was stored, and the series refused (with the reason)."""

    accepted: int = Field(description="Samples stored.")
    duplicates: int = Field(description="Samples already stored (a batch sent again).")
    series_created: int
    rejected: list[dict[str, str]] = Field(
        default_factory=list, description='Refused series: [{"field": ..., "message": ...}].'
    )
