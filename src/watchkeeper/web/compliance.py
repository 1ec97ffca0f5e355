"""Compliance pages: the controls that apply, grouped by framework (status, since, last
pass, the evidence in a sentence, references), a control with its evidence facts and its
status history (a timeline bar over the last 90 days and the changes), and the issued
reports with their downloads and the public key that checks their signatures, "generate
report" (operators) and the check of a report file."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.compliance import issue_report, upload_limit, uploaded, verify_here
from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.security.compliance import report, views
from watchkeeper.security.compliance.signing import (
    SigningKeyError,
    installation_public_key,
    public_text,
)
from watchkeeper.store.tables import utcnow
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageOperator = Annotated[SessionInfo, require("operator", page=True)]
ControlId = Annotated[str, Path(max_length=128)]
HISTORY_DAYS = 90
BAR_UNITS = 1000  # the bar's width in SVG user units; it is stretched to the page's width


def timeline_bar(segments: list[views.Segment], label: str) -> Markup:
    """The statuses over a period as an inline SVG bar, one rect per stretch (coloured by
    CSS class: the page's Content-Security-Policy allows no inline style)."""
    rects, x = [], 0.0
    for seg in segments:
        width = seg.share * BAR_UNITS
        title = escape(
            f"{seg.status} from {seg.start:%Y-%m-%d %H:%M} to {seg.end:%Y-%m-%d %H:%M} UTC"
        )
        rects.append(
            f'<rect x="{x:.2f}" y="0" width="{width:.2f}" height="14" class="seg-{seg.status}">'
            f"<title>{title}</title></rect>"
        )
        x += width
    return Markup(
        f'<svg class="timeline" viewBox="0 0 {BAR_UNITS} 14" preserveAspectRatio="none" '
        f'role="img" aria-label="{escape(label)}">{"".join(rects)}</svg>'
    )


def _page_data(db: Session) -> dict[str, Any]:
    controls = views.list_controls(db)
    key = installation_public_key(db)
    return {
        "groups": views.grouped(controls),
        "counts": views.counts(controls),
        "reports": report.list_reports(db, limit=50),
        "public_key": public_text(key) if key is not None else None,
        "now": utcnow(),
        "params": views.format_params,
    }


def _compliance_page(
    request: Request, db: Session, info: SessionInfo, status: int = 200, **extra: Any
) -> Response:
    data = _page_data(db)
    today = data["now"].date()
    return render(
        request,
        "compliance_controls.html",
        status=status,
        active="compliance",
        page_title="Compliance",
        can_issue=role_allows(info.role, "operator"),
        default_from=(today - timedelta(days=29)).isoformat(),
        default_to=today.isoformat(),
        **data,
        **extra,
    )


@router.get("/compliance")
async def compliance_page(request: Request, db: Db, info: PageUser) -> Response:
    return await run_in_threadpool(_compliance_page, request, db, info)


def _control_data(db: Session, control_id: str) -> dict[str, Any]:
    view = views.get_control(db, control_id)
    now = utcnow()
    start = now - timedelta(days=HISTORY_DAYS)
    in_window = views.history(db, control_id, start, now)
    return {
        "control": view,
        "segments": views.segments(in_window, start, now),
        "bar": timeline_bar(
            views.segments(in_window, start, now), f"Status over the last {HISTORY_DAYS} days"
        ),
        "history": list(reversed(views.history(db, control_id))),
        "window_start": start,
        "now": now,
        "days": HISTORY_DAYS,
        "share": views.share_in,
        "params": views.format_params,
    }


@router.get("/compliance/controls/{control}")
async def control_page(request: Request, db: Db, _: PageUser, control: ControlId) -> Response:
    data = await run_in_threadpool(_control_data, db, control)
    return render(
        request,
        "compliance_control.html",
        active="compliance",
        page_title=f"{data['control'].id} · Compliance",
        **data,
    )


@router.post("/compliance/reports")
async def generate_report(
    request: Request,
    db: Db,
    info: PageOperator,
    start: Annotated[str, Form(alias="from", max_length=20)] = "",
    end: Annotated[str, Form(alias="to", max_length=20)] = "",
) -> Response:
    """Issue a report from the form; back to the page, or the page with the problem."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        problem = "give both days of the period as YYYY-MM-DD"
    else:
        box = get_ctx(request).secret_box
        actor = request_actor(request, info)
        try:
            issued = await run_in_threadpool(issue_report, db, actor, first, last, box)
        except (ValidationFailed, SigningKeyError) as exc:
            problem = str(exc)
        else:
            return RedirectResponse(f"/compliance?issued={issued.id}#reports", status_code=303)
    return await run_in_threadpool(_compliance_page, request, db, info, 422, report_problem=problem)


@router.post("/compliance/reports/verify", dependencies=[Depends(upload_limit)])
async def verify_page(request: Request, db: Db, info: PageUser) -> Response:
    """Check an uploaded report file and show the answer on the page."""
    content = await uploaded(request)
    found = await run_in_threadpool(verify_here, db, content)
    return await run_in_threadpool(_compliance_page, request, db, info, verification=found)
