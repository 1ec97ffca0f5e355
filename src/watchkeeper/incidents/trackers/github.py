"""GitHub issues through the REST API.

``POST {url}/repos/{owner}/{repo}/issues`` with ``{"title", "body", "labels"}`` opens the
issue (201 with ``number``, ``html_url``, ``state``); ``GET .../issues/{number}`` reads its
``state`` (``open`` or ``closed``). Authentication: ``Authorization: Bearer <token>`` (a
fine-grained token with "Issues: read and write" on the repository, or a classic one with
``repo``). ``url`` is ``https://api.github.com``, or ``https://<host>/api/v3`` for GitHub
Enterprise Server.
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

API_VERSION = "2022-11-28"
TITLE_LIMIT = 256
BODY_LIMIT = 65_536


def _headers(config: Tracker) -> dict[str, str]:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
    if config.token:
        headers["Authorization"] = f"Bearer {config.token}"
    return headers


def _issues_url(config: Tracker) -> str:
    owner, _, repo = config.project.partition("/")
    return f"{config.url.rstrip('/')}/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/issues"


class GitHubTracker:
    name = "github"
    title = "GitHub"
    description = "Open a GitHub issue in `project` (owner/repo) and follow its state."
    syncs_status: ClassVar[bool] = True

    async def create(self, config: Tracker, issue: NewIssue, http: httpx.AsyncClient) -> Created:
        who = label(self, config)
        body: dict[str, object] = {
            "title": issue.title[:TITLE_LIMIT],
            "body": issue.body[:BODY_LIMIT],
        }
        if config.labels:
            body["labels"] = list(config.labels)
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
            external_id=field_of(data, "number", who),
            url=field_of(data, "html_url", who),
            status=str(data.get("state") or "open"),
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
            follow_redirects=True,  # a transferred issue answers 301 to its new place
        )
        return field_of(json_object(response, config, who), "state", who)
