"""Suppressions: findings accepted on purpose, with a reason and (usually) an expiry.

They come from two places: the plan's ``security.suppressions`` (reviewed with the plan)
and the UI/API/CLI (rows of ``security_suppressions``, each audited). Both are matched the
same way: the vulnerability glob against the finding's OSV id and every alias, the
package glob against the package, a host glob against the host, all case-insensitive.
An expired suppression is ignored (it still lists, marked expired). A suppressed finding
is not counted as open, not planned, not alerted on, and shows which suppression hides
it and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.globs import matches, matches_any
from watchkeeper.security.config import SecuritySection
from watchkeeper.store.tables import SecuritySuppression

MAX_REASON = 2000
MAX_GLOB = 128


class Matchable(Protocol):
    """What matching needs of a finding (a ``SecurityFinding`` row or a view of one)."""

    @property
    def host(self) -> str: ...

    @property
    def package(self) -> str: ...

    @property
    def vuln_id(self) -> str: ...

    @property
    def aliases(self) -> list[str]: ...


@dataclass(frozen=True)
class Suppression:
    """One suppression, from the plan (``source`` "plan", ``key`` its name) or made in the
    UI/API (``source`` "api", ``key`` the row id)."""

    source: Literal["plan", "api"]
    key: str
    vulnerability: str
    package: str
    hosts: tuple[str, ...]
    reason: str
    actor: str
    created_at: datetime | None
    expires_at: datetime | None

    def active(self, now: datetime) -> bool:
        """True unless it has expired at ``now``."""
        return self.expires_at is None or now < self.expires_at

    def matches(self, finding: Matchable) -> bool:
        """True when this suppression covers ``finding`` (expiry not considered)."""
        ids = [finding.vuln_id, *finding.aliases]
        return (
            any(matches(i, self.vulnerability) for i in ids)
            and matches(finding.package, self.package)
            and matches_any(finding.host, self.hosts)
        )

    @property
    def label(self) -> str:
        """How the UI names it: ``plan: <name>`` or ``#<id> by <who>``."""
        return f"plan: {self.key}" if self.source == "plan" else f"#{self.key} by {self.actor}"


def _end(day: date | None) -> datetime | None:
    """The moment a plan suppression's ``expires`` day begins (UTC): from then on it no
    longer applies."""
    return None if day is None else datetime.combine(day, time(0), tzinfo=UTC)


def all_suppressions(db: Session, section: SecuritySection) -> list[Suppression]:
    """Every suppression, the plan's first, expired ones included."""
    found = [
        Suppression(
            source="plan",
            key=s.name,
            vulnerability=s.vulnerability,
            package=s.package,
            hosts=tuple(s.hosts),
            reason=s.reason,
            actor="plan",
            created_at=None,
            expires_at=_end(s.expires),
        )
        for s in section.suppressions
    ]
    for row in db.scalars(select(SecuritySuppression).order_by(SecuritySuppression.id)):
        found.append(of_row(row))
    return found


def of_row(row: SecuritySuppression) -> Suppression:
    """A suppression made in the UI/API, as it is matched."""
    return Suppression(
        source="api",
        key=str(row.id),
        vulnerability=row.vulnerability,
        package=row.package,
        hosts=(row.host,),
        reason=row.reason,
        actor=row.actor,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def active_suppressions(db: Session, section: SecuritySection, now: datetime) -> list[Suppression]:
    """The suppressions in force at ``now``."""
    return [s for s in all_suppressions(db, section) if s.active(now)]


def suppressed_by(
    finding: Matchable, suppressions: Iterable[Suppression], now: datetime
) -> Suppression | None:
    """The first suppression in force at ``now`` that covers ``finding``, else None."""
    return next((s for s in suppressions if s.active(now) and s.matches(finding)), None)


def is_suppressed(finding: Matchable, suppressions: Iterable[Suppression], now: datetime) -> bool:
    """True when a suppression in force at ``now`` covers ``finding``."""
    return suppressed_by(finding, suppressions, now) is not None


def _check(
    vulnerability: str,
    package: str,
    host: str,
    reason: str,
    expires_at: datetime | None,
    now: datetime,
) -> list[tuple[str, str]]:
    errors = []
    if not vulnerability.strip():
        errors.append(("vulnerability", "give an OSV id or alias (globs allowed): CVE-2024-1234"))
    for field, value in (("package", package), ("host", host)):
        if not value.strip():
            errors.append((field, 'must not be empty (use "*" for any)'))
    for field, value in (("vulnerability", vulnerability), ("package", package), ("host", host)):
        if len(value) > MAX_GLOB:
            errors.append((field, f"at most {MAX_GLOB} characters"))
    if not reason.strip():
        errors.append(("reason", "say why the finding is accepted"))
    elif len(reason) > MAX_REASON:
        errors.append(("reason", f"at most {MAX_REASON} characters"))
    if expires_at is not None:
        if expires_at.tzinfo is None:
            errors.append(("expires", "give a time zone (or a date, taken as UTC)"))
        elif expires_at <= now:
            errors.append(("expires", "must be in the future"))
    return errors


def create(
    db: Session,
    actor: Actor,
    *,
    vulnerability: str,
    reason: str,
    package: str = "*",
    host: str = "*",
    expires_at: datetime | None = None,
    now: datetime,
) -> SecuritySuppression:
    """Suppress ``vulnerability`` (id or alias glob) for ``package`` on ``host`` (globs)
    with ``reason`` until ``expires_at`` (None: until deleted), and audit it; raise
    ValidationFailed naming each bad field. Caller commits."""
    errors = _check(vulnerability, package, host, reason, expires_at, now)
    if errors:
        raise ValidationFailed(
            "the suppression is not valid: " + "; ".join(f"{f}: {m}" for f, m in errors), errors
        )
    row = SecuritySuppression(
        vulnerability=vulnerability.strip(),
        package=package.strip(),
        host=host.strip(),
        reason=reason.strip(),
        actor=actor.name[:128],
        created_at=now,
        expires_at=expires_at,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor,
        "security.suppression_create",
        f"suppression/{row.id}",
        {
            "vulnerability": row.vulnerability,
            "package": row.package,
            "host": row.host,
            "reason": row.reason,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return row


def delete(db: Session, actor: Actor, suppression_id: int) -> Suppression:
    """Remove suppression ``suppression_id`` (made in the UI/API) and audit it; return what
    it was. Raise NotFoundError when there is none (plan suppressions are removed from the
    plan). Caller commits."""
    row = db.get(SecuritySuppression, suppression_id)
    if row is None:
        raise NotFoundError(
            f"there is no suppression {suppression_id} (those of the plan are removed there)"
        )
    audit.record(
        db,
        actor,
        "security.suppression_delete",
        f"suppression/{row.id}",
        {"vulnerability": row.vulnerability, "package": row.package, "host": row.host},
    )
    removed = of_row(row)
    db.delete(row)
    return removed


def covering(
    suppressions: Sequence[Suppression], findings: Iterable[Matchable], now: datetime
) -> dict[str, int]:
    """How many of ``findings`` each suppression in force hides (by ``label``): the first
    matching one counts, as in :func:`suppressed_by`."""
    counts = {s.label: 0 for s in suppressions}
    for finding in findings:
        found = suppressed_by(finding, suppressions, now)
        if found is not None:
            counts[found.label] += 1
    return counts
