"""The advisor: ranking, dismissals (until they expire or the finding gets worse), the
health score, and the errors of a bad dismissal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.dbmaint.service_support import finding, put_health
from watchkeeper.auth.audit import Actor
from watchkeeper.dbmaint import advisor
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.store.tables import AuditEntry, DbHealth

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ALICE = Actor("alice", "127.0.0.1")


def _keys(found: list[advisor.Recommendation]) -> list[str]:
    return [f"{r.database}/{r.key}" for r in found]


def test_ranked_by_severity_then_impact_across_databases(db: Session) -> None:
    put_health(
        db,
        "app",
        [
            finding("unused_index:public.a", "warning", 10_000),
            finding("table_bloat:public.big", "warning", 5_000_000),
            finding("slow_query:42", "info"),
        ],
        T0,
    )
    put_health(db, "billing", [finding("xid_wraparound:billing", "critical")], T0)
    found = advisor.recommendations(db, now=T0)
    assert _keys(found) == [
        "billing/xid_wraparound:billing",
        "app/table_bloat:public.big",
        "app/unused_index:public.a",
        "app/slow_query:42",
    ]
    assert _keys(advisor.recommendations(db, "app", now=T0))[0] == "app/table_bloat:public.big"
    only = advisor.recommendations(db, databases=["billing"], now=T0)
    assert _keys(only) == ["billing/xid_wraparound:billing"]


def test_health_score_counts_what_is_not_dismissed(db: Session) -> None:
    findings = [
        finding("a:1", "critical"),
        finding("b:2", "warning"),
        finding("c:3", "warning"),
        finding("d:4", "info"),
    ]
    put_health(db, "app", findings, T0)
    assert advisor.score(findings, {}, T0) == 100 - 25 - 10 - 10 - 2
    advisor.dismiss(db, ALICE, "app", "a:1", "known; fixed next release", now=T0)
    db.commit()
    row = db.get(DbHealth, "app")
    assert row is not None and row.score == 100 - 10 - 10 - 2  # rescored at once
    many = [finding(f"x:{i}", "critical") for i in range(6)]
    assert advisor.score(many, {}, T0) == 0  # floored


def test_a_dismissal_hides_until_it_expires(db: Session) -> None:
    put_health(db, "app", [finding("unused_index:public.a", "warning", 10_000)], T0)
    advisor.dismiss(
        db,
        ALICE,
        "app",
        "unused_index:public.a",
        "used by month-end report",
        until=T0 + timedelta(days=30),
        now=T0,
    )
    db.commit()
    assert advisor.recommendations(db, "app", now=T0 + timedelta(days=1)) == []
    shown = advisor.recommendations(db, "app", include_dismissed=True, now=T0)
    assert shown[0].dismissal is not None
    assert (shown[0].dismissal.reason, shown[0].dismissal.actor) == (
        "used by month-end report",
        "alice",
    )
    again = advisor.recommendations(db, "app", now=T0 + timedelta(days=31))
    assert _keys(again) == ["app/unused_index:public.a"] and not again[0].dismissed


@pytest.mark.parametrize(
    ("later", "shows"),
    [
        (finding("table_bloat:t", "warning", 1_400_000), False),  # grew, but less than 1.5x
        (finding("table_bloat:t", "warning", 1_600_000), True),  # grew past 1.5x
        (finding("table_bloat:t", "critical", 1_000_000), True),  # more severe
        (finding("table_bloat:t", "info", 100), False),  # better
    ],
)
def test_a_dismissed_finding_shows_again_once_it_gets_worse(
    db: Session, later: dict[str, object], shows: bool
) -> None:
    put_health(db, "app", [finding("table_bloat:t", "warning", 1_000_000)], T0)
    advisor.dismiss(db, ALICE, "app", "table_bloat:t", "archive table, read once a year", now=T0)
    db.commit()
    put_health(db, "app", [later], T0 + timedelta(hours=1))
    found = advisor.recommendations(db, "app", now=T0 + timedelta(hours=1))
    assert bool(found) is shows


def test_restore_shows_it_again_and_both_are_audited(db: Session) -> None:
    put_health(db, "app", [finding("freelist:main", "warning", 5000)], T0)
    advisor.dismiss(db, ALICE, "app", "freelist:main", "vacuumed on Sunday", now=T0)
    db.commit()
    assert advisor.recommendations(db, "app", now=T0) == []
    advisor.restore(db, ALICE, "app", "freelist:main", now=T0)
    db.commit()
    assert _keys(advisor.recommendations(db, "app", now=T0)) == ["app/freelist:main"]
    actions = [e.action for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-2:] == [
        "database.recommendation_dismiss",
        "database.recommendation_restore",
    ]
    with pytest.raises(NotFoundError, match="not dismissed"):
        advisor.restore(db, ALICE, "app", "freelist:main", now=T0)


def test_bad_dismissals_are_refused_naming_the_field(db: Session) -> None:
    put_health(db, "app", [finding("freelist:main")], T0)
    with pytest.raises(ValidationFailed) as empty:
        advisor.dismiss(db, ALICE, "app", "freelist:main", "   ", now=T0)
    assert empty.value.errors == [("reason", "must not be empty")]
    with pytest.raises(ValidationFailed) as past:
        advisor.dismiss(
            db, ALICE, "app", "freelist:main", "why", until=T0 - timedelta(days=1), now=T0
        )
    assert past.value.errors[0][0] == "until"
    with pytest.raises(NotFoundError, match="no current recommendation"):
        advisor.dismiss(db, ALICE, "app", "nothing:here", "why", now=T0)
    with pytest.raises(NotFoundError, match="not been collected"):
        advisor.dismiss(db, ALICE, "nowhere", "freelist:main", "why", now=T0)
