"""The maintenance calendar over real HTTP: task instances and planned occurrences, planned
releases, freezes, maintenance and patch windows, on-call shifts and drills merged in one
list; narrowed to a user or a team; each user's and team's iCal feed reachable only through
its signed URL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from tests.helpers import LiveServer
from tests.tasks.support import Clock, apply_tasks
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.teams import add_member, create_team
from watchkeeper.runtime.context import AppContext
from watchkeeper.tasks.service import TasksService

SignIn = Callable[..., httpx.Client]
MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PLAN = """
notifications:
  channels: [{name: ops-mail, type: webhook, url: "http://127.0.0.1:9/hook"}]
alerts:
  maintenance_windows:
    - {name: patching, cron: "0 6 * * sat", duration: 2h}
security:
  patch_windows: [patching]
releases:
  services: [{name: api, environments: [production]}]
  planned:
    - {name: api-two, service: api, version: 2.0.0, at: 2026-01-08T14:00:00Z}
  freezes:
    - {name: year-end, start: 2025-12-20T00:00:00Z, end: 2026-01-06T00:00:00Z}
oncall:
  people: [{name: alice}, {name: bob}]
  schedules:
    - name: primary
      time_zone: UTC
      layers:
        - {name: week, rotation: weekly, start: 2025-12-29T00:00:00Z, members: [alice, bob]}
incidents:
  drills:
    - {name: page-test, schedule: "0 10 * * 3", timeout: 30m}
tasks:
  tasks:
    - {name: log-review, title: Weekly log review, cron: "0 9 * * 1", due: 2d, owner: alice}
    - {name: access-review, title: Access review, cron: "0 9 * * 1", due: 14d,
       owner: team:platform}
"""
RANGE = {"start": "2026-01-05T00:00:00Z", "end": "2026-01-12T00:00:00Z"}


def seed(ctx: AppContext, sign_in: SignIn) -> httpx.Client:
    client = sign_in("alice", "responder")
    sign_in("bob", "viewer")
    with ctx.sessions() as db:
        apply_tasks(db, PLAN)
        create_team(db, Actor("admin"), "platform")
        add_member(db, Actor("admin"), "platform", "bob")
        db.commit()
    TasksService(ctx.sessions, clock=Clock(MONDAY)).run_once()
    return client


def test_everything_merged_in_one_list(ctx: AppContext, sign_in: SignIn) -> None:
    client = seed(ctx, sign_in)
    resp = client.get("/api/v1/calendar", params=RANGE)
    assert resp.status_code == 200, resp.text
    seen = {(e["kind"], e["title"], e["start"][:16]) for e in resp.json()}
    assert ("task", "Weekly log review (overdue)", "2026-01-05T09:00") in seen
    assert ("release", "api 2.0.0 to production", "2026-01-08T14:00") in seen
    assert ("freeze", "Freeze year-end (all services)", "2025-12-20T00:00") in seen
    assert ("patch_window", "Patch window patching", "2026-01-10T06:00") in seen
    assert ("oncall", "On call: primary (bob)", "2026-01-05T09:00") in seen
    assert ("drill", "Drill page-test", "2026-01-07T10:00") in seen
    kinds = client.get("/api/v1/calendar", params={**RANGE, "kind": "drill"}).json()
    assert {e["kind"] for e in kinds} == {"drill"}
    bad = client.get("/api/v1/calendar", params={**RANGE, "kind": "party"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "kind"


def test_narrowed_to_a_user_or_a_team(ctx: AppContext, sign_in: SignIn) -> None:
    client = seed(ctx, sign_in)
    mine = client.get("/api/v1/calendar", params={**RANGE, "user": "alice"}).json()
    assert {(e["kind"], e["title"]) for e in mine if e["kind"] in ("task", "oncall")} == {
        ("task", "Weekly log review (overdue)"),
        ("oncall", "On call: primary (alice)"),
    }
    team = client.get("/api/v1/calendar", params={**RANGE, "team": "platform"}).json()
    assert {(e["kind"], e["title"]) for e in team if e["kind"] in ("task", "oncall")} == {
        ("task", "Access review (overdue)"),
        ("oncall", "On call: primary (bob)"),
    }
    assert client.get("/api/v1/calendar", params={"user": "nobody"}).status_code == 404


def test_ical_feeds_need_their_signed_url(
    ctx: AppContext, server: LiveServer, sign_in: SignIn
) -> None:
    client = seed(ctx, sign_in)
    bob = sign_in("bob")
    feeds = bob.get("/api/v1/calendar/feeds").json()
    assert set(feeds["teams"]) == {"platform"}
    team = httpx.get(feeds["teams"]["platform"].replace(ctx.settings.base_url, server.url))
    assert team.status_code == 200
    assert team.headers["content-type"].startswith("text/calendar")
    body = team.text
    assert (
        body.startswith("BEGIN:VCALENDAR\r\n")
        and "X-WR-CALNAME:Watchkeeper: platform (team)" in body
    )
    assert "SUMMARY:Access review (planned)" in body  # the feed starts 30 days ago
    assert "Weekly log review" not in body
    user_url = client.get("/api/v1/calendar/feeds").json()["user"]
    mine = httpx.get(user_url.replace(ctx.settings.base_url, server.url))
    assert "SUMMARY:Weekly log review (planned)" in mine.text
    forged = user_url.replace(ctx.settings.base_url, server.url).replace("/alice.ics", "/bob.ics")
    assert httpx.get(forged).status_code == 404
    assert httpx.get(f"{server.url}/calendar/teams/platform.ics").status_code == 404
