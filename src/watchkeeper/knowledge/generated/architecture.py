"""The architecture overview: the services the plan declares (``releases.services``), what
each depends on, drawn as a diagram, with their team and current health.

A service's health is read from what already watches it: the checks named after it or
tagged with its name (``api``, ``service:api`` or ``service=api``), and the alerts firing
with the label ``service="api"``. Down: one of those checks is down, or a critical alert
fires; degraded: another alert fires; healthy: its checks are up; unknown otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.knowledge.diagram import DiagramEdge, DiagramNode, Health, render_svg
from watchkeeper.knowledge.generated import markdown as md
from watchkeeper.releases.config import Service
from watchkeeper.releases.section import SectionUnreadable, load_section
from watchkeeper.store.tables import Alert, CheckStatus, StoredObject


@dataclass(frozen=True)
class ServiceHealth:
    health: Health
    detail: str  # "2 checks up, 1 down; 1 alert firing"


@dataclass(frozen=True)
class Architecture:
    """The overview's Markdown and its diagram (for a page, and as a file of its own)."""

    markdown: str
    svg_inline: str
    svg_file: str


def load_services(db: Session) -> tuple[list[Service], str]:
    """The declared services, and "" or why they could not be read."""
    try:
        return list(load_section(db).services), ""
    except SectionUnreadable as exc:
        return [], str(exc)


def _related(service: str, check: StoredObject) -> bool:
    tags = check.spec.get("tags") or []
    return check.name == service or any(
        t in (service, f"service:{service}", f"service={service}") for t in tags
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def service_health(db: Session, services: Iterable[str]) -> dict[str, ServiceHealth]:
    """Each service's health from its checks and firing alerts (three queries in all)."""
    names = list(services)
    checks = list(db.scalars(select(StoredObject).where(StoredObject.kind == "checks")))
    states = {s.name: s.status for s in db.scalars(select(CheckStatus))}
    firing: dict[str, list[str]] = {}
    for alert in db.scalars(select(Alert).where(Alert.state == "firing")):
        owner = (alert.labels or {}).get("service")
        if owner in names:
            firing.setdefault(owner, []).append(alert.severity)
    out = {}
    for name in names:
        found = [states.get(c.name, "pending") for c in checks if _related(name, c)]
        severities = firing.get(name, [])
        up, down = found.count("up"), found.count("down")
        parts = []
        if found:
            parts.append(
                _plural(len(found), "check")
                + f": {up} up"
                + (f", {down} down" if down else "")
                + (f", {len(found) - up - down} pending" if len(found) - up - down else "")
            )
        if severities:
            parts.append(_plural(len(severities), "alert") + " firing")
        health: Health = "unknown"
        if down or "critical" in severities:
            health = "down"
        elif severities:
            health = "degraded"
        elif found and up == len(found):
            health = "up"
        out[name] = ServiceHealth(health, "; ".join(parts) or "no check or alert names it")
    return out


def diagram_parts(
    services: list[Service], health: dict[str, ServiceHealth]
) -> tuple[list[DiagramNode], list[DiagramEdge]]:
    nodes = [
        DiagramNode(
            s.name,
            team=s.team,
            health=health[s.name].health if s.name in health else "unknown",
            detail=health[s.name].detail if s.name in health else "",
        )
        for s in services
    ]
    edges = [DiagramEdge(s.name, d) for s in services for d in s.depends_on]
    return nodes, edges


MAX_CYCLES = 20
_WALK_BUDGET = 20_000


def cycles(services: list[Service]) -> list[list[str]]:
    """The dependency cycles (at most :data:`MAX_CYCLES`, a bounded search), each as the
    services in order (``[a, b]``: a → b → a), found once each, from the name that sorts
    first."""
    out: dict[str, list[str]] = {s.name: list(dict.fromkeys(s.depends_on)) for s in services}
    found: set[tuple[str, ...]] = set()
    budget = [_WALK_BUDGET]

    def walk(path: list[str]) -> None:
        for nxt in out.get(path[-1], []):
            budget[0] -= 1
            if budget[0] < 0 or len(found) >= MAX_CYCLES:
                return
            if nxt == path[0]:
                found.add(tuple(path))
            elif nxt not in path and nxt > path[0] and len(path) < 12:
                walk([*path, nxt])

    for name in sorted(out):
        walk([name])
    return [list(c) for c in sorted(found)]


def build(db: Session, links: md.Links, *, uid: str = "arch") -> Architecture:
    """Return the architecture overview of the applied plan."""
    services, problem = load_services(db)
    health = service_health(db, [s.name for s in services])
    nodes, edges = diagram_parts(services, health)
    declared = {s.name for s in services}
    lines = ["# Architecture overview", ""]
    if problem:
        lines += [f"**The services could not be read:** {md.text(problem)}", ""]
    if not services:
        lines.append(
            "No services are declared. Declare them under `releases.services` in the plan, "
            "each with its `team` and the services it `depends_on`; this overview then draws "
            "them."
        )
        return Architecture("\n".join(lines), "", "")
    lines += [
        f"{_plural(len(services), 'service')} declared in the plan (`releases.services`), "
        "each above the services it depends on. Health comes from the checks named after "
        "a service or tagged with its name, and from alerts firing with its `service` label.",
        "",
    ]
    if links.diagram():
        lines += [f"![Services and their dependencies]({links.diagram()})", ""]
    used_by: dict[str, list[str]] = {}
    for s in services:
        for d in s.depends_on:
            used_by.setdefault(d, []).append(s.name)
    rows = []
    for s in services:
        h = health[s.name]
        rows.append(
            [
                f"**{md.text(s.name)}**",
                md.text(s.team),
                ", ".join(md.text(d) for d in s.depends_on),
                ", ".join(md.text(u) for u in used_by.get(s.name, [])),
                f"{md.text(h.health)} ({md.text(h.detail)})",
                ", ".join(md.code(g) for g in s.hosts),
                ", ".join(md.link(r, links.runbook(r)) for r in s.runbooks),
            ]
        )
    lines += md.table(
        ["Service", "Team", "Depends on", "Used by", "Health", "Hosts", "Runbooks"], rows
    )
    undeclared = [(s.name, d) for s in services for d in s.depends_on if d not in declared]
    loops = cycles(services)
    if undeclared or loops:
        lines += ["", "## Worth a look", ""]
        lines += [
            f"- {md.text(a)} depends on {md.text(b)}, which is not declared as a service."
            for a, b in undeclared
        ]
        lines += [
            "- Dependency cycle: " + " → ".join(md.text(n) for n in [*c, c[0]]) for c in loops
        ]
    return Architecture(
        "\n".join(lines),
        render_svg(nodes, edges, uid=uid),
        render_svg(nodes, edges, standalone=True, uid=uid),
    )
