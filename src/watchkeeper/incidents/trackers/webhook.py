"""A generic webhook: POST the new issue as JSON to ``url``; any 2xx answer is success.

The body::

    {
      "event": "incident.issue",
      "tracker": "<the tracker's name>",
      "title": "[SEV2] Checkout is failing",
      "body": "<the issue text, in Markdown>",
      "labels": ["incident"],
      "incident": {"id": 12, "title": "...", "url": "https://wk.example.com/incidents/12",
                   "severity": "SEV2", "status": "triggered", "team": "payments",
                   "services": ["checkout"], "opened_at": "2025-03-01T12:00:00Z"},
      "timeline": [{"at": "...", "actor": "alice", "kind": "opened", "text": "..."}]
    }

Headers: ``Content-Type: application/json``, ``Idempotency-Key: incident-<id>-<tracker>``
and, with a ``token``, ``Authorization: Bearer <token>``. The answer may be a JSON object
with ``id``, ``url`` and ``status`` of what the receiver made; they are kept on the incident.
A webhook cannot report status later: the last status stays.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from watchkeeper.incidents.config import Tracker
from watchkeeper.incidents.trackers.interface import (
    Created,
    NewIssue,
    TrackerError,
    call,
    label,
)


def _time(value: datetime) -> str:
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def webhook_body(config: Tracker, issue: NewIssue) -> dict[str, Any]:
    """The JSON body POSTed for ``issue`` (see the module docstring)."""
    return {
        "event": "incident.issue",
        "tracker": config.name,
        "title": issue.title,
        "body": issue.body,
        "labels": list(config.labels),
        "incident": {
            "id": issue.incident_id,
            "title": issue.incident_title,
            "url": issue.incident_url,
            "severity": issue.severity,
            "status": issue.status,
            "team": issue.team,
            "services": list(issue.services),
            "opened_at": _time(issue.opened_at),
        },
        "timeline": [
            {"at": _time(e.at), "actor": e.actor, "kind": e.kind, "text": e.text}
            for e in issue.timeline
        ],
    }


def _answer_text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    return str(value)[:limit] if isinstance(value, str | int) and value != "" else ""


class WebhookTracker:
    name = "webhook"
    title = "Webhook"
    description = "POST the issue as JSON to `url`; the answer's `id`, `url` and `status` are kept."
    syncs_status: ClassVar[bool] = False

    async def create(self, config: Tracker, issue: NewIssue, http: httpx.AsyncClient) -> Created:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"incident-{issue.incident_id}-{config.name}",
        }
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        response = await call(
            http,
            "POST",
            config.url,
            config=config,
            who=label(self, config),
            what="take the issue",
            headers=headers,
            json=webhook_body(config, issue),
        )
        try:
            data = response.json() if response.content.strip() else {}
        except (ValueError, UnicodeDecodeError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        url = _answer_text(data, "url", 1000)
        return Created(
            external_id=_answer_text(data, "id", 128),
            url=url if url.startswith(("http://", "https://")) else "",
            status=_answer_text(data, "status", 64),
        )

    async def status(self, config: Tracker, external_id: str, http: httpx.AsyncClient) -> str:
        raise TrackerError(f"{label(self, config)} cannot report status", permanent=True)
