"""Security: every OSV source was imported (``osv_imports``: succeeded or unchanged) within
twice its schedule's interval plus its timeout, and its latest import did not fail (a source
never imported is unknown until that limit passes since it was declared); every host an
inventory applies to (an agent's, or one with stored inventories: the server's own host,
inventoried by ``watchkeeper security inventory``) reported a good one (``host_packages``
with a digest: a failed collection does not count) within twice the inventory's interval;
no host has a
finding of ``security.alert_severity`` or worse whose fix has been available for longer
than ``security.fix_age`` (open and not suppressed: the ``VulnerabilityFixOverdue`` rule);
every host a hardening profile applies to was audited (``hardening_runs``) within twice
the profile's interval. The limits are those of
:mod:`watchkeeper.security.compliance.freshness`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from croniter import croniter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.globs import matches_any
from watchkeeper.security.alerting import overdue_findings
from watchkeeper.security.compliance.freshness import (
    late_hosts,
    limits_by_host,
    newest_inventories,
    source_freshness,
)
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    created_at,
    declared,
    every,
    load_section,
    not_in_plan,
    plural,
    times_by_name,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.security.config import SecuritySection
from watchkeeper.security.osv.imports import error_reason
from watchkeeper.store.tables import HardeningRun, Host, HostPackages


def evaluate(db: Session, live: Live) -> SectionResult:
    if not declared(db, "security"):
        return not_in_plan("security")
    section = load_section(db, "security", SecuritySection)
    tally = Tally("security")
    hosts = sorted(db.scalars(select(Host.name)))
    _judge_sources(db, live, tally, section)
    inventoried = set(db.scalars(select(HostPackages.host).distinct()))
    _judge_inventories(db, live, tally, section, sorted(inventoried.union(hosts)))
    _judge_findings(db, live, tally, section)
    _judge_hardening(db, live, tally, section, hosts)
    return tally.result()


def _judge_sources(db: Session, live: Live, tally: Tally, section: SecuritySection) -> None:
    if not section.sources:
        return
    states = source_freshness(db, section.sources, live.now)
    schedules = {s.name: s.schedule for s in section.sources}
    declared_at = created_at(db, "security.sources")
    link = "/security"
    pending: list[datetime] = []
    for state in states:
        if state.failed_import is not None:
            failed = state.failed_import
            error = (error_reason(state.name, failed.error).splitlines() or ["no detail"])[0]
            tally.failed(
                "OSV source",
                state.name,
                f"its last import ({at(failed.started_at)}) failed: {error}",
                link,
            )
        elif state.status == "late" and state.last_good is None:
            tally.failed(
                "OSV source", state.name, f"never imported (due within {span(state.limit)})", link
            )
        elif state.status == "late":
            assert state.last_good is not None
            tally.failed(
                "OSV source",
                state.name,
                f"last imported {span(live.now - state.last_good)} ago (limit {span(state.limit)})",
                link,
            )
        elif state.status == "new":  # never imported, still within its limit: not judged
            since = declared_at.get(state.name, live.now)
            due: datetime = croniter(schedules[state.name], since).get_next(datetime)
            pending.append(due)
            tally.cannot_tell(
                "OSV source", state.name, f"not imported yet (first import due {at(due)})"
            )
        else:
            tally.passed()
    on_time = sum(1 for s in states if s.status == "fresh")
    sentence = f"{plural(len(states), 'OSV source')}; {on_time} imported on schedule"
    if pending:
        sentence += f"; {len(pending)} not imported yet (first import due {at(min(pending))})"
    tally.say(sentence + ".")


def _judge_by_host(
    tally: Tally,
    live: Live,
    kind: str,
    what: str,
    limits: Mapping[str, timedelta],
    newest: Mapping[str, datetime],
    page: str,
) -> int:
    late = late_hosts(limits, newest, live.now)
    for host, interval in sorted(limits.items()):
        link = f"{page}/{quote(host, safe='')}"
        if host not in late:
            tally.passed()
            continue
        last = late[host]
        if last is None:
            tally.failed(kind, host, f"no {what} yet (expected every {every(interval)})", link)
        else:
            tally.failed(
                kind,
                host,
                f"last {what} {span(live.now - last)} ago (every {every(interval)})",
                link,
            )
    return len(late)


def _judge_inventories(
    db: Session, live: Live, tally: Tally, section: SecuritySection, hosts: list[str]
) -> None:
    if not section.inventories:
        return
    limits = limits_by_host(hosts, [(i.hosts, i.interval) for i in section.inventories])
    for inventory in section.inventories:
        if not any(matches_any(h, inventory.hosts) for h in hosts):
            tally.failed(
                "inventory",
                inventory.name,
                f"no host matches {', '.join(inventory.hosts)} (neither an agent's nor one "
                "with stored inventories): nothing is inventoried",
                "/hosts",
            )
    newest = newest_inventories(db)
    late = _judge_by_host(tally, live, "inventory", "inventory", limits, newest, "/hosts")
    tally.say(f"{plural(len(limits), 'host')} to inventory; {len(limits) - late} reported on time.")


def _judge_findings(db: Session, live: Live, tally: Tally, section: SecuritySection) -> None:
    inventoried = sorted(newest_inventories(db))
    if not inventoried:
        return
    overdue = overdue_findings(db, section, live.now)
    for host in inventoried:
        items = overdue.get(host, [])
        if not items:
            tally.passed()
            continue
        named = ", ".join(f"{f.vuln_id} in {f.package}" for f in items[:3])
        more = f" and {len(items) - 3} more" if len(items) > 3 else ""
        tally.failed(
            "host",
            host,
            f"{plural(len(items), 'finding')} of {section.alert_severity} or worse with a fix "
            f"available for more than {every(section.fix_age)}: {named}{more}",
            "/security?" + urlencode({"host": host}),
        )
    tally.say(
        f"{plural(len(inventoried), 'inventoried host')}; {len(overdue)} with overdue fixes "
        f"({section.alert_severity} or worse, fix older than {every(section.fix_age)})."
    )


def _judge_hardening(
    db: Session, live: Live, tally: Tally, section: SecuritySection, hosts: list[str]
) -> None:
    if not section.hardening:
        return
    limits = limits_by_host(hosts, [(p.hosts, p.interval) for p in section.hardening])
    newest = times_by_name(
        db,
        select(HardeningRun.host, func.max(HardeningRun.ran_at)).group_by(HardeningRun.host),
    )
    late = _judge_by_host(
        tally, live, "hardening audit", "audit", limits, newest, "/security/hardening"
    )
    tally.say(f"{plural(len(limits), 'host')} to audit; {len(limits) - late} audited on time.")
