"""The on-call page as rendered HTML: without schedules, for a viewer (no form), and the
override form's role and CSRF checks."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import form_token
from tests.incidents.oncall_plan import seed_oncall
from watchkeeper.incidents.overrides import list_overrides
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import utcnow

SignIn = Callable[..., httpx.Client]


def test_without_schedules_the_page_says_where_to_add_them(sign_in: SignIn) -> None:
    page = sign_in("vera", "viewer").get("/oncall")
    assert page.status_code == 200
    assert "no on-call schedules yet" in page.text
    assert "oncall.schedules" in page.text


def test_a_viewer_sees_the_calendar_but_no_override_form(ctx: AppContext, sign_in: SignIn) -> None:
    with ctx.sessions() as db:
        seed_oncall(db, utcnow().date())
        db.commit()
    viewer = sign_in("vera", "viewer")
    page = viewer.get("/oncall", params={"start": "2026-03-23"})
    assert page.status_code == 200
    assert page.text.count('class="oncall-timeline"') == 2
    assert "Calendar, 23 Mar – 05 Apr 2026" in page.text
    assert 'href="?start=2026-03-16"' in page.text and 'href="?start=2026-03-30"' in page.text
    assert 'id="add-override"' not in page.text
    assert "no subscription link for you" in page.text  # vera is not in oncall.people
    # A bad start date falls back to today instead of failing.
    assert viewer.get("/oncall", params={"start": "someday"}).status_code == 200
    refused = viewer.post(
        "/oncall/overrides",
        data={"csrf_token": form_token(viewer, "/oncall"), "schedule": "platform"},
        follow_redirects=False,
    )
    assert refused.status_code == 403


def test_the_override_form_needs_the_csrf_token(ctx: AppContext, sign_in: SignIn) -> None:
    with ctx.sessions() as db:
        seed_oncall(db, utcnow().date())
        db.commit()
    responder = sign_in("rita", "responder")
    form = {
        "schedule": "platform",
        "person": "erin",
        "starts_at": "2030-01-01T09:00",
        "ends_at": "2030-01-01T17:00",
    }
    del responder.headers["X-CSRF-Token"]
    assert responder.post("/oncall/overrides", data=form).status_code == 403
    form["csrf_token"] = form_token(responder, "/oncall")
    done = responder.post("/oncall/overrides", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/oncall?done=added")
    with ctx.sessions() as db:
        (made,) = list_overrides(db, "platform")
    # The form's times are read in the schedule's zone (Berlin: UTC+1 in January).
    assert made.starts_at.isoformat() == "2030-01-01T08:00:00+00:00"
    assert made.created_by == "rita"
