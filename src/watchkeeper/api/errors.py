"""Error tracking's read API: projects with their DSNs, issues and their latest events; and
making a project (a UI-made object, next to the plan's)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Body, Query, Request

from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.api.problems import problem
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.errors import issue_views, projects, tracker_issue, triage, views
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.incidents.trackers.interface import TrackerError
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1/errors", tags=["errors"])
Viewer = Annotated[SessionInfo, require("viewer")]
Responder = Annotated[SessionInfo, require("responder")]
Operator = Annotated[SessionInfo, require("operator")]


def _base_url(request: Request) -> str:
    return get_ctx(request).settings.public_url or str(request.base_url)


@router.get("/projects", summary="Error-tracking projects with their DSNs and issue counts")
def list_projects(request: Request, db: Db, _: Viewer) -> list[dict[str, Any]]:
    return views.list_projects(db, _base_url(request))


@router.post(
    "/projects",
    status_code=201,
    summary="Make a project (not managed by the plan); the answer holds its DSN",
    description="Fields as in the plan's `errors.projects`: `name` (required), `team`, "
    "`platform`, `rate_limit`, `max_event_size`, `scrub_fields`, `environments`, "
    "`public_key` (generated when left out).",
)
def create_project(
    request: Request, db: Db, user: Operator, spec: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    project = projects.create_project(db, spec, request_actor(request, user))
    db.commit()
    return views.project_view(project, _base_url(request))


@router.get("/issues", summary="Issues, most recently seen first")
def list_issues(
    db: Db,
    _: Viewer,
    project: str = "",
    status: str = "",
    release: Annotated[str, Query(description="Issues with events from this release")] = "",
    assignee: Annotated[str, Query(description="Issues assigned to this user")] = "",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    found = views.list_issues(
        db,
        project=project,
        status=status,
        release=release,
        assignee=assignee,
        page=page,
        per_page=per_page,
    )
    return {
        "total": found.total,
        "page": page,
        "per_page": per_page,
        "issues": issue_views.with_triage(db, found.issues),
    }


@router.get("/issues/{issue_id}", summary="One issue with the releases it was seen in")
def get_issue(issue_id: int, db: Db, _: Viewer) -> dict[str, Any]:
    return issue_views.with_triage(db, [views.get_issue(db, issue_id)])[0]


@router.patch(
    "/issues/{issue_id}",
    summary="Triage an issue: status, assignee, team, ignore until N more events or a date",
    description="Fields (each optional): `status` (unresolved, resolved, "
    'resolved_next_release, ignored), `assignee` (a user name; "" unassigns), `team`, '
    "`ignore_until_count` (ignore until this many more events), `ignore_until` (ignore "
    "until this time, with a time zone). Answers the issue.",
)
def change_issue(
    request: Request,
    issue_id: int,
    db: Db,
    user: Responder,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    change = triage.parse_change(body)
    triage.change_issue(db, issue_id, change, request_actor(request, user), utcnow())
    db.commit()
    return issue_views.with_triage(db, [views.get_issue(db, issue_id)])[0]


@router.get(
    "/issues/{issue_id}/counts",
    summary="The issue's events and new users over time (the issue page's chart)",
)
def issue_counts(
    issue_id: int,
    db: Db,
    _: Viewer,
    span: Annotated[Literal["24h", "14d"], Query(description="24h or 14d")] = "24h",
) -> dict[str, Any]:
    views.get_issue(db, issue_id)  # 404 for an unknown issue
    return issue_views.chart_data(db, issue_id, utcnow(), span)


@router.get(
    "/issues/{issue_id}/events/latest",
    summary="The issue's latest stored event (scrubbed): stack trace, breadcrumbs, tags, "
    "request, user, contexts",
)
def latest_event(issue_id: int, db: Db, _: Viewer) -> dict[str, Any]:
    return views.latest_event(db, issue_id)


@router.post(
    "/issues/{issue_id}/tracker",
    summary="Open an issue for it in a GitHub, GitLab or Jira tracker of the plan",
    description='Body: `{"tracker": "<name>"}`, a tracker of the incidents section. '
    "Answers the issue with its `tracker_issue`; 409 when it has one already, 502 when the "
    "tracker refuses or cannot be reached (nothing is kept then).",
)
async def open_tracker_issue(
    request: Request,
    issue_id: int,
    db: Db,
    user: Operator,
    body: Annotated[dict[str, Any], Body()],
) -> Any:
    name = body.get("tracker")
    if not isinstance(name, str) or not name:
        raise ValidationFailed("invalid request", [("tracker", "give a tracker's name")])
    async with httpx.AsyncClient(headers={"User-Agent": "Watchkeeper"}) as http:
        try:
            await tracker_issue.open_tracker_issue(
                db,
                issue_id,
                name,
                request_actor(request, user),
                http,
                base_url=get_ctx(request).settings.base_url,
            )
        except TrackerError as exc:
            return problem(502, str(exc), title="The tracker failed", instance=request.url.path)
    return issue_views.with_triage(db, [views.get_issue(db, issue_id)])[0]
