"""Onboarding pages: "new team member" (``/onboarding`` for the signed-in user, and
``/onboarding/{user}`` for admins): their teams, the on-call schedules and escalation
policies they are part of, their teams' services and those services' runbooks.

The first-run tour card of the home page is ``_onboarding_tour.html``, fed by
``watchkeeper.knowledge.onboarding.first_run_tour`` (see web/plan_home.py). Dismissing it is
remembered per user in the browser's localStorage (``js/onboarding.js``): Watchkeeper has
no per-user preferences in the store.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.knowledge.onboarding import member_overview
from watchkeeper.store.tables import utcnow
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageAdmin = Annotated[SessionInfo, require("admin", page=True)]
Username = Annotated[str, Path(max_length=150)]


def _page(request: Request, db: Db, username: str, *, own: bool) -> Response:
    now = utcnow()
    member = member_overview(db, username, now)
    return render(
        request,
        "onboarding.html",
        member=member,
        own=own,
        now=now,
        active="knowledge",
        page_title="Onboarding" if own else f"Onboarding: {username}",
    )


@router.get("/onboarding")
def my_onboarding(request: Request, db: Db, user: PageUser) -> Response:
    return _page(request, db, user.username, own=True)


@router.get("/onboarding/{username}")
def member_onboarding(request: Request, username: Username, db: Db, user: PageAdmin) -> Response:
    return _page(request, db, username, own=username == user.username)
