"""Alerts pages: the list by state (tabs with counts), one alert (labels, history, runbook),
and silences (lists, the new-silence form with a preview of what it would mute)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy.orm import Session

from watchkeeper.alerts import ack, silences, views
from watchkeeper.alerts.matchers import matches
from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ConflictError, NotFoundError
from watchkeeper.incidents.directory import procedures_for_alert
from watchkeeper.incidents.plan import load_incidents
from watchkeeper.knowledge.runbook_links import named_slug
from watchkeeper.knowledge.runbook_refs import runbooks_for
from watchkeeper.notify.views import notifications_for
from watchkeeper.plan.types import parse_duration
from watchkeeper.store.tables import utcnow
from watchkeeper.web.pages import render, templates
from watchkeeper.web.timefmt import ago, form_time, span

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageResponder = Annotated[SessionInfo, require("responder", page=True)]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PER_PAGE = 50
TAB_TITLES = {
    "firing": "Firing",
    "pending": "Pending",
    "silenced": "Silenced",
    "inhibited": "Inhibited",
    "maintenance": "In maintenance",
    "resolved": "Resolved",
}
SILENCE_NOTICES = {
    "created": "Silence created. Matching alerts are muted from its start.",
    "expired": "Silence expired. Alerts it muted notify again if they still fire.",
    "already-expired": "That silence had already expired.",
}
DEFAULT_DURATION = "2h"
# Raw HTML in a runbook is shown as text; links with javascript: and similar are refused.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown(text: str) -> Markup:
    """Render Markdown safely: raw HTML escaped, unsafe link schemes dropped."""
    return Markup(_markdown.render(text))


def safe_url(url: str) -> str:
    """Return ``url`` when it is http(s) or a path on this server, else ""."""
    lowered = url.strip().lower()
    if lowered.startswith(("http://", "https://")) or (
        url.startswith("/") and not url.startswith("//")
    ):
        return url.strip()
    return ""


def format_value(value: float | None) -> str:
    if value is None:
        return "–"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


templates.env.filters.update(ago=ago, markdown=markdown, safe_url=safe_url, value=format_value)


# -- silences (declared before /alerts/{alert_id}) ------------------------------------------


def _matching(db: Session, texts: list[str]) -> list[views.AlertRow]:
    """The pending and firing alerts that ``texts`` match (none when a matcher is bad)."""
    parsed, errors = silences.check_matchers(texts)
    if errors or not parsed:
        return []
    rows = views.list_alerts(db, state="active", per_page=10_000).rows
    return [r for r in rows if matches(r.labels, parsed)]


@router.get("/alerts/silences")
def silences_page(request: Request, db: Db, user: PageUser) -> Response:
    found = silences.list_silences(db, limit=50)
    active = views.list_alerts(db, state="active", per_page=10_000).rows
    muting = {}
    for s in found:
        if s.state != "expired":
            parsed, _ = silences.check_matchers(s.matchers)
            muting[s.id] = sum(1 for a in active if parsed and matches(a.labels, parsed))
    return render(
        request,
        "silences.html",
        groups=[(state, [s for s in found if s.state == state]) for state in silences.STATES],
        muting=muting,
        can_edit=role_allows(user.role, "responder"),
        notice=SILENCE_NOTICES.get(request.query_params.get("done", "")),
        active="alerts",
        page_title="Silences",
    )


def _form_page(
    request: Request,
    db: Db,
    user: SessionInfo,
    form: dict[str, str],
    *,
    status: int = 200,
    errors: list[str] | None = None,
) -> Response:
    texts = form["matchers"].splitlines()
    return render(
        request,
        "silence_new.html",
        status=status,
        form=form,
        errors=errors or [],
        preview=_preview_context(db, texts),
        can_edit=role_allows(user.role, "responder"),
        active="alerts",
        page_title="New silence",
    )


def _preview_context(db: Session, texts: list[str]) -> dict[str, Any]:
    _, problems = silences.check_matchers(texts)
    entered = any(t.strip() for t in texts)
    return {
        "entered": entered,
        "problems": [_line_message(f, m) for f, m in problems] if entered else [],
        "alerts": _matching(db, texts),
    }


def _line_message(field: str, message: str) -> str:
    if field.startswith("matchers["):
        return f"Line {int(field[9:-1]) + 1}: {message}"
    labels = {
        "matchers": "Matchers:",
        "startsAt": "Start:",
        "endsAt": "End:",
        "duration": "Duration:",
        "comment": "Comment:",
        "createdBy": "Author:",
    }
    return f"{labels.get(field, field)} {message}"


@router.get("/alerts/silences/new")
def new_silence_page(
    request: Request,
    db: Db,
    user: PageUser,
    matcher: Annotated[list[str] | None, Query()] = None,
    comment: str = "",
) -> Response:
    form = {
        "matchers": "\n".join(m.strip() for m in matcher or [] if m.strip()),
        "duration": DEFAULT_DURATION,
        "ends_at": "",
        "starts_at": "",
        "comment": comment,
        "created_by": user.username,
    }
    return _form_page(request, db, user, form)


@router.get("/alerts/silences/preview")
def silence_preview(request: Request, db: Db, _: PageUser, matchers: str = "") -> Response:
    """The alerts a silence with ``matchers`` (one per line) would mute (an htmx fragment)."""
    return render(
        request, "_silence_preview.html", preview=_preview_context(db, matchers.splitlines())
    )


@router.post("/alerts/silences")
def create_silence(
    request: Request,
    db: Db,
    user: PageResponder,
    matchers: Annotated[str, Form()] = "",
    duration: Annotated[str, Form()] = "",
    ends_at: Annotated[str, Form()] = "",
    starts_at: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
    created_by: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "matchers": matchers,
        "duration": duration,
        "ends_at": ends_at,
        "starts_at": starts_at,
        "comment": comment,
        "created_by": created_by,
    }
    now = utcnow()
    problems: list[tuple[str, str]] = []
    start = form_time(starts_at, "startsAt", problems) or now
    end = form_time(ends_at, "endsAt", problems)
    if end is None and duration.strip() and not problems:  # an end time wins over the duration
        try:
            end = start + parse_duration(duration.strip())
        except ValueError as exc:
            problems.append(("duration", str(exc)))
    _, found = silences.check_silence(
        matchers.splitlines(),
        starts_at=start,
        ends_at=end,
        comment=comment,
        created_by=created_by or user.username,
        now=now,
    )
    # A bad duration or end time leaves no end: say so once, under its own name.
    problems += [e for e in found if not (problems and e[0] == "endsAt" and end is None)]
    if problems:
        errors = [_line_message(f, m) for f, m in problems]
        return _form_page(request, db, user, form, status=422, errors=errors)
    view = silences.create_silence(
        db,
        _actor(request, user),
        matchers.splitlines(),
        starts_at=start,
        ends_at=end,
        comment=comment,
        created_by=created_by or user.username,
        now=now,
    )
    db.commit()
    return RedirectResponse(f"/alerts/silences?done=created#silence-{view.id}", status_code=303)


@router.post("/alerts/silences/{silence_id}/expire")
def expire_silence(request: Request, silence_id: str, db: Db, user: PageResponder) -> Response:
    try:
        view = silences.expire_silence(db, _actor(request, user), silence_id)
    except ConflictError:
        db.rollback()
        return RedirectResponse("/alerts/silences?done=already-expired", status_code=303)
    db.commit()
    return RedirectResponse(f"/alerts/silences?done=expired#silence-{view.id}", status_code=303)


# -- alerts ------------------------------------------------------------------------------------


@router.get("/alerts")
def alerts_page(
    request: Request,
    db: Db,
    user: PageUser,
    tab: views.Tab = "firing",
    severity: str = "",
    rule: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    result = views.list_alerts(
        db, tab=tab, severity=severity, rule=rule, page=page, per_page=PER_PAGE
    )
    return render(
        request,
        "alerts.html",
        result=result,
        tab=tab,
        tabs=[(t, TAB_TITLES[t]) for t in views.TABS],
        by_severity={g.key: g for g in views.summaries(db, "severity")},
        by_rule=views.summaries(db, "rule"),
        filters={"severity": severity, "rule": rule},
        page=page,
        pages=max(1, -(-result.total // PER_PAGE)),
        can_silence=role_allows(user.role, "responder"),
        active="alerts",
        page_title="Alerts",
    )


@router.post("/alerts/{alert_id}/ack")
def acknowledge_alert(request: Request, alert_id: AlertId, db: Db, user: PageResponder) -> Response:
    try:
        ack.acknowledge(db, _actor(request, user), alert_id)
    except ConflictError:
        db.rollback()
    else:
        db.commit()
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, alert_id: AlertId, db: Db, user: PageUser) -> Response:
    detail = views.get_alert(db, alert_id)
    if detail is None:
        raise NotFoundError(f"no alert {alert_id}")
    alert = detail.alert
    silence_views = []
    if alert.muted == "silenced":
        for sid in alert.muted_by:
            try:
                silence_views.append(silences.get_silence(db, sid))
            except NotFoundError:
                continue
    return render(
        request,
        "alert.html",
        detail=detail,
        alert=alert,
        silences=silence_views,
        notifications=notifications_for(db, alert.fingerprint),
        procedures=procedures_for_alert(db, alert.name, alert.labels),
        runbooks=runbooks_for(
            db,
            alert=alert.name,
            service=alert.labels.get(load_incidents(db).service_label, ""),
        ),
        runbook_slug=named_slug(detail.runbook) if "\n" not in detail.runbook else "",
        can_silence=role_allows(user.role, "responder"),
        duration=_duration(alert),
        active="alerts",
        page_title=alert.name,
    )


def _duration(alert: views.AlertRow) -> str:
    """How long the alert has been (or was) active."""
    return span(((alert.resolved_at or utcnow()) - alert.active_at).total_seconds())
