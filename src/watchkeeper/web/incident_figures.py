"""Incident figures pages: MTTA and MTTR (cards, charts per week or day, one line per team,
service or severity, and a table), and the drills report (runs, time to acknowledge)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.incidents import figures
from watchkeeper.incidents.plan import load_incidents
from watchkeeper.store.tables import utcnow
from watchkeeper.web.pages import render, templates

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
RANGES = (30, 90, 180, 365)  # days offered by the range picker
GROUPINGS = (("", "All"), ("team", "Team"), ("service", "Service"), ("severity", "Severity"))
EMPTY_KEY = {"team": "(no team)", "service": "(no service)", "severity": "(none)"}


def duration(seconds: float | None) -> str:
    """Return a time for people: "–", "45 s", "12.5 min", "3.2 h", "2.1 d"."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{round(seconds)} s"
    if seconds < 3600:
        minutes = seconds / 60
        return f"{minutes:.1f} min" if minutes < 10 else f"{round(minutes)} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


templates.env.filters["figure_time"] = duration


def _range(
    days: str | None, start: str | None, end: str | None
) -> tuple[datetime, datetime, int | None, str]:
    """The range the query asks for: ``start``/``end`` when given, else the last ``days``
    (one of RANGES; default 90); and the problem with it ("" when none)."""
    now = utcnow()
    chosen = int(days) if days and days.isdigit() and int(days) in RANGES else None
    if start or end:
        try:
            first, last = figures.window(
                figures.parse_when("start", start), figures.parse_when("end", end, end=True), now
            )
            return first, last, None, ""
        except ValidationFailed as exc:
            problem = f"{exc} — showing the last {figures.DEFAULT_DAYS} days instead."
            return now - timedelta(days=figures.DEFAULT_DAYS), now, figures.DEFAULT_DAYS, problem
    span = chosen or figures.DEFAULT_DAYS
    return now - timedelta(days=span), now, span, ""


def _label(key: str, by: figures.GroupBy | None) -> str:
    if by is None:
        return "All incidents"
    return key or EMPTY_KEY[by]


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@router.get("/incidents/figures")
def figures_page(
    request: Request,
    db: Db,
    user: PageUser,
    days: str | None = None,
    start: str | None = None,
    end: str | None = None,
    by: str | None = None,
    bucket: str | None = None,
) -> Response:
    first, last, chosen, problem = _range(days, start, end)
    try:
        grouping = figures.check_by(by)
    except ValidationFailed:
        grouping = None
    try:
        size = figures.check_bucket(bucket)
    except ValidationFailed:
        size = "week"
    totals = figures.summary(db, first, last, grouping)
    lines = figures.series(db, first, last, size, grouping)
    times = [_epoch(b) for b in lines.buckets]
    chart: dict[str, Any] = {
        "start": _epoch(first),
        "end": _epoch(last),
        "t": times,
        "mtta": [{"label": _label(g.key, grouping), "values": g.mtta} for g in lines.groups],
        "mttr": [{"label": _label(g.key, grouping), "values": g.mttr} for g in lines.groups],
    }
    return render(
        request,
        "incident_figures.html",
        totals=totals,
        groups=[(_label(s.key, grouping), s) for s in totals.groups],
        chart=chart,
        by=grouping or "",
        bucket=size,
        days=chosen,
        ranges=RANGES,
        groupings=GROUPINGS,
        first=first,
        last=last,
        problem=problem,
        active="incidents",
        page_title="Incident figures",
        assets_charts=True,
        scripts=["js/figures.js"],
    )


@router.get("/incidents/drills")
def drills_page(
    request: Request,
    db: Db,
    user: PageUser,
    days: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Response:
    first, last, chosen, problem = _range(days, start, end)
    report = figures.drill_report(db, first, last)
    names = [d.name for d in report.drills]
    times = [_epoch(r.started_at) for r in report.runs]
    per_name: dict[str, list[float | None]] = {n: [None] * len(times) for n in names}
    for i, run in enumerate(report.runs):
        per_name[run.name][i] = run.time_to_ack
    chart: dict[str, Any] = {
        "start": _epoch(first),
        "end": _epoch(last),
        "t": times,
        "points": True,
        "tta": [{"label": n, "values": per_name[n]} for n in names],
    }
    missed = [0.0 if r.result == "missed" else None for r in report.runs]
    if any(v is not None for v in missed):
        chart["tta"].append({"label": "missed", "values": missed, "color": "--err", "marks": True})
    return render(
        request,
        "incident_drills.html",
        report=report,
        runs=list(reversed(report.runs)),  # newest first in the table
        chart=chart,
        days=chosen,
        ranges=RANGES,
        first=first,
        last=last,
        problem=problem,
        declared=load_incidents(db).drills,
        can_start=role_allows(user.role, "responder"),
        notice=request.query_params.get("started", ""),
        active="incidents",
        page_title="Drills",
        assets_charts=True,
        scripts=["js/figures.js"],
    )
