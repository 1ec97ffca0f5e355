"""A service's changelog, assembled from its deploy records: one entry per version that
reached the environment (the service's production environment unless another is asked),
newest first, with the date, the author, the changes CI sent and the diff link.

Failed deploys are left out; a version deployed twice appears once, at its first deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ValidationFailed
from watchkeeper.releases.config import Service
from watchkeeper.releases.deploys import diff_url
from watchkeeper.store.tables import Deploy

MAX_ENTRIES = 1000


@dataclass(frozen=True)
class Entry:
    """One version in the changelog."""

    deploy_id: int
    version: str
    previous_version: str
    deployed_at: datetime
    author: str
    changes: str  # Markdown, as CI sent it
    commit_sha: str
    diff_url: str
    status: str
    gate: str


def entries(
    db: Session, service: Service, environment: str = "", limit: int = MAX_ENTRIES
) -> list[Entry]:
    """The changelog of ``service`` in ``environment`` (default: its first, production),
    newest first; raise ValidationFailed naming an unknown environment."""
    environment = environment or service.environments[0]
    if environment not in service.environments:
        raise ValidationFailed(
            "invalid environment",
            [
                (
                    "environment",
                    f'service "{service.name}" has no environment "{environment}" (its '
                    f"environments: {', '.join(service.environments)})",
                )
            ],
        )
    seen: dict[str, Entry] = {}
    for deploy in db.scalars(
        select(Deploy)
        .where(
            Deploy.service == service.name,
            Deploy.environment == environment,
            Deploy.status.in_(("succeeded", "rolled_back")),
        )
        .order_by(Deploy.deployed_at, Deploy.id)
    ):
        if deploy.version in seen:
            continue
        seen[deploy.version] = Entry(
            deploy_id=deploy.id,
            version=deploy.version,
            previous_version=deploy.previous_version,
            deployed_at=deploy.deployed_at,
            author=deploy.author,
            changes=deploy.changes,
            commit_sha=deploy.commit_sha,
            diff_url=diff_url(service, deploy),
            status=deploy.status,
            gate=deploy.gate,
        )
    newest_first = sorted(seen.values(), key=lambda e: (e.deployed_at, e.deploy_id), reverse=True)
    return newest_first[:limit]


def _escape_inline(text: str) -> str:
    """``text`` safe inside a Markdown line: no emphasis, links or HTML from it."""
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text)


def markdown(service: Service, environment: str, items: list[Entry]) -> str:
    """The changelog as a Markdown document (``?format=markdown``, the CLI)."""
    lines = [f"# Changelog: {_escape_inline(service.name)}", ""]
    if environment != service.environments[0]:
        lines[0] += f" ({_escape_inline(environment)})"
    if not items:
        lines.append("No deploys recorded yet.")
    for entry in items:
        lines.append(f"## {_escape_inline(entry.version)} — {entry.deployed_at:%Y-%m-%d}")
        facts = []
        if entry.author:
            facts.append(f"by {_escape_inline(entry.author)}")
        if entry.commit_sha:
            facts.append(f"commit `{entry.commit_sha[:12]}`")
        if entry.diff_url:
            facts.append(f"[diff](<{entry.diff_url}>)")
        if entry.status == "rolled_back":
            facts.append("rolled back")
        if entry.gate == "regressed":
            facts.append("regressed")
        if facts:
            lines.append("_" + " · ".join(facts) + "_")
        lines.append("")
        if entry.changes.strip():
            lines += [entry.changes.strip(), ""]
    return "\n".join(lines).rstrip() + "\n"
