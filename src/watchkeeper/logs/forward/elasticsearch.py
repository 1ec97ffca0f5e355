"""Forwarding to Elasticsearch or OpenSearch (``POST /_bulk``, NDJSON).

Each line is a ``create`` action (which data streams require, and plain indices accept) into
the forwarder's ``index``, then the document: ``@timestamp`` (RFC 3339, ns), ``message``,
``labels.*`` and ``fields.*``. The bulk answer is read item by item: items refused with 429
or 5xx are sent again, items refused with another status (a mapping conflict, say) are
dropped and counted; the rest are stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from watchkeeper.logs.forward.interface import Accepted, Encoded, Target, rfc3339_ns
from watchkeeper.logs.model import LogLine


class ElasticsearchTarget(Target):
    type = "elasticsearch"
    path = "/_bulk"

    def encode(self, lines: Sequence[LogLine]) -> Encoded:
        action = json.dumps({"create": {"_index": self.config.index}}).encode()
        parts: list[bytes] = []
        for line in lines:
            doc = {
                "@timestamp": rfc3339_ns(line.ts),
                "message": line.message,
                "labels": dict(line.labels),
                "fields": line.fields,
            }
            parts.append(action)
            parts.append(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
        return Encoded(b"\n".join(parts) + b"\n", "application/x-ndjson")

    def accepted(self, body: bytes, lines: Sequence[LogLine]) -> Accepted:
        try:
            answer = json.loads(body)
        except ValueError:
            return Accepted()  # stored as far as we can tell: resending would duplicate
        if not isinstance(answer, dict) or not answer.get("errors"):
            return Accepted()
        items = answer.get("items")
        if not isinstance(items, list) or len(items) != len(lines):
            return Accepted()
        outcome = Accepted()
        for line, item in zip(lines, items, strict=True):
            status, reason = _item_status(item)
            if status < 300:
                continue
            if status == 429 or status >= 500:
                outcome.retry.append(line)
            else:
                outcome.refused += 1
                outcome.reason = outcome.reason or f"{status} {reason}"
        return outcome


def _item_status(item: Any) -> tuple[int, str]:
    """Return the status of one bulk item (``{"create": {"status": 201, ...}}``) and the
    type and reason of its error."""
    if not isinstance(item, dict) or not item:
        return 200, ""
    result = next(iter(item.values()))
    if not isinstance(result, dict):
        return 200, ""
    status = result.get("status", 200)
    error = result.get("error")
    reason = ""
    if isinstance(error, dict):
        reason = f"{error.get('type', '')}: {error.get('reason', '')}"[:300]
    elif error is not None:
        reason = str(error)[:300]
    return (status if isinstance(status, int) else 200), reason
