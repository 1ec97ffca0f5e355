"""Which runbooks go with what: the runbooks of an alert, a service or an incident
(:func:`runbooks_for`), and what a runbook covers (:func:`coverage`).

Both directions join two sources: the runbook's own front matter (``services``, ``alerts``,
alert names may be globs) and the applied plan (a service's ``runbooks`` list, an alert
rule's or a check's ``runbook: <slug>``), read from the store as stored (no validation, so a
rule another version wrote still links).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.knowledge.runbook_links import named_slug, runbook_link, runbook_path
from watchkeeper.knowledge.runbooks import load_section, view
from watchkeeper.store.tables import Alert, Runbook, StoredObject, utcnow

SERVICE_KIND = "releases.services"
RULE_KIND = "alerts.rules"
CHECK_KIND = "checks"


@dataclass(frozen=True)
class RunbookRef:
    """A runbook linked to something: ``slug`` is "" for an outside link; ``exists`` is
    False for a slug no runbook has (a broken reference worth showing)."""

    slug: str
    title: str
    url: str
    exists: bool = True
    review_due: bool = False
    why: list[str] = field(default_factory=list)
    """How it is linked: "front matter", "service api", "rule DiskFull"."""


@dataclass(frozen=True)
class Coverage:
    """What one runbook covers, from its front matter and from the plan."""

    services: list[str]
    alerts: list[str]
    """Alert names or globs."""
    checks: list[str]
    firing: list[tuple[int, str]]
    """(alert id, alert name) of the alerts firing now that it covers."""


def _as_set(value: str | Iterable[str]) -> set[str]:
    return {value} if isinstance(value, str) else set(value)


def _specs(db: Session, kind: str, names: set[str] | None = None) -> list[dict[str, Any]]:
    query = select(StoredObject.name, StoredObject.spec).where(StoredObject.kind == kind)
    if names is not None:
        query = query.where(StoredObject.name.in_(sorted(names)))
    return [dict(spec or {}, name=name) for name, spec in db.execute(query)]


def runbooks_for(
    db: Session,
    *,
    service: str | Iterable[str] = (),
    alert: str | Iterable[str] = (),
    now: datetime | None = None,
) -> list[RunbookRef]:
    """Return the runbooks of the services and alert names given: those whose front matter
    names one of them, those the plan's services list, and the one an alert rule names; by
    title. A slug the plan names without such a runbook is included with ``exists`` False;
    a service's outside link with ``slug`` "" and the link as title."""
    services, alerts = _as_set(service) - {""}, _as_set(alert) - {""}
    if not services and not alerts:
        return []
    why: dict[str, list[str]] = {}
    links: dict[str, list[str]] = {}
    for spec in _specs(db, SERVICE_KIND, services) if services else []:
        for value in spec.get("runbooks") or []:
            slug = named_slug(str(value))
            if slug:
                why.setdefault(slug, []).append(f"service {spec['name']}")
            elif runbook_link(str(value)):
                links.setdefault(runbook_link(str(value)), []).append(f"service {spec['name']}")
    for spec in _specs(db, RULE_KIND, alerts) if alerts else []:
        slug = named_slug(str(spec.get("runbook_url") or "")) or (
            named_slug(str(spec.get("runbook") or ""))
            if "\n" not in str(spec.get("runbook") or "")
            else ""
        )
        if slug:
            why.setdefault(slug, []).append(f"rule {spec['name']}")
    section = load_section(db)
    at = now or utcnow()
    found: dict[str, RunbookRef] = {}
    for row in db.scalars(select(Runbook)):
        reasons = list(why.get(row.slug, []))
        if services.intersection(row.services or []) or any(
            fnmatchcase(a, pattern) for a in alerts for pattern in row.alerts or []
        ):
            reasons.insert(0, "front matter")
        if reasons:
            found[row.slug] = RunbookRef(
                row.slug,
                row.title,
                runbook_path(row.slug),
                review_due=view(row, section, at).review_due,
                why=reasons,
            )
    refs = sorted(found.values(), key=lambda r: (r.title.lower(), r.slug))
    refs += [
        RunbookRef(slug, slug, runbook_path(slug), exists=False, why=reasons)
        for slug, reasons in sorted(why.items())
        if slug not in found
    ]
    refs += [RunbookRef("", url, url, why=reasons) for url, reasons in sorted(links.items())]
    return refs


def _names(db: Session, kind: str, slug: str, keys: tuple[str, ...]) -> list[str]:
    """Names of the stored objects of ``kind`` whose ``keys`` name runbook ``slug``."""
    found = []
    for spec in _specs(db, kind):
        for key in keys:
            value = spec.get(key)
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and "\n" not in v and named_slug(v) == slug for v in values):
                found.append(str(spec["name"]))
                break
    return found


def coverage(db: Session, slug: str, services: list[str], alerts: list[str]) -> Coverage:
    """Return what runbook ``slug`` covers: the ``services`` and ``alerts`` of its front
    matter, plus the plan's services, alert rules and checks that name it; and the alerts
    firing now that any of those alert names match."""
    all_services = list(dict.fromkeys([*services, *_names(db, SERVICE_KIND, slug, ("runbooks",))]))
    all_alerts = list(
        dict.fromkeys([*alerts, *_names(db, RULE_KIND, slug, ("runbook", "runbook_url"))])
    )
    checks = _names(db, CHECK_KIND, slug, ("runbook",))
    firing = []
    if all_alerts:
        for alert_id, labels in db.execute(
            select(Alert.id, Alert.labels).where(Alert.state == "firing").order_by(Alert.id)
        ):
            name = str((labels or {}).get("alertname", ""))
            if any(fnmatchcase(name, pattern) for pattern in all_alerts):
                firing.append((alert_id, name))
    return Coverage(all_services, all_alerts, checks, firing)
