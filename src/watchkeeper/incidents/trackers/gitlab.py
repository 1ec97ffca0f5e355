"""GitLab issues through the REST API (v4).

``POST {url}/api/v4/projects/{id}/issues`` with ``{"title", "description", "labels"}`` opens
the issue (201 with ``iid``, ``web_url``, ``state``); ``GET .../issues/{iid}`` reads its
``state`` (``opened`` or ``closed``). ``{id}`` is the project's number or its URL-encoded
path (``group%2Fproject``). Authentication: ``PRIVATE-TOKEN: <token>`` (a personal, group or
project access token with the ``api`` scope). ``url`` is the GitLab site
(``https://gitlab.com``); a trailing ``/api/v4`` is accepted too.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

import httpx

from watchkeeper.incidents.config import Tracker
from watchkeeper.incidents.trackers.interface import (
    Created,
    NewIssue,
    call,
    field_of,
    json_object,
    label,
)

TITLE_LIMIT = 255
BODY_LIMIT = 1_000_000


def _headers(config: Tracker) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if config.token:
        headers["PRIVATE-TOKEN"] = config.token
    return headers


def _issues_url(config: Tracker) -> str:
    site = config.url.rstrip("/").removesuffix("/api/v4")
    return f"{site}/api/v4/projects/{quote(config.project.strip('/'), safe='')}/issues"


class GitLabTracker:
    name = "gitlab"
    title = "GitLab"
    description = "Open a GitLab issue in `project` (id or group/path) and follow its state."
    syncs_status: ClassVar[bool] = True

    async def create(self, config: Tracker, issue: NewIssue, http: httpx.AsyncClient) -> Created:
        who = label(self, config)
        body: dict[str, object] = {
            "title": issue.title[:TITLE_LIMIT],
            "description": issue.body[:BODY_LIMIT],
        }
        if config.labels:
            body["labels"] = ",".join(config.labels)
        response = await call(
            http,
            "POST",
            _issues_url(config),
            config=config,
            who=who,
            what="open the issue",
            headers=_headers(config),
            json=body,
        )
        data = json_object(response, config, who)
        return Created(
            external_id=field_of(data, "iid", who),
            url=field_of(data, "web_url", who),
            status=str(data.get("state") or "opened"),
        )

    async def status(self, config: Tracker, external_id: str, http: httpx.AsyncClient) -> str:
        who = label(self, config)
        response = await call(
            http,
            "GET",
            f"{_issues_url(config)}/{quote(external_id, safe='')}",
            config=config,
            who=who,
            what=f"report the state of issue #{external_id}",
            headers=_headers(config),
        )
        return field_of(json_object(response, config, who), "state", who)
