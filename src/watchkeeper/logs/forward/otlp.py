"""Forwarding over OTLP/HTTP (``POST /v1/logs``, ``ExportLogsServiceRequest`` as JSON, gzip).

Each stream (its labels but ``level``) becomes one resource: its ``host`` label gives
``host.name``, its ``service`` label (else ``app``, else ``job``) gives ``service.name``
(``unknown_service`` when it has none, as OpenTelemetry SDKs say), its other labels are
resource attributes under their own names. Each line is a log record: event and receive
times, severity from the level (mapped like OpenTelemetry's syslog mapping), the message as
the body, the fields as attributes; ``trace_id``/``span_id`` fields in hex become the
record's trace context.
A 2xx answer with ``partialSuccess.rejectedLogRecords`` counts those lines as refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from watchkeeper import __version__
from watchkeeper.logs.forward.interface import Accepted, Encoded, Target, level_of
from watchkeeper.logs.model import Labels, LogLine

SEVERITY = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "information": 9,
    "informational": 9,
    "notice": 10,
    "warn": 13,
    "warning": 13,
    "error": 17,
    "err": 17,
    "alert": 19,
    "critical": 18,
    "crit": 18,
    "fatal": 21,
    "panic": 21,
    "emerg": 21,
    "emergency": 21,
}
_SERVICE_LABELS = ("service", "app", "job")
_HEX = {"trace_id": re.compile(r"[0-9a-f]{32}"), "span_id": re.compile(r"[0-9a-f]{16}")}


class OtlpTarget(Target):
    type = "otlp"
    path = "/v1/logs"

    def encode(self, lines: Sequence[LogLine]) -> Encoded:
        records: dict[Labels, list[dict[str, Any]]] = {}
        for line in lines:
            # the level is each record's severity, not part of what produced it
            resource = tuple(pair for pair in line.labels if pair[0] != "level")
            records.setdefault(resource, []).append(_record(line))
        doc = {
            "resourceLogs": [
                {
                    "resource": {"attributes": _resource(labels)},
                    "scopeLogs": [
                        {
                            "scope": {"name": "watchkeeper", "version": __version__},
                            "logRecords": batch,
                        }
                    ],
                }
                for labels, batch in records.items()
            ]
        }
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        return Encoded(body, "application/json", gzip=True)

    def accepted(self, body: bytes, lines: Sequence[LogLine]) -> Accepted:
        try:
            answer = json.loads(body) if body.strip() else {}
        except ValueError:
            return Accepted()
        partial = answer.get("partialSuccess") if isinstance(answer, dict) else None
        if not isinstance(partial, dict):
            return Accepted()
        try:
            rejected = int(partial.get("rejectedLogRecords") or 0)
        except (TypeError, ValueError):
            return Accepted()
        rejected = max(0, min(rejected, len(lines)))
        return Accepted(refused=rejected, reason=str(partial.get("errorMessage") or "")[:300])


def _attribute(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _resource(labels: Labels) -> list[dict[str, Any]]:
    found = dict(labels)
    service = next((found[n] for n in _SERVICE_LABELS if found.get(n)), "unknown_service")
    attributes = [_attribute("service.name", service)]
    if found.get("host"):
        attributes.append(_attribute("host.name", found["host"]))
    attributes += [
        _attribute(name, value)
        for name, value in labels
        if name not in ("host", "level", "service")
    ]
    return attributes


def _record(line: LogLine) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timeUnixNano": str(line.ts),
        "observedTimeUnixNano": str(line.received),
        "body": {"stringValue": line.message},
    }
    level = level_of(line)
    if level:
        record["severityText"] = level
        if level in SEVERITY:
            record["severityNumber"] = SEVERITY[level]
    attributes = []
    for key, value in line.fields.items():
        pattern = _HEX.get(key)
        if pattern is not None and pattern.fullmatch(value.lower()):
            record["traceId" if key == "trace_id" else "spanId"] = value.lower()
        else:
            attributes.append(_attribute(key, value))
    if attributes:
        record["attributes"] = attributes
    return record
