"""The access review page (admin): every enabled account and live API token with its role,
MFA and last use, stale ones pre-selected; the selected rows are confirmed or revoked in one
submit, and what was done is shown."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as actor
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ConflictError, ValidationFailed
from watchkeeper.store.tables import TaskInstance, utcnow
from watchkeeper.tasks.kinds_access import KIND, review_entries
from watchkeeper.tasks.kinds_access import apply_decisions as apply_review
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageAdmin = Annotated[SessionInfo, require("admin", page=True)]
StaleDays = Annotated[int, Query(ge=1, le=3650)]


def _page(
    request: Request,
    db: Db,
    stale_days: int,
    *,
    applied: list[str] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    now = utcnow()
    entries = review_entries(db, now, timedelta(days=stale_days))
    open_tasks = list(
        db.scalars(
            select(TaskInstance)
            .where(TaskInstance.kind == KIND.name, TaskInstance.status == "open")
            .order_by(TaskInstance.due_at)
            .limit(5)
        )
    )
    return render(
        request,
        "access_review.html",
        status=status,
        entries=entries,
        stale=sum(1 for e in entries if e.stale),
        stale_days=stale_days,
        open_tasks=open_tasks,
        applied=applied or [],
        error=error,
        now=now,
        active="access",
        page_title="Access review",
    )


@router.get("/access-review")
def review_page(request: Request, db: Db, _: PageAdmin, days: StaleDays = 90) -> Response:
    return _page(request, db, days)


@router.post("/access-review")
async def review_submit(request: Request, db: Db, user: PageAdmin) -> Response:
    form = await request.form(max_fields=20_000)
    try:
        days = int(str(form.get("days", "90")))
    except ValueError:
        days = 90
    days = min(max(days, 1), 3650)
    action = str(form.get("action", ""))
    chosen = [str(k) for k in form.getlist("select")]
    if action not in ("confirm", "revoke"):
        return _page(request, db, days, error="choose Confirm or Revoke", status=422)
    if not chosen:
        return _page(request, db, days, error="select at least one row first", status=422)
    try:
        applied = apply_review(
            db, dict.fromkeys(chosen, action), actor(request, user), role=user.role
        )
    except (ValidationFailed, ConflictError) as exc:
        db.rollback()
        return _page(request, db, days, error=str(exc), status=422)
    db.commit()
    return _page(request, db, days, applied=applied)
