"""Run the registered checks of some scopes with one context, and score them.

The hardening index is the points earned over the points possible, times 100, counting
only the checks that ran: a check that passed earns its weight, one that failed earns
nothing, and skipped checks and errors count neither way (a host is not better or worse for
a check that does not apply to it, or that could not be judged). With nothing judged, there
is no index (``possible`` is 0).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from watchkeeper.security.hardening import (  # noqa: F401  (importing registers the checks)
    encryption,
    files,
    firewall,
    own_files,
    ports,
    posture,
    sshd,
    tls_checks,
    updates,
)
from watchkeeper.security.hardening.interface import (
    REGISTRY,
    STATUSES,
    AuditContext,
    CheckError,
    HardeningCheck,
    Result,
    Scope,
    Status,
)
from watchkeeper.store.tables import utcnow

log = logging.getLogger(__name__)


def checks(scopes: Iterable[Scope] = ("host", "server", "endpoint")) -> list[HardeningCheck]:
    """The registered checks of ``scopes``, by id."""
    wanted = set(scopes)
    return sorted((c for c in REGISTRY.values() if c.scope in wanted), key=lambda c: c.id)


@dataclass(frozen=True)
class Outcome:
    """One check's result in a run."""

    id: str
    title: str
    weight: int
    status: Status
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "detail": self.detail,
            "weight": self.weight,
            "title": self.title,
        }


def score(results: Iterable[tuple[str, int]]) -> tuple[int, int, float]:
    """``(points, possible, index)`` of ``(status, weight)`` pairs; the index is 0..100,
    rounded to one decimal, and 0 when nothing was judged."""
    points = possible = 0
    for status, weight in results:
        if status in ("pass", "fail"):
            possible += weight
            if status == "pass":
                points += weight
    index = round(100.0 * points / possible, 1) if possible else 0.0
    return points, possible, index


@dataclass
class Report:
    """One audit of one host (or endpoint): its outcomes and index."""

    host: str
    profile: str
    ran_at: datetime
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def points(self) -> int:
        return score((o.status, o.weight) for o in self.outcomes)[0]

    @property
    def possible(self) -> int:
        return score((o.status, o.weight) for o in self.outcomes)[1]

    @property
    def index(self) -> float:
        return score((o.status, o.weight) for o in self.outcomes)[2]

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def ordered(self) -> list[Outcome]:
        """Failures first, then errors, passes and skips; by id within each."""
        return sorted(self.outcomes, key=lambda o: (STATUSES.index(o.status), o.id))


def run_check(item: HardeningCheck, ctx: AuditContext) -> Result:
    """Run one check; what it raises becomes an ``error`` result (logged when unexpected)."""
    if item.id in ctx.profile.skip:
        return Result("skip", f"skipped by the profile ({ctx.profile.name})")
    try:
        return item.run(ctx)
    except CheckError as exc:
        return Result("error", str(exc))
    except Exception as exc:  # one broken check must not cost the others
        log.error(
            "hardening check %s failed: %s: %s", item.id, type(exc).__name__, exc, exc_info=exc
        )
        return Result("error", f"{type(exc).__name__}: {exc}")


def run_checks(ctx: AuditContext, scopes: Iterable[Scope], *, host: str, profile: str) -> Report:
    """Run every check of ``scopes`` with ``ctx``; return the report."""
    report = Report(host, profile, utcnow())
    for item in checks(scopes):
        result = run_check(item, ctx)
        report.outcomes.append(
            Outcome(item.id, item.title, item.weight, result.status, result.detail[:2000])
        )
    return report


def known_check_ids() -> frozenset[str]:
    """The ids of every registered hardening check (what a profile's ``skip`` may name)."""
    return frozenset(REGISTRY)
