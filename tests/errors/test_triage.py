"""Triage: resolving, regressions, resolved in next release, ignoring until N more events or
a date, assignee and team; and the five-minute counts the charts read. On fixed times."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import make_user
from tests.errors.support import apply, project
from tests.errors.triage_support import OTHER_BUG, T0, issue, store
from watchkeeper.auth.audit import Actor
from watchkeeper.errors import issue_views, views
from watchkeeper.errors.activity import advance
from watchkeeper.errors.triage import change_issue, parse_change
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import AuditEntry, ErrorIssueTriage

ANN = Actor("ann")
PLAN = "errors:\n  projects:\n    - name: shop\n      team: payments\n"


@pytest.fixture
def shop(ctx: AppContext) -> int:
    apply(ctx, PLAN)
    return project(ctx, "shop").id


def triage(db: Session, issue_id: int, body: dict[str, object], at: object = None) -> None:
    change_issue(db, issue_id, parse_change(body), ANN, at or T0 + timedelta(minutes=1))  # type: ignore[arg-type]
    db.commit()


def shown(db: Session, issue_id: int) -> dict[str, object]:
    return issue_views.with_triage(db, [views.get_issue(db, issue_id)])[0]


def test_a_resolved_issue_regresses_with_a_later_event(ctx: AppContext, shop: int) -> None:
    with ctx.sessions() as db:
        bug = store(db, shop, T0, release="1.0")
        triage(db, bug.id, {"status": "resolved"})
        assert issue(db, bug.id).resolved_in_release == "1.0"
        advance(db, T0 + timedelta(minutes=2))
        assert issue(db, bug.id).status == "resolved"
        # An event that happened before the resolution (sent late) is no regression.
        store(db, shop, T0 + timedelta(seconds=30), release="1.0")
        advance(db, T0 + timedelta(minutes=2))
        assert issue(db, bug.id).status == "resolved"
        store(db, shop, T0 + timedelta(minutes=3), release="1.1")
        done = advance(db, T0 + timedelta(minutes=4))
        assert done.regressed == [bug.id]
        again = shown(db, bug.id)
        assert again["status"] == "unresolved" and again["regressed"] is True
        assert again["regressed_in_release"] == "1.1"
        assert again["resolved_at"] is None
        # Resolving again clears the badge.
        triage(db, bug.id, {"status": "resolved"}, T0 + timedelta(minutes=5))
        assert shown(db, bug.id)["regressed"] is False


def test_resolved_in_next_release(ctx: AppContext, shop: int) -> None:
    with ctx.sessions() as db:
        bug = store(db, shop, T0, release="1.0")
        triage(db, bug.id, {"status": "resolved_next_release"})
        assert issue(db, bug.id).resolved_in_release == "1.0"
        # More events from the release it was resolved in: expected, the fix is not out.
        store(db, shop, T0 + timedelta(minutes=2), release="1.0")
        advance(db, T0 + timedelta(minutes=3))
        assert issue(db, bug.id).status == "resolved_next_release"
        # The project shows a newer release (another issue's event): resolved in it.
        store(db, shop, T0 + timedelta(minutes=5), release="1.1", frames=OTHER_BUG)
        done = advance(db, T0 + timedelta(minutes=6))
        assert done.resolved == [bug.id]
        row = issue(db, bug.id)
        assert (row.status, row.resolved_in_release) == ("resolved", "1.1")
        assert row.resolved_at == T0 + timedelta(minutes=5)
        # From then on a newer event reopens it, even from the older release.
        store(db, shop, T0 + timedelta(minutes=7), release="1.0")
        advance(db, T0 + timedelta(minutes=8))
        again = shown(db, bug.id)
        assert again["status"] == "unresolved" and again["regressed_in_release"] == "1.0"


def test_next_release_with_the_bug_still_in_it_is_a_regression(ctx: AppContext, shop: int) -> None:
    with ctx.sessions() as db:
        bug = store(db, shop, T0, release="1.0")
        triage(db, bug.id, {"status": "resolved_next_release"})
        store(db, shop, T0 + timedelta(minutes=5), release="1.1")
        done = advance(db, T0 + timedelta(minutes=6))
        assert done.regressed == [bug.id] and done.resolved == []
        again = shown(db, bug.id)
        assert again["status"] == "unresolved" and again["regressed_in_release"] == "1.1"


def test_next_release_needs_a_release(ctx: AppContext, shop: int) -> None:
    with ctx.sessions() as db:
        bug = store(db, shop, T0)
        with pytest.raises(ValidationFailed) as caught:
            triage(db, bug.id, {"status": "resolved_next_release"})
        assert caught.value.errors[0][0] == "status"
        assert "no release" in caught.value.errors[0][1]


def test_ignored_until_n_more_events(ctx: AppContext, shop: int) -> None:
    with ctx.sessions() as db:
        bug = store(db, shop, T0)
        triage(db, bug.id, {"ignore_until_count": 2})  # the status ignored is implied
        row = issue(db, bug.id)
        assert (row.status, row.ignore_until_count) == ("ignored", 3)
        store(db, shop, T0 + timedelta(minutes=2))
        advance(db, T0 + timedelta(minutes=3))
        assert issue(db, bug.id).status == "ignored"
        store(db, shop, T0 + timedelta(minutes=4))
        done = advance(db, T0 + timedelta(minutes=5))
        assert done.unignored == [bug.id]
        row = issue(db, bug.id)
        assert (row.status, row.ignore_until_count) == ("unresolved", None)


def test_ignored_until_a_date(ctx: AppContext, shop: int) -> None:
    with ctx.sessions() as db:
        bug = store(db, shop, T0)
        until = T0 + timedelta(hours=1)
        triage(db, bug.id, {"status": "ignored", "ignore_until": until.isoformat()})
        assert shown(db, bug.id)["ignore_until"] == until
        advance(db, T0 + timedelta(minutes=30))
        assert issue(db, bug.id).status == "ignored"
        advance(db, until)
        assert issue(db, bug.id).status == "unresolved"
        assert db.get(ErrorIssueTriage, bug.id).ignore_until is None  # type: ignore[union-attr]
        with pytest.raises(ValidationFailed) as caught:
            triage(db, bug.id, {"status": "ignored", "ignore_until": T0.isoformat()})
        assert caught.value.errors == [("ignore_until", "must be in the future")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "fixed"}, "status"),
        ({"status": "resolved", "ignore_until_count": 3}, "status"),
        ({"ignore_until_count": 0}, "ignore_until_count"),
        ({"colour": "red"}, "colour"),
        ({"ignore_until": "next week"}, "ignore_until"),
    ],
)
def test_bad_changes_name_their_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_change(body)
    assert caught.value.errors[0][0] == field


def test_assignee_and_team(ctx: AppContext, shop: int) -> None:
    make_user(ctx, "bob", "responder")
    with ctx.sessions() as db:
        bug = store(db, shop, T0)
        triage(db, bug.id, {"assignee": "bob", "team": "checkout"})
        row = issue(db, bug.id)
        assert (row.assignee, row.team, row.status) == ("bob", "checkout", "unresolved")
        assert views.list_issues(db, assignee="bob").total == 1
        assert views.list_issues(db, assignee="ann").total == 0
        with pytest.raises(ValidationFailed) as caught:
            triage(db, bug.id, {"assignee": "nobody-here"})
        assert caught.value.errors == [("assignee", 'no user named "nobody-here"')]
        db.rollback()
        triage(db, bug.id, {"assignee": ""})
        assert issue(db, bug.id).assignee is None
        entries = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "errors.issue_triage")
        ).all()
        assert [e.actor for e in entries] == ["ann", "ann"]
        assert entries[0].detail["assignee"] == {"before": None, "after": "bob"}
        with pytest.raises(NotFoundError):
            triage(db, 999_999, {"status": "resolved"})


def test_counts_per_five_minutes(ctx: AppContext, shop: int) -> None:
    with ctx.sessions() as db:
        bug = store(db, shop, T0, user="u1")
        store(db, shop, T0, user="u2")
        advance(db, T0)
        store(db, shop, T0 + timedelta(minutes=1), user="u1")
        advance(db, T0 + timedelta(hours=2))
        advance(db, T0 + timedelta(hours=2))  # nothing new: nothing counted twice
        day = issue_views.series(db, [bug.id], T0 + timedelta(hours=3), timedelta(hours=24), 3600)
        data = day[bug.id]
        assert len(data.t) == 24 and sum(data.events) == 3 and sum(data.users) == 2
        assert data.events[-4:] == [2, 0, 1, 0]  # T0's hour, then two hours later
        chart = issue_views.chart_data(db, bug.id, T0 + timedelta(hours=3), "14d")
        assert sum(chart["events"]) == 3 and chart["step"] == 6 * 3600
