"""The DORA page, ``/releases/dora``: the four keys of every service, a team or a service with
their bands, weekly trend charts and a table of the scope's services."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.incidents.figures import parse_when
from watchkeeper.releases import dora, dora_query
from watchkeeper.releases.section import SectionUnreadable
from watchkeeper.store.tables import utcnow
from watchkeeper.web.incident_figures import duration
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
RANGES = (30, 90, 180, 365)  # days offered by the range picker
BAND_TITLES = {"elite": "Elite", "high": "High", "medium": "Medium", "low": "Low"}


def _scope_params(
    scope: str | None, service: str | None, team: str | None
) -> tuple[str | None, str | None]:
    """The service and team asked for: ``scope`` (``service:NAME`` or ``team:NAME``, from the
    selector) wins over ``service``/``team`` (from links)."""
    kind, _, name = (scope or "").partition(":")
    if kind == "service" and name:
        return name, None
    if kind == "team" and name:
        return None, name
    if scope is not None and not name:  # the selector's "all services"
        return None, None
    return service or None, team or None


def per_day(value: float | None) -> str:
    """Return deploys per day for people: "–", "3.2 / day", "1.5 / week", "0.4 / month"."""
    if value is None:
        return "–"
    if value >= 1:
        return f"{value:.1f} / day"
    if value * 7 >= 1:
        return f"{value * 7:.1f} / week"
    return f"{value * 30:.1f} / month"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def tiles(keys: dora.FourKeys) -> list[dict[str, Any]]:
    """Return each key as shown on a tile and by the CLI: title, value, band, detail."""
    f, lt, cf, r = keys.frequency, keys.lead_time, keys.change_failure, keys.restore
    return [
        {
            "key": "deployment_frequency",
            "title": "Deployment frequency",
            "value": per_day(f.per_day),
            "band": f.band,
            "detail": (
                f"{f.deploys} deploy{'s' if f.deploys != 1 else ''} in {f.days:.0f} days · "
                f"{f.weeks_deployed} of {f.weeks} weeks with one"
                if f.days is not None
                else "never deployed to production"
            ),
        },
        {
            "key": "lead_time",
            "title": "Lead time for changes",
            "value": duration(lt.median),
            "band": lt.band,
            "detail": (
                f"median of {lt.commits} commit{'s' if lt.commits != 1 else ''} in "
                f"{lt.deploys} deploy{'s' if lt.deploys != 1 else ''}"
                if lt.commits
                else "no deploy with commit times"
            ),
        },
        {
            "key": "change_failure_rate",
            "title": "Change failure rate",
            "value": percent(cf.rate),
            "band": cf.band,
            "detail": (
                f"{cf.failed} of {cf.deploys} deploy{'s' if cf.deploys != 1 else ''} failed"
                if cf.deploys
                else "no finished deploy"
            ),
        },
        {
            "key": "time_to_restore",
            "title": "Time to restore",
            "value": duration(r.median),
            "band": r.band,
            "detail": (
                f"median of {r.resolved} resolved of {r.incidents} "
                f"incident{'s' if r.incidents != 1 else ''}"
                if r.resolved
                else (
                    f"{r.incidents} incident(s), none resolved" if r.incidents else "no incidents"
                )
            ),
        },
    ]


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _chart(figures: dora_query.Report) -> dict[str, Any]:
    t = figures.trend
    return {
        "start": _epoch(figures.start),
        "end": _epoch(figures.end),
        "t": [_epoch(w) for w in t.weeks],
        "deploys": [{"label": "deploys", "values": t.deploys}],
        "lead_time": [{"label": "median lead time", "values": t.lead_time}],
        "change_failure": [{"label": "change failure rate", "values": t.change_failure}],
        "restore": [{"label": "median time to restore", "values": t.restore}],
    }


@router.get("/releases/dora")
def dora_page(
    request: Request,
    db: Db,
    user: PageUser,
    scope: str | None = None,
    service: str | None = None,
    team: str | None = None,
    days: str | None = None,
    end: str | None = None,
) -> Response:
    chosen = int(days) if days and days.isdigit() and int(days) in RANGES else 90
    window = timedelta(days=chosen)
    wanted_service, wanted_team = _scope_params(scope, service, team)
    now = utcnow()
    problem = ""
    try:
        last = parse_when("end", end, end=True)
    except ValidationFailed as exc:
        problem, last, end = f"{exc} — showing the window up to now instead.", None, None
    try:
        options = dora_query.choices(db)
        try:
            figures = dora_query.report(
                db, now, service=wanted_service, team=wanted_team, window=window, end=last
            )
        except (NotFoundError, ValidationFailed) as exc:
            problem = f"{exc} — showing all services instead."
            figures = dora_query.report(db, now, window=window, end=last)
    except SectionUnreadable as exc:
        return render(
            request,
            "dora.html",
            status=409,
            problem=str(exc),
            figures=None,
            active="releases",
            page_title="DORA metrics",
        )
    current = f"{figures.scope.kind}:{figures.scope.name}" if figures.scope.kind != "all" else ""
    kept: dict[str, str] = {figures.scope.kind: figures.scope.name} if current else {}
    if end:
        kept["end"] = end
    keep = "&" + urlencode(kept) if kept else ""
    return render(
        request,
        "dora.html",
        figures=figures,
        tiles=tiles(figures.keys),
        rows=[(s, tiles(s.keys)) for s in figures.services],
        chart=_chart(figures),
        options=options,
        current=current,
        keep=keep,
        end=end or "",
        days=chosen,
        ranges=RANGES,
        band_titles=BAND_TITLES,
        problem=problem,
        active="releases",
        page_title="DORA metrics",
        assets_charts=True,
        scripts=["js/figures.js"],
    )
