"""Jira Cloud issues through the REST API v3.

``POST {url}/rest/api/3/issue`` with ``fields``: ``project.key``, ``summary``,
``issuetype.name``, ``labels`` and ``description`` in Atlassian Document Format opens the
issue (201 with ``id``, ``key``, ``self``); its page is ``{url}/browse/{key}``.
``GET {url}/rest/api/3/issue/{key}?fields=status`` reads ``fields.status.name`` ("To Do",
"In Progress", "Done" or the workflow's own names). Authentication: Basic with the account's
e-mail (``user``) and an API token (``token``).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from watchkeeper.incidents.config import Tracker
from watchkeeper.incidents.trackers.interface import (
    Created,
    NewIssue,
    TrackerError,
    call,
    field_of,
    json_object,
    label,
)

SUMMARY_LIMIT = 255
_INLINE = re.compile(r"\*\*(?P<strong>[^*]+)\*\*|(?P<url>https?://[^\s<>()\[\]]+)")


def _text(text: str, marks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = marks
    return node


def _inline(line: str) -> list[dict[str, Any]]:
    """ADF text nodes for one line: ``**bold**`` is strong, bare URLs are links."""
    nodes: list[dict[str, Any]] = []
    at = 0
    for found in _INLINE.finditer(line):
        if found.start() > at:
            nodes.append(_text(line[at : found.start()]))
        if found.group("strong"):
            nodes.append(_text(found.group("strong"), [{"type": "strong"}]))
        else:
            url = found.group("url").rstrip(".,;:")
            nodes.append(_text(url, [{"type": "link", "attrs": {"href": url}}]))
            if len(url) < len(found.group("url")):
                nodes.append(_text(found.group("url")[len(url) :]))
        at = found.end()
    if at < len(line):
        nodes.append(_text(line[at:]))
    return nodes


def _paragraph(lines: list[str]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        if i:
            content.append({"type": "hardBreak"})
        content += _inline(line)
    return {"type": "paragraph", "content": content}


def to_adf(markdown: str) -> dict[str, Any]:
    """The Atlassian Document Format for the small Markdown issue bodies Watchkeeper writes:
    paragraphs, ``#`` headings, ``- `` bullet lists, ``**bold**`` and bare links."""
    blocks: list[dict[str, Any]] = []
    for chunk in re.split(r"\n\s*\n", markdown.strip()):
        lines = [line.rstrip() for line in chunk.splitlines() if line.strip()]
        if not lines:
            continue
        heading = re.match(r"(#{1,6})\s+(.*)", lines[0])
        if heading:
            blocks.append(
                {
                    "type": "heading",
                    "attrs": {"level": len(heading.group(1))},
                    "content": _inline(heading.group(2)) or [_text(" ")],
                }
            )
            lines = lines[1:]
            if not lines:
                continue
        if all(line.lstrip().startswith(("- ", "* ")) for line in lines):
            items = [
                {"type": "listItem", "content": [_paragraph([line.lstrip()[2:]])]} for line in lines
            ]
            blocks.append({"type": "bulletList", "content": items})
        else:
            blocks.append(_paragraph(lines))
    return {"type": "doc", "version": 1, "content": blocks}


def _auth(config: Tracker) -> httpx.BasicAuth | None:
    return httpx.BasicAuth(config.user, config.token) if config.token else None


class JiraTracker:
    name = "jira"
    title = "Jira"
    description = (
        "Open a Jira Cloud issue in project `project` (its key) of type `issue_type` and "
        "follow its status."
    )
    syncs_status: ClassVar[bool] = True

    async def create(self, config: Tracker, issue: NewIssue, http: httpx.AsyncClient) -> Created:
        who = label(self, config)
        site = config.url.rstrip("/")
        fields: dict[str, Any] = {
            "project": {"key": config.project},
            "summary": " ".join(issue.title.split())[:SUMMARY_LIMIT],
            "issuetype": {"name": config.issue_type},
            "description": to_adf(issue.body),
        }
        if config.labels:
            # Jira labels cannot hold spaces.
            fields["labels"] = ["-".join(name.split()) for name in config.labels]
        response = await call(
            http,
            "POST",
            f"{site}/rest/api/3/issue",
            config=config,
            who=who,
            what="open the issue",
            headers={"Accept": "application/json"},
            auth=_auth(config),
            json={"fields": fields},
        )
        key = field_of(json_object(response, config, who), "key", who)
        try:  # the answer to a create holds no status; ask, but the issue exists either way
            status = await self.status(config, key, http)
        except TrackerError:
            status = ""
        return Created(external_id=key, url=f"{site}/browse/{key}", status=status)

    async def status(self, config: Tracker, external_id: str, http: httpx.AsyncClient) -> str:
        who = label(self, config)
        response = await call(
            http,
            "GET",
            f"{config.url.rstrip('/')}/rest/api/3/issue/{quote(external_id, safe='')}",
            config=config,
            who=who,
            what=f"report the status of {external_id}",
            headers={"Accept": "application/json"},
            auth=_auth(config),
            params={"fields": "status"},
        )
        data = json_object(response, config, who)
        fields = data.get("fields")
        status = fields.get("status") if isinstance(fields, dict) else None
        if not isinstance(status, dict) or not status.get("name"):
            raise TrackerError(f"{who} answered without `fields.status.name`", permanent=True)
        return str(status["name"])
