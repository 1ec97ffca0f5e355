"""OpenTelemetry names to Prometheus names, as Prometheus's OTLP receiver translates them.

This is the default strategy ("underscore escaping with suffixes"): ``http.server.duration``
with unit ``ms`` becomes ``http_server_duration_milliseconds``, a monotonic sum gets
``_total``, a gauge of unit ``1`` gets ``_ratio``; attribute ``http.method`` becomes the
label ``http_method``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

Kind = Literal["gauge", "counter", "sum", "histogram", "summary"]
"""How a metric is exposed: ``counter`` is a monotonic sum, ``sum`` a non-monotonic one."""

UNITS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
PER_UNITS = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}
_NOT_NAME_CHAR = re.compile(r"[^a-zA-Z0-9:]+")
_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")
_UNDERSCORES = re.compile(r"__+")


class UntranslatableName(ValueError):
    """A name that cannot be translated (nothing left of it after normalisation)."""


def _unit_suffixes(unit: str) -> tuple[str, str]:
    """Return the (main, per) suffixes of a UCUM unit: ``By/s`` -> ``bytes``, ``per_second``.
    Annotations in braces (``{request}``) say what is counted, not a unit: dropped."""
    main_text, _, per_text = unit.partition("/")
    main_text, per_text = main_text.strip(), per_text.strip()
    main = ""
    if main_text and not any(c in main_text for c in "{}"):
        main = UNITS.get(main_text, main_text)
    per = ""
    if per_text and not any(c in per_text for c in "{}"):
        per = "per_" + PER_UNITS.get(per_text, per_text)
    return _clean_unit(main), _clean_unit(per)


def _clean_unit(unit: str) -> str:
    return _UNDERSCORES.sub("_", re.sub(r"[^a-zA-Z0-9:]", "_", unit)).lstrip("_")


def metric_name(name: str, unit: str, kind: Kind) -> str:
    """Return the Prometheus metric name for an OTLP metric; raise UntranslatableName when
    nothing of the name is left."""
    tokens = [t for t in _NOT_NAME_CHAR.split(name) if t]
    main, per = _unit_suffixes(unit)
    if main in tokens:
        main = ""
    if per == "per_":
        per = ""
    else:
        per = per.rstrip("_")
        if per in tokens:
            per = ""
    if per:
        main = main.rstrip("_")
    if main:
        tokens.append(main)
    if per:
        tokens.append(per)
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    result = "_".join(tokens)
    if result[:1].isdigit():
        result = "_" + result
    if not result.strip("_"):
        raise UntranslatableName(f'the metric name "{name}" has no letters or digits to keep')
    return result


def label_name(key: str) -> str:
    """Return the Prometheus label name for an attribute key (``http.method`` ->
    ``http_method``, ``1x`` -> ``key_1x``, ``_x`` -> ``key_x``); raise UntranslatableName
    when only underscores would be left."""
    if not key:
        raise UntranslatableName("an attribute has an empty key")
    result = _NOT_LABEL_CHAR.sub("_", key)
    if result[0].isdigit():
        result = "key_" + result
    elif result.startswith("_") and not result.startswith("__"):
        result = "key" + result
    if not result.strip("_"):
        raise UntranslatableName(f'the attribute key "{key}" has no letters or digits to keep')
    return result


def float_label(value: float) -> str:
    """Format a bucket bound or quantile as Prometheus's OTLP receiver does: positional
    notation, shortest exact digits (``0.005``, ``1000``), ``+Inf``/``-Inf``/``NaN``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
