"""Hardening pages: every audited host (agents' hosts, this server, the TLS endpoints) with
its hardening index and a trend line, worst first; and one host's latest audit — failed
checks first with their rationale and remediation, then errors, passes and skips — with the
index history drawn by uPlot.

The trend lines are small SVGs drawn here (a page of a hundred hosts needs no script); the
history chart's points are embedded in the page. "Audit now" (admins) queues what the API
queues: the hardening service audits the server and endpoints, an agent its host, within
about a minute; until then the host shows "queued" and its button is disabled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.api.hardening import host_detail, normalise_host
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.security.hardening import audits, runs
from watchkeeper.store.tables import utcnow
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageAdmin = Annotated[SessionInfo, require("admin", page=True)]
HISTORY_DAYS = 365
SPARK_W, SPARK_H = 110, 22
_BACKTICKS = re.compile(r"`([^`]+)`")
KIND_LABELS = {"host": "host", "server": "Watchkeeper server", "endpoint": "TLS endpoint"}
NOTICES = {
    "queued": "Audit queued: the results arrive within about a minute (reload the page).",
    "requested": "Asked the agent to audit: its results arrive within about a minute.",
}


def index_class(index: float | None) -> str:
    """The colour of an index: good from 80, fair from 50."""
    if index is None:
        return "idx-none"
    return "idx-good" if index >= 80 else "idx-fair" if index >= 50 else "idx-poor"


def trend_svg(values: Sequence[float | None]) -> Markup:
    """The recent indexes as a line on a fixed 0-100 scale; gaps where nothing was judged."""
    known = [v for v in values if v is not None]
    if not known:
        return Markup('<span class="muted">–</span>')
    step = (SPARK_W - 4) / max(len(values) - 1, 1)
    runs_: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs_.append([])
            continue
        # A lone audit sits at the right end: the newest.
        x = SPARK_W - 2 if len(values) == 1 else 2 + i * step
        runs_[-1].append(f"{x:.1f},{SPARK_H - 2 - (SPARK_H - 4) * v / 100:.1f}")
    shapes = "".join(
        f'<polyline points="{" ".join(r)}"/>'
        if len(r) > 1
        else f'<circle cx="{r[0].split(",")[0]}" cy="{r[0].split(",")[1]}" r="2.2"/>'
        for r in runs_
        if r
    )
    label = f"index of the last {len(values)} audits: from {known[0]:g} to {known[-1]:g}"
    return Markup(
        f'<svg class="sparkline idx-trend {index_class(known[-1])}" width="{SPARK_W}" '
        f'height="{SPARK_H}" viewBox="0 0 {SPARK_W} {SPARK_H}" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>{shapes}</svg>'
    )


def inline_code(text: str) -> Markup:
    """``text`` escaped, with its `backticked` parts as code (the remediations name
    settings and commands that way)."""
    return Markup(_BACKTICKS.sub(r"<code>\1</code>", str(escape(text))))


def host_href(host: str) -> str:
    return "/security/hardening/" + quote(host, safe="")


def _show_index(index: float | None) -> str:
    return "–" if index is None else f"{index:g}"


_HELPERS: dict[str, Any] = {
    "index_class": index_class,
    "trend_svg": trend_svg,
    "host_href": host_href,
    "show_index": _show_index,
    "inline_code": inline_code,
    "kind_labels": KIND_LABELS,
}


@router.get("/security/hardening")
async def hardening_page(
    request: Request,
    db: Db,
    user: PageUser,
    done: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    found = await run_in_threadpool(runs.summaries, db)
    found.sort(key=lambda s: (s.run.possible == 0, s.run.index, s.run.host))
    judged = [s.run.index for s in found if s.run.possible]
    server = audits.server_host()
    asked = await run_in_threadpool(audits.requests, db, [server, *(s.run.host for s in found)])
    last = {s.run.host: s.run.ran_at for s in found}
    queued = {h for h, at in asked.items() if audits.pending(at, last.get(h))}
    return render(
        request,
        "security_hardening.html",
        hosts=found,
        queued=queued,
        mean=round(sum(judged) / len(judged), 1) if judged else None,
        failing=sum(1 for s in found if s.counts["fail"]),
        server_host=server,
        notice=NOTICES.get(done, ""),
        now=utcnow(),
        active="security",
        here="hardening",
        page_title="Hardening",
        **_HELPERS,
    )


def _host_context(db: Session, host: str) -> dict[str, Any]:
    detail = host_detail(db, host)
    points = runs.history(db, host, since=utcnow() - timedelta(days=HISTORY_DAYS))
    chart = {
        "t": [p.ran_at.timestamp() for p in points],
        "index": [p.index for p in points],
        "points": [p.points for p in points],
        "possible": [p.possible for p in points],
    }
    return {
        "detail": detail,
        "failed": [r for r in detail.results if r.status == "fail"],
        "others": [r for r in detail.results if r.status != "fail"],
        # "</" would end the script element early; "<\/" is the same JSON string.
        "chart": Markup(json.dumps(chart).replace("</", "<\\/")),
        "runs_count": len(points),
    }


@router.get("/security/hardening/{host:path}")
async def hardening_host_page(
    request: Request,
    db: Db,
    user: PageUser,
    host: Annotated[str, Path(max_length=200)],
    done: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    name = normalise_host(host)
    context = await run_in_threadpool(_host_context, db, name)
    return render(
        request,
        "security_hardening_host.html",
        **context,
        kind_label=KIND_LABELS[context["detail"].kind],
        notice=NOTICES.get(done, ""),
        now=utcnow(),
        active="security",
        here="hardening",
        page_title=f"Hardening: {name}",
        assets_charts=True,
        scripts=["js/hardening.js"],
        **_HELPERS,
    )


@router.post("/security/hardening/run")
async def run_now(
    request: Request,
    db: Db,
    user: PageAdmin,
    host: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Audit now, queued: the server and every endpoint (no host), one of them, or an agent's
    host."""
    ctx = get_ctx(request)
    name = normalise_host(host) if host else None
    actor = request_actor(request, user)
    await run_in_threadpool(audits.audit_now, db, ctx.settings, actor, name)
    wake: Callable[[], None] | None = getattr(request.app.state, "wake_hardening", None)
    if wake is not None:
        wake()
    back = host_href(name) if name else "/security/hardening"
    done = "requested" if name and runs.host_kind(name) == "host" else "queued"
    return RedirectResponse(f"{back}?done={done}", status_code=303)
