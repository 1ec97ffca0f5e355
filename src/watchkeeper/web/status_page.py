"""Public status pages: ``/status/<name>`` (HTML) and ``/status/<name>.json``.

No sign-in, no session, no link into the app: the page shows only what
``incidents.statuspage.page_view`` puts in its public tree. Responses may be cached for 30
seconds by browsers and proxies (the security headers of the app still apply).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from watchkeeper.api.deps import Db
from watchkeeper.api.problems import problem
from watchkeeper.exceptions import NotFoundError
from watchkeeper.incidents import statuspage
from watchkeeper.store.tables import utcnow
from watchkeeper.web.pages import templates

router = APIRouter(include_in_schema=False)
CACHE_CONTROL = "public, max-age=30"
STATUS_LABELS = {
    "operational": "Operational",
    "maintenance": "Maintenance",
    "degraded": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
}


def _utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else ""


def _span(start: datetime, end: datetime) -> str:
    """A maintenance window for people: "2026-03-01 02:00 – 04:00 UTC"."""
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M} – {end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


templates.env.filters.update(public_utc=_utc, public_label=lambda s: STATUS_LABELS.get(s, s))
templates.env.globals.update(public_span=_span)


def feed(view: statuspage.PublicPage) -> dict[str, Any]:
    """The JSON feed of a page: the public tree, times in ISO 8601. Every key is listed in
    tests/incidents/test_statuspage.py (FEED_KEYS); a new one must be public and added there."""

    def when(t: datetime | None) -> str | None:
        return t.isoformat() if t is not None else None

    def incident(i: statuspage.PublicIncident) -> dict[str, Any]:
        return {
            "title": i.title,
            "status": i.status,
            "impact": i.impact,
            "started_at": when(i.started_at),
            "resolved_at": when(i.resolved_at),
            "components": list(i.components),
            "updates": [{"at": when(u.at), "status": u.status, "body": u.body} for u in i.updates],
        }

    return {
        "page": {"name": view.name, "title": view.title},
        "status": view.status,
        "status_text": view.status_text,
        "generated_at": when(view.generated_at),
        "groups": [
            {
                "name": g.name,
                "status": g.status,
                "components": [{"name": c.name, "status": c.status} for c in g.components],
            }
            for g in view.groups
        ],
        "incidents": [incident(i) for i in view.incidents],
        "maintenance": [
            {
                "title": m.title,
                "body": m.body,
                "status": m.status,
                "starts_at": when(m.starts_at),
                "ends_at": when(m.ends_at),
                "components": list(m.components),
            }
            for m in view.maintenance
        ],
        "history": [incident(i) for i in view.history],
    }


# The .json route comes first: "/status/{name}" would take "public.json" as a name.
@router.get("/status/{name}.json")
def status_feed(request: Request, name: str, db: Db) -> Response:
    try:
        view = statuspage.page_view(db, name, utcnow())
    except NotFoundError as exc:
        return problem(404, str(exc), instance=request.url.path)
    return JSONResponse(feed(view), headers={"Cache-Control": CACHE_CONTROL})


@router.get("/status/{name}")
def status_html(request: Request, name: str, db: Db) -> Response:
    now = utcnow()
    try:
        view = statuspage.page_view(db, name, now)
    except NotFoundError:
        response = templates.TemplateResponse(
            request, "status_page.html", {"page": None, "now": now}, status_code=404
        )
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response
    response = templates.TemplateResponse(
        request, "status_page.html", {"page": view, "now": now, "feed": f"{name}.json"}
    )
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
