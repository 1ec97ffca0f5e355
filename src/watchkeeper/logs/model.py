"""One log line as every part of the logs domain sees it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]
"""Stream labels, sorted by name: the identity of a stream (``host``, ``app``, ``level``...)."""

LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_LABELS = 15
MAX_LABEL_VALUE = 256
MAX_LINE_BYTES = 256 * 1024


def make_labels(pairs: Mapping[str, object]) -> Labels:
    """Return sorted stream labels from ``pairs``: empty values are dropped, names that are
    not label names get their bad characters replaced by ``_``, values are cut at 256."""
    out: dict[str, str] = {}
    for name, value in pairs.items():
        if value is None or value == "":
            continue
        key = name if LABEL_NAME.fullmatch(name) else _label_name(name)
        out[key] = str(value)[:MAX_LABEL_VALUE]
    return tuple(sorted(out.items()))


def _label_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
    return cleaned if not cleaned[0].isdigit() else "_" + cleaned


@dataclass(slots=True)
class LogLine:
    """A log line: event time and receive time (ns since the epoch, UTC), its stream's
    labels, the message and the fields parsed from it (JSON/logfmt/structured data)."""

    ts: int
    received: int
    labels: Labels
    message: str
    fields: dict[str, str] = field(default_factory=dict)

    def label(self, name: str) -> str:
        for key, value in self.labels:
            if key == name:
                return value
        return ""
