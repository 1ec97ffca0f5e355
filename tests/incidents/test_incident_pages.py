"""The incident page's forms: open a tracker issue and refresh it, actions refused with a
reason, the signed-link page for a forged or expired link (both stores)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from tests.conftest import form_token
from tests.helpers import LiveServer
from tests.incidents.fake_trackers import FakeTrackers
from tests.incidents.test_trackers import add_incident, configure, tracker_specs
from watchkeeper.incidents import links
from watchkeeper.runtime.context import AppContext


def test_open_and_refresh_a_tracker_issue_from_the_page(
    ctx: AppContext, server: LiveServer, admin: httpx.Client
) -> None:
    with FakeTrackers() as fake, ctx.sessions() as db:
        configure(db, tracker_specs(fake))
        incident_id = add_incident(db)
        page = f"/incidents/{incident_id}"
        token = form_token(admin, page)
        opened = admin.post(f"{page}/tracker-issue", data={"csrf_token": token, "tracker": "gh"})
        assert opened.status_code == 303 and opened.headers["location"].endswith("done=tracked")
        shown = admin.get(page).text
        assert "gh #1" in shown and "https://github.com/acme/shop/issues/1" in shown
        link_id = re.search(r"/tracker-issues/(\d+)/sync", shown)
        assert link_id
        fake.github[1]["state"] = "closed"
        admin.post(f"{page}/tracker-issues/{link_id.group(1)}/sync", data={"csrf_token": token})
        assert ">closed<" in admin.get(page).text
        again = admin.post(f"{page}/tracker-issue", data={"csrf_token": token, "tracker": "gh"})
        assert "error=" in again.headers["location"]  # one issue per tracker


def test_refused_actions_say_why(ctx: AppContext, server: LiveServer, admin: httpx.Client) -> None:
    with ctx.sessions() as db:
        incident_id = add_incident(db)
    page = f"/incidents/{incident_id}"
    token = form_token(admin, page)
    bad = admin.post(
        f"{page}/action", data={"csrf_token": token, "action": "link", "url": "javascript:alert(1)"}
    )
    assert "error=" in bad.headers["location"]
    assert "must be an http(s) URL" in admin.get(bad.headers["location"]).text


def test_forged_and_expired_links_are_refused(ctx: AppContext, server: LiveServer) -> None:
    with ctx.sessions() as db:
        incident_id = add_incident(db)
    key = ctx.settings.secret_key()
    expired = links.sign(key, incident_id, "ack", "alice", timedelta(seconds=-1))
    answer = httpx.get(f"{server.url}/i/{expired}")
    assert answer.status_code == 404 and "expired" in answer.text
    forged = links.sign("not the key", incident_id, "ack", "alice", timedelta(hours=1))
    assert httpx.post(f"{server.url}/i/{forged}").status_code == 404
    good = links.sign(key, incident_id, "resolve", "alice", timedelta(hours=1))
    done = httpx.post(f"{server.url}/i/{good}")
    assert done.status_code == 200 and "Resolved as alice" in done.text


def test_start_a_declared_drill_from_its_page(
    ctx: AppContext, server: LiveServer, admin: httpx.Client
) -> None:
    import textwrap

    from watchkeeper.plan.apply import apply_plan
    from watchkeeper.plan.loader import load_plan_text

    with ctx.sessions() as db:
        plan = "incidents:\n  drills: [{name: weekly, schedule: '0 10 * * mon'}]\n"
        apply_plan(db, load_plan_text(textwrap.dedent(plan)))
        db.commit()
    page = admin.get("/incidents/drills").text
    assert "weekly" in page and "0 10 * * mon" in page
    token = form_token(admin, "/incidents/drills")
    started = admin.post("/incidents/drills/weekly/start", data={"csrf_token": token})
    assert started.status_code == 303
    assert "Drill weekly started" in admin.get(started.headers["location"]).text
    assert admin.post("/incidents/drills/nope/start", data={"csrf_token": token}).status_code == 404


def test_a_link_from_before_a_reopen_is_refused(ctx: AppContext, server: LiveServer) -> None:
    from watchkeeper.store.tables import Escalation, utcnow

    with ctx.sessions() as db:
        incident_id = add_incident(db)
        started = utcnow().replace(microsecond=0)
        db.add(
            Escalation(
                incident_id=incident_id,
                policy="p",
                step=1,
                loop=0,
                state="stopped",
                started_at=started,
                next_at=started,
            )
        )
        db.commit()
    key = ctx.settings.secret_key()
    stale = links.sign(
        key,
        incident_id,
        "resolve",
        "alice",
        timedelta(hours=1),
        cycle=int(started.timestamp()) - 600,
    )
    answer = httpx.post(f"{server.url}/i/{stale}")
    assert answer.status_code == 404 and "earlier page" in answer.text
    fresh = links.sign(
        key, incident_id, "resolve", "alice", timedelta(hours=1), cycle=int(started.timestamp())
    )
    assert httpx.post(f"{server.url}/i/{fresh}").status_code == 200
