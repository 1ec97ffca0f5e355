"""Forwarding to Loki's push API (``POST /loki/api/v1/push``, JSON, gzip).

Lines are grouped into one stream per label set, in the order they came; each value is
``[timestamp in ns as a string, message]``. Loki needs at least one label per stream: lines
without labels go out as ``{job="watchkeeper"}``. Parsed fields are not sent (Loki's
structured metadata needs Loki 3 with schema v13; ``| json``/``| logfmt`` at query time read
them from the message).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from watchkeeper.logs.forward.interface import Encoded, Target
from watchkeeper.logs.model import Labels, LogLine

NO_LABELS: Labels = (("job", "watchkeeper"),)


class LokiTarget(Target):
    type = "loki"
    path = "/loki/api/v1/push"

    def encode(self, lines: Sequence[LogLine]) -> Encoded:
        streams: dict[Labels, list[list[str]]] = {}
        for line in lines:
            streams.setdefault(line.labels or NO_LABELS, []).append([str(line.ts), line.message])
        doc = {
            "streams": [
                {"stream": dict(labels), "values": values} for labels, values in streams.items()
            ]
        }
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        return Encoded(body, "application/json", gzip=True)
