"""Onboarding: the first-run tour's steps turn done as the plan gains a check, a channel
and a backup (made from the editor's starters); the new team member page lists a user's
teams, schedules, escalation policies, services and runbooks."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import yaml
from sqlalchemy.orm import Session

from tests.conftest import make_user
from tests.knowledge.generated_fixtures import NOW, seed
from watchkeeper.auth import teams
from watchkeeper.auth.audit import Actor
from watchkeeper.knowledge.onboarding import STARTERS, first_run_tour, member_overview, plan_snippet
from watchkeeper.plan import catalog
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext

Client = Callable[..., httpx.Client]
ADMIN = Actor("admin")


def done(db: Session) -> dict[str, bool]:
    return {s.key: s.done for s in first_run_tour(db).steps}


def test_tour_steps_turn_done_with_the_starters(db: Session) -> None:
    assert done(db) == {"check": False, "channel": False, "backup": False}
    backup = first_run_tour(db).steps[2]
    assert [href for _, href in backup.links] == [
        "/objects/backups.repositories/new",
        "/objects/backups.policies/new",
    ]
    for kind, step in (
        ("checks", "check"),
        ("notifications.channels", "channel"),
        ("backups.repositories", None),
        ("backups.policies", "backup"),
    ):
        catalog.create_object(db, kind, yaml.safe_load(STARTERS[kind]), ADMIN)
        db.commit()
        if step:
            assert done(db)[step], kind
    tour = first_run_tour(db)
    assert tour.complete and tour.done == 3


def test_snippets_are_a_valid_plan() -> None:
    text = "".join(
        plan_snippet(*k)
        for k in (
            ("checks",),
            ("notifications.channels",),
            ("backups.repositories", "backups.policies"),
        )
    )
    plan = load_plan_text(text, env={}).plan
    assert [c.name for c in plan.checks] == ["my-service"]
    assert [p.name for p in plan.backups.policies] == ["app-files"]


def test_home_page_shows_the_tour_until_the_plan_has_it_all(
    ctx: AppContext, sign_in: Client
) -> None:
    admin = sign_in("admin", "admin")
    page = admin.get("/").text
    assert 'id="first-run-tour"' in page and "Get started: 0 of 3 done" in page
    assert (
        'href="/objects/checks/new"' in page and 'data-tour-key="wk-tour-dismissed:admin"' in page
    )
    editor = admin.get("/objects/notifications.channels/new").text
    assert "name: ops-email" in editor  # the tour's link opens on a ready snippet
    with ctx.sessions() as db:
        seed(db, runbooks=False)
    assert 'id="first-run-tour"' not in admin.get("/").text


@pytest.fixture
def team_plan(ctx: AppContext) -> None:
    """The shared plan; alice (responder) in team data, which owns orders-db."""
    make_user(ctx, "alice", "responder")
    with ctx.sessions() as db:
        seed(db)
        teams.create_team(db, ADMIN, "shop")
        teams.create_team(db, ADMIN, "data")
        teams.add_member(db, ADMIN, "data", "alice")
        db.commit()


def test_member_overview_lists_what_they_are_part_of(ctx: AppContext, team_plan: None) -> None:
    with ctx.sessions() as db:
        alice = member_overview(db, "alice", NOW)
    assert alice.person == "Alice Moreau" and alice.teams == ("data",)
    assert [m.schedule.name for m in alice.schedules] == ["primary"]
    assert alice.schedules[0].on_call_now and alice.schedules[0].shifts
    assert {p.policy.name: p.why for p in alice.policies} == {
        "default": "through schedule primary at step 1",
        "databases": "directly at step 1",
    }
    assert [s.name for s in alice.services] == ["orders-db"]
    assert [r.slug for r in alice.runbooks] == ["orders-db-failover"]


def test_onboarding_pages(ctx: AppContext, team_plan: None, sign_in: Client) -> None:
    alice = sign_in("alice")
    page = alice.get("/onboarding").text
    assert "Welcome, Alice Moreau" in page
    for shown in ("primary", "default", "databases", "orders-db", "Orders database failover"):
        assert shown in page, shown
    assert "#schedule-secondary" not in page and "escalation-policies/others" not in page
    assert "Cache flush" not in page  # a runbook of no service of theirs
    assert alice.get("/onboarding/alice").status_code == 403  # another's page: admins only
    admin = sign_in("admin", "admin")
    assert "Onboarding: Alice Moreau" in admin.get("/onboarding/alice").text
    assert admin.get("/onboarding/nobody").status_code == 404
