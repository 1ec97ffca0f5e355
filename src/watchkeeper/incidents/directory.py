"""The emergency directory: contacts by kind, the people who can be paged and how, and the
emergency procedures (Markdown runbooks) linked to services and alerts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from sqlalchemy.orm import Session

from watchkeeper.exceptions import NotFoundError
from watchkeeper.incidents.config import Contact, IncidentsSection, Procedure
from watchkeeper.incidents.oncall_config import ContactRule, Person
from watchkeeper.incidents.plan import load_incidents, load_oncall

# The order the directory shows contact kinds in, with their headings.
CONTACT_KINDS: tuple[tuple[str, str], ...] = (
    ("person", "People"),
    ("vendor", "Vendors"),
    ("provider", "Hosting and service providers"),
    ("authority", "Authorities"),
    ("team", "Teams"),
)


@dataclass(frozen=True)
class ContactGroup:
    kind: str
    title: str
    contacts: list[Contact]


@dataclass(frozen=True)
class PersonEntry:
    """A person who can be paged, with their contact rules in the order they fire."""

    person: Person
    rules: list[ContactRule]


@dataclass(frozen=True)
class Directory:
    groups: list[ContactGroup]
    """Contact kinds that have entries, in ``CONTACT_KINDS`` order."""
    people: list[PersonEntry]
    procedures: list[Procedure]

    @property
    def stakeholders(self) -> list[Contact]:
        """Contacts notified when a major incident is declared."""
        return [c for g in self.groups for c in g.contacts if c.stakeholder]

    @property
    def empty(self) -> bool:
        return not (self.groups or self.people or self.procedures)


def _by_title(procedures: Iterable[Procedure]) -> list[Procedure]:
    return sorted(procedures, key=lambda p: ((p.title or p.name).lower(), p.name))


def directory(db: Session) -> Directory:
    """Return the emergency directory as the stored plan declares it."""
    incidents = load_incidents(db)
    oncall = load_oncall(db)
    groups = []
    for kind, title in CONTACT_KINDS:
        members = sorted(
            (c for c in incidents.contacts if c.kind == kind), key=lambda c: c.name.lower()
        )
        if members:
            groups.append(ContactGroup(kind, title, members))
    people = [
        # sorted() is stable: rules with the same delay keep the plan's order.
        PersonEntry(p, sorted(p.contact, key=lambda r: r.after))
        for p in sorted(oncall.people, key=lambda p: (p.full_name or p.name).lower())
    ]
    return Directory(groups, people, _by_title(incidents.procedures))


def applies(procedure: Procedure, alertname: str, services: Iterable[str]) -> bool:
    """Return True when ``procedure`` names ``alertname`` (by glob) or one of ``services``."""
    if alertname and any(fnmatchcase(alertname, glob) for glob in procedure.alerts):
        return True
    return bool(set(procedure.services) & {s for s in services if s})


def procedures_for(db: Session, alertname: str, services: Iterable[str] = ()) -> list[Procedure]:
    """Return the procedures for an alert named ``alertname`` affecting ``services``: those
    whose ``alerts`` globs match the name or whose ``services`` include one of them."""
    return _matching(load_incidents(db), alertname, services)


def _matching(
    incidents: IncidentsSection, alertname: str, services: Iterable[str]
) -> list[Procedure]:
    wanted = list(services)
    return _by_title(p for p in incidents.procedures if applies(p, alertname, wanted))


def procedures_for_alert(db: Session, alertname: str, labels: Mapping[str, str]) -> list[Procedure]:
    """Return the procedures for an alert, its service taken from the label the plan names
    (``incidents.service_label``)."""
    incidents = load_incidents(db)
    service = labels.get(incidents.service_label, "")
    return _matching(incidents, alertname, [service] if service else [])


def get_procedure(db: Session, name: str) -> Procedure:
    """Return the procedure named ``name``; raise NotFoundError if there is none."""
    for procedure in load_incidents(db).procedures:
        if procedure.name == name:
            return procedure
    raise NotFoundError(f'no emergency procedure is named "{name}"')
