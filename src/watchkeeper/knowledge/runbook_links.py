"""How the plan names a runbook: ``runbook: <slug>`` on an alert rule or a check, a slug in a
service's ``runbooks`` list, or a link. A slug is one word of lowercase letters, digits,
``-`` and ``_`` (``db-failover``) and means ``/runbooks/<slug>``; anything else keeps its
old meaning (a link, or an alert rule's inline Markdown runbook)."""

from __future__ import annotations

from urllib.parse import quote

from watchkeeper.knowledge.runbook_doc import is_slug

PREFIX = "/runbooks/"


def runbook_path(slug: str) -> str:
    """Return the page of runbook ``slug``."""
    return PREFIX + quote(slug, safe="")


def named_slug(value: str | None) -> str:
    """Return the runbook slug ``value`` names (``db-failover`` or ``/runbooks/db-failover``),
    else ""."""
    text = (value or "").strip()
    if text.startswith(PREFIX):
        text = text[len(PREFIX) :].strip("/")
    return text if is_slug(text) else ""


def runbook_link(value: str | None) -> str:
    """Return where a check's or service's runbook reference leads: the runbook's page for a
    slug, the link itself for an http(s) address or a path on this server, else ""."""
    text = (value or "").strip()
    slug = named_slug(text)
    if slug:
        return runbook_path(slug)
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")) or (
        text.startswith("/") and not text.startswith("//")
    ):
        return text
    return ""


def notification_runbook(runbook_url: str, runbook: str, base_url: str) -> tuple[str, str]:
    """Return (runbook link, inline Markdown runbook) of an alert rule for a notification:
    ``runbook: <slug>`` becomes the absolute link to that runbook (unless ``runbook_url``
    is given) and is no inline text."""
    slug = named_slug(runbook) if "\n" not in runbook else ""
    if not slug:
        return runbook_url, runbook
    return runbook_url or base_url.rstrip("/") + runbook_path(slug), ""
