"""Error-tracking pages: the issues with their filters, counts, sparklines and badges
(``/errors``), and one issue with its chart, releases, latest event and triage
(``/errors/issues/{id}``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy import select

from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.errors import issue_views, tracker_issue, triage, views
from watchkeeper.errors.projects import sync_projects
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.incidents.plan import load_incidents
from watchkeeper.incidents.trackers.interface import TrackerError
from watchkeeper.store.tables import ErrorEvent, ErrorIssue, User, utcnow
from watchkeeper.web.pages import render, render_error

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageResponder = Annotated[SessionInfo, require("responder", page=True)]
PageOperator = Annotated[SessionInfo, require("operator", page=True)]
PER_PAGE = 50
STATUS_LABELS = {
    "unresolved": "unresolved",
    "resolved": "resolved",
    "resolved_next_release": "resolved in next release",
    "ignored": "ignored",
}
BAR_W, BAR_GAP, BAR_H = 3, 1, 18


def spark_bars(values: Sequence[int], times: Sequence[int], step: int) -> Markup:
    """Events per step as bars (inline SVG: a list of fifty issues needs no script)."""
    top = max(values, default=0)
    width = len(values) * (BAR_W + BAR_GAP)
    rects = []
    for i, (n, t) in enumerate(zip(values, times, strict=True)):
        height = 1 if n == 0 else max(2, round(BAR_H * n / top))
        at = datetime.fromtimestamp(t, UTC)
        label = escape(f"{at:%Y-%m-%d %H:%M} UTC, {step // 3600} h: {n} event(s)")
        rects.append(
            f'<rect x="{i * (BAR_W + BAR_GAP)}" y="{BAR_H - height}" width="{BAR_W}" '
            f'height="{height}" class="{"some" if n else "none"}"><title>{label}</title></rect>'
        )
    total = sum(values)
    return Markup(
        f'<svg class="error-spark" width="{width}" height="{BAR_H}" '
        f'viewBox="0 0 {width} {BAR_H}" role="img" aria-label="{total} event(s)">'
        f"{''.join(rects)}</svg>"
    )


def _filters_context(db: Db) -> dict[str, Any]:
    _, projects = sync_projects(db)
    db.commit()
    users = list(
        db.scalars(select(User.username).where(User.disabled.is_(False)).order_by(User.username))
    )
    return {"projects": sorted(p.name for p in projects), "users": users}


@router.get("/errors")
def errors_page(
    request: Request,
    db: Db,
    _: PageUser,
    project: str = "",
    status: str = "unresolved",
    release: str = "",
    assignee: str = "",
    span: str = "24h",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    span = span if span in issue_views.SPANS else "24h"
    wanted = "" if status == "all" else status
    try:
        found = views.list_issues(
            db,
            project=project,
            status=wanted,
            release=release,
            assignee=assignee,
            page=page,
            per_page=PER_PAGE,
        )
    except (NotFoundError, ValidationFailed) as exc:
        return render_error(request, 404 if isinstance(exc, NotFoundError) else 422, str(exc))
    issues = issue_views.with_triage(db, found.issues)
    now = utcnow()
    length, step = issue_views.SPANS[span]
    counts = issue_views.series(db, [i["id"] for i in issues], now, length, step)
    for issue in issues:
        data = counts[issue["id"]]
        issue["spark"] = spark_bars(data.events, data.t, step)
        issue["span_events"] = sum(data.events)
    filters = {"project": project, "release": release, "assignee": assignee}
    return render(
        request,
        "errors.html",
        issues=issues,
        total=found.total,
        page=page,
        pages=max(1, -(-found.total // PER_PAGE)),
        filters=filters,
        status_filter=status,
        span=span,
        statuses=STATUS_LABELS,
        now=now,
        **_filters_context(db),
    )


def _issue_page(
    request: Request, db: Db, user: SessionInfo, issue_id: int, problems: list[tuple[str, str]]
) -> Response:
    try:
        issue = issue_views.with_triage(db, [views.get_issue(db, issue_id)])[0]
    except NotFoundError as exc:
        return render_error(request, 404, str(exc))
    latest = db.scalar(
        select(ErrorEvent)
        .where(ErrorEvent.issue_id == issue_id)
        .order_by(ErrorEvent.id.desc())
        .limit(1)
    )
    event = views.event_view(latest) if latest is not None else None
    shown = issue_views.event_display(event["event"]) if event else None
    return render(
        request,
        "error_issue.html",
        status=422 if problems else 200,
        issue=issue,
        event=event,
        shown=shown,
        statuses=STATUS_LABELS,
        problems=problems,
        can_triage=role_allows(user.role, "responder"),
        can_open_tracker=role_allows(user.role, "operator"),
        trackers=[
            t.name for t in load_incidents(db).trackers if t.type in tracker_issue.TRACKER_TYPES
        ],
        done=request.query_params.get("done", ""),
        now=utcnow(),
        assets_charts=True,
        **_filters_context(db),
    )


@router.get("/errors/issues/{issue_id}")
def issue_page(request: Request, issue_id: int, db: Db, user: PageUser) -> Response:
    return _issue_page(request, db, user, issue_id, [])


def _form_change(
    status: str, assignee: str | None, team: str | None, count: str, until: str
) -> dict[str, Any]:
    """The form's fields as the API's change: empty ignore fields are left out; a date
    alone means its midnight UTC."""
    body: dict[str, Any] = {}
    if status:
        body["status"] = status
    if assignee is not None:
        body["assignee"] = assignee
    if team is not None:
        body["team"] = team
    if status == "ignored" and count.strip():
        body["ignore_until_count"] = count.strip()
    if status == "ignored" and until.strip():
        try:
            day = datetime.strptime(until.strip(), "%Y-%m-%d").date()
        except ValueError:
            raise ValidationFailed(
                "invalid issue change", [("ignore_until", "give a date as YYYY-MM-DD")]
            ) from None
        body["ignore_until"] = datetime.combine(day, time(0, 0), UTC)
    return body


@router.post("/errors/issues/{issue_id}")
def triage_issue(
    request: Request,
    issue_id: int,
    db: Db,
    user: PageResponder,
    status: Annotated[str, Form()] = "",
    assignee: Annotated[str | None, Form()] = None,
    team: Annotated[str | None, Form()] = None,
    ignore_until_count: Annotated[str, Form()] = "",
    ignore_until: Annotated[str, Form()] = "",
) -> Response:
    if db.get(ErrorIssue, issue_id) is None:
        return render_error(request, 404, f"no error issue {issue_id}")
    try:
        body = _form_change(status, assignee, team, ignore_until_count, ignore_until)
        change = triage.parse_change(body)
        triage.change_issue(db, issue_id, change, request_actor(request, user), utcnow())
    except ValidationFailed as exc:
        db.rollback()
        return _issue_page(request, db, user, issue_id, exc.errors or [("", str(exc))])
    db.commit()
    return RedirectResponse(f"/errors/issues/{issue_id}?done=saved", status_code=303)


@router.post("/errors/issues/{issue_id}/tracker")
async def open_tracker_issue(
    request: Request,
    issue_id: int,
    db: Db,
    user: PageOperator,
    tracker: Annotated[str, Form()] = "",
) -> Response:
    async with httpx.AsyncClient(headers={"User-Agent": "Watchkeeper"}) as http:
        try:
            await tracker_issue.open_tracker_issue(
                db,
                issue_id,
                tracker,
                request_actor(request, user),
                http,
                base_url=get_ctx(request).settings.base_url,
            )
        except NotFoundError as exc:
            return render_error(request, 404, str(exc))
        except (ConflictError, TrackerError) as exc:
            return _issue_page(request, db, user, issue_id, [("tracker", str(exc))])
    return RedirectResponse(f"/errors/issues/{issue_id}?done=tracker", status_code=303)
