"""The system inventory: hosts with what their agents report (OS, kernel, CPUs, memory,
disks, addresses, packages), the declared services, the checks with their current state,
the databases, the backup policies with their last good backup and restore drill, and who
is on call now in each schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.agent.hosts import os_label
from watchkeeper.backups import views as backup_views
from watchkeeper.dbmaint import views as db_views
from watchkeeper.dbmaint.postgres.findings import size_text
from watchkeeper.incidents import overrides
from watchkeeper.incidents.plan import load_oncall
from watchkeeper.knowledge.generated import markdown as md
from watchkeeper.knowledge.generated.architecture import load_services, service_health
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import CheckStatus, Host, StoredObject

STALE_HOST = 15 * 60  # seconds without a report before a host reads "silent"


def _cpu(inventory: dict[str, Any]) -> str:
    cpu = inventory.get("cpu")
    if not isinstance(cpu, dict) or not cpu.get("logical"):
        return ""
    text = f"{cpu['logical']}"
    if cpu.get("physical") and cpu["physical"] != cpu["logical"]:
        text += f" ({cpu['physical']} cores)"
    return md.text(text)


def _bytes(value: Any) -> str:
    return size_text(float(value)) if isinstance(value, int | float) and value > 0 else ""


def _disks(inventory: dict[str, Any]) -> str:
    disks = inventory.get("disks")
    if not isinstance(disks, list):
        return ""
    parts = []
    for disk in disks:
        if isinstance(disk, dict) and disk.get("mountpoint"):
            size = _bytes(disk.get("size_bytes"))
            parts.append(md.code(disk["mountpoint"]) + (f" {size}" if size else ""))
    return ", ".join(parts)


def _addresses(inventory: dict[str, Any]) -> str:
    found = inventory.get("addresses")
    if not isinstance(found, dict):
        return ""
    kept = [
        str(a)
        for nic, addrs in found.items()
        if nic != "lo" and isinstance(addrs, list)
        for a in addrs
        if not str(a).startswith(("127.", "::1", "fe80:"))
    ]
    return ", ".join(md.code(a) for a in kept[:6]) + (" …" if len(kept) > 6 else "")


def _packages(inventory: dict[str, Any]) -> str:
    found = inventory.get("packages")
    if isinstance(found, dict) and isinstance(found.get("count"), int):
        return md.text(f"{found['count']} ({found.get('manager', '?')})")
    return ""


def _hosts(db: Session, links: md.Links, now: datetime) -> list[str]:
    hosts = list(db.scalars(select(Host).order_by(Host.name)))
    lines = [f"## Hosts ({len(hosts)})", ""]
    if not hosts:
        return [*lines, "No host has reported yet (run `watchkeeper agent` on each host)."]
    rows = []
    for h in hosts:
        inv = h.inventory if isinstance(h.inventory, dict) else {}
        age = (now - h.last_seen).total_seconds()
        seen = "now" if age < 60 else f"{span(age)} ago"
        rows.append(
            [
                f"**{md.link(h.name, links.host(h.name))}**",
                md.text(os_label(inv)),
                md.code(inv.get("kernel", "")),
                _cpu(inv),
                _bytes(inv.get("memory_bytes")),
                _disks(inv),
                _addresses(inv),
                _packages(inv),
                md.text(seen) + (" (**silent**)" if age > STALE_HOST else ""),
            ]
        )
    return lines + md.table(
        ["Host", "OS", "Kernel", "CPUs", "Memory", "Disks", "Addresses", "Packages", "Last seen"],
        rows,
    )


def _services(db: Session, links: md.Links) -> list[str]:
    services, problem = load_services(db)
    lines = [f"## Services ({len(services)})", ""]
    if problem:
        lines += [f"**The services could not be read:** {md.text(problem)}", ""]
    if not services:
        return [*lines, "No services are declared (`releases.services`)."]
    health = service_health(db, [s.name for s in services])
    rows = [
        [
            f"**{md.text(s.name)}**",
            md.text(s.team),
            md.text(s.versioning),
            ", ".join(md.text(e) for e in s.environments),
            ", ".join(md.code(g) for g in s.hosts),
            ", ".join(md.text(d) for d in s.depends_on),
            md.text(health[s.name].health),
        ]
        for s in services
    ]
    lines += md.table(
        ["Service", "Team", "Versioning", "Environments", "Hosts", "Depends on", "Health"], rows
    )
    return [*lines, "", f"Drawn with their dependencies in the {_arch(links)}."]


def _arch(links: md.Links) -> str:
    return md.link("architecture overview", links.document("architecture"))


def _checks(db: Session, links: md.Links, now: datetime) -> list[str]:
    objects = list(
        db.scalars(
            select(StoredObject).where(StoredObject.kind == "checks").order_by(StoredObject.name)
        )
    )
    states = {s.name: s for s in db.scalars(select(CheckStatus))}
    counts: dict[str, int] = {}
    rows = []
    for obj in objects:
        state = states.get(obj.name)
        status = state.status if state else "pending"
        counts[status] = counts.get(status, 0) + 1
        since = f"{span(now - state.changed_at)}" if state and state.changed_at else ""
        rows.append(
            [
                f"**{md.link(obj.name, links.check(obj.name))}**",
                md.text(obj.spec.get("type", "")),
                md.text(obj.spec.get("team") or ""),
                f"**{md.text(status)}**" if status == "down" else md.text(status),
                md.text(since),
                md.text((state.last_message if state else "")[:160]),
            ]
        )
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lines = [f"## Checks ({len(objects)}{': ' + summary if summary else ''})", ""]
    if not objects:
        return [*lines, "No checks are declared (`checks`)."]
    return lines + md.table(["Check", "Type", "Team", "State", "For", "Last result"], rows)


def _databases(db: Session, links: md.Links, now: datetime) -> list[str]:
    found = db_views.list_databases(db, None, now=now)
    lines = [f"## Databases ({len(found)})", ""]
    if not found:
        return [*lines, "No databases are declared (`databases.targets`)."]
    rows = [
        [
            f"**{md.link(d.name, links.database(d.name))}**",
            md.text(d.type),
            md.text(d.team),
            md.code(d.where),
            md.text(d.status) + (f" (score {d.score})" if d.score is not None else ""),
            _bytes(d.size_bytes),
            md.text(md.when(d.last_ok_at)),
        ]
        for d in found
    ]
    return lines + md.table(
        ["Database", "Type", "Team", "Where", "Health", "Size", "Last good collection"], rows
    )


def _backups(db: Session, links: md.Links, now: datetime) -> list[str]:
    policies = backup_views.overview(db, now)
    lines = [f"## Backups ({len(policies)})", ""]
    if not policies:
        return [*lines, "No backup policies are declared (`backups.policies`)."]
    rows = []
    for p in policies:
        good = p.last_success
        drill = p.last_drill
        drill_text = "drills off" if p.policy.drill is None else "no drill yet"
        if drill is not None:
            verdict = "passed" if drill.status == "succeeded" else "**failed**"
            drill_text = f"{verdict} {md.when(drill.finished_at or drill.started_at)}"
        rows.append(
            [
                f"**{md.link(p.name, links.dr_policy(p.name))}**",
                md.text(p.source.summary),
                md.code(p.schedule),
                md.text(md.when(good.finished_at or good.started_at) if good else "never")
                + (f" ({md.text(good.repository)})" if good else ""),
                drill_text,
                md.text(p.freshness),
            ]
        )
    lines += md.table(
        ["Policy", "Source", "Schedule", "Last good backup", "Last restore drill", "Freshness"],
        rows,
    )
    dr = md.link("disaster-recovery runbooks", links.document("dr"))
    return [*lines, "", f"How to restore each of them: the {dr}."]


def _oncall(db: Session, now: datetime) -> list[str]:
    oncall = load_oncall(db)
    lines = [f"## On call now ({md.when(now)})", ""]
    if not oncall.schedules:
        return [*lines, "No on-call schedules are declared (`oncall.schedules`)."]
    names = {p.name: p.full_name or p.name for p in oncall.people}
    contact = {p.name: ", ".join(x for x in (p.email, p.phone) if x) for p in oncall.people}
    rows = []
    for schedule in oncall.schedules:
        state = overrides.now_and_next(db, schedule, now)
        who = state.person
        rows.append(
            [
                f"**{md.text(schedule.name)}**",
                f"**{md.text(names.get(who, who))}**" if who else "nobody (a gap)",
                md.text(contact.get(who or "", "")),
                md.text(md.when(state.until, "beyond 3 months")) if who else "",
                md.text(names.get(state.next_person or "", state.next_person or ""))
                + (f" from {md.when(state.next_at)}" if state.next_at else ""),
            ]
        )
    return lines + md.table(["Schedule", "On call", "Contact", "Until", "Next"], rows)


def build(db: Session, links: md.Links, now: datetime) -> str:
    """Return the system inventory in Markdown."""
    parts = [
        ["# System inventory"],
        _hosts(db, links, now),
        _services(db, links),
        _checks(db, links, now),
        _databases(db, links, now),
        _backups(db, links, now),
        _oncall(db, now),
    ]
    return "\n\n".join("\n".join(p) for p in parts)
