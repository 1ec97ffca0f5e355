"""Security pages: the vulnerabilities (counts by severity as tiles, then the findings by
host, by package or by severity, and the suppressions), one finding with its OSV record and
a suppress form, and the patch plan board (planned, applied, verified) with the OS updates
each host has available beside it.

Tabs and filters are plain links (``?view=``, ``?status=``): every page works without
scripts. The forms call what the API calls (suppress, remove a suppression, mark applied).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ConflictError, ValidationFailed
from watchkeeper.security import findings as found
from watchkeeper.security import os_updates, patches, suppressions
from watchkeeper.security.config import SEVERITIES
from watchkeeper.security.osv.imports import LastImports, last_imports
from watchkeeper.security.patch_board import list_actions
from watchkeeper.security.section import load_section
from watchkeeper.store.tables import utcnow
from watchkeeper.web.pages import render
from watchkeeper.web.timefmt import span


@dataclass(frozen=True)
class SourceLine:
    """A vulnerability source as the page states it: when its data was last made current."""

    name: str
    ecosystem: str
    imported_at: datetime | None  # finished time of its newest good import
    latest_status: str  # of its newest import ("" when none)


def _source_line(name: str, ecosystem: str, last: LastImports | None) -> SourceLine:
    good = last.good if last is not None else None
    latest = last.latest if last is not None else None
    return SourceLine(
        name,
        ecosystem,
        good.finished_at if good is not None else None,
        latest.status if latest is not None else "",
    )


router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageOperator = Annotated[SessionInfo, require("operator", page=True)]
View = Literal["host", "package", "severity", "suppressions"]
VIEWS: tuple[tuple[View, str], ...] = (
    ("host", "By host"),
    ("package", "By package"),
    ("severity", "By severity"),
    ("suppressions", "Suppressions"),
)
SHOWN = 500  # findings on one page; filter by host or package for the rest
VERIFIED_SHOWN = 20  # the board's verified column: the newest
NOTICES = {
    "suppressed": "Suppression saved: the findings it covers no longer count, alert or plan.",
    "unsuppressed": "Suppression removed: the findings it covered count again.",
    "applied": "Marked applied: the host's next inventory verifies it.",
}


def _pick(value: str | None, allowed: Any, default: str) -> Any:
    return value if value in get_args(allowed) else default


def cvss(score: float | None) -> str:
    return "–" if score is None else f"{score:.1f}"


def age(first_seen: datetime, now: datetime) -> str:
    return span((now - first_seen).total_seconds())


_HELPERS: dict[str, Any] = {"cvss": cvss, "age": age, "severities": SEVERITIES}


# -- vulnerabilities ----------------------------------------------------------------------------


def _findings_context(
    db: Session,
    now: datetime,
    view: View,
    status: found.Status,
    host: str | None,
    package: str | None,
    severity: str | None,
) -> dict[str, Any]:
    section = load_section(db)
    current = found.open_findings(db, section, now)
    summary = found.summarise(current)
    page = found.query(
        db,
        section,
        now,
        host=host,
        package=package,
        severity=severity,
        status=status,
        limit=SHOWN,
    )
    imported = last_imports(db)
    context: dict[str, Any] = {
        "sources": [
            _source_line(s.name, s.ecosystem, imported.get(s.name)) for s in section.sources
        ],
        "summary": summary,
        "listed": page.findings,
        "total": page.total,
        "fix_age": span(section.fix_age.total_seconds()),
    }
    if view in ("host", "package"):
        groups: dict[tuple[str, str], found.Group] = {}
        for f in page.findings:
            key = (f.host, "") if view == "host" else (f.package, f.ecosystem)
            groups.setdefault(key, found.Group(*key)).add(f)
        context["groups"] = found.rank_groups(groups.values())
    every = suppressions.all_suppressions(db, section)
    context["suppressions"] = every
    context["in_force"] = sum(s.active(now) for s in every)
    context["hides"] = suppressions.covering(every, current, now) if view == "suppressions" else {}
    return context


@router.get("/security")
async def vulnerabilities_page(
    request: Request,
    db: Db,
    user: PageUser,
    view: Annotated[str, Query(max_length=16)] = "host",
    status: Annotated[str, Query(max_length=16)] = "open",
    host: Annotated[str | None, Query(max_length=200)] = None,
    package: Annotated[str | None, Query(max_length=255)] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    done: Annotated[str, Query(max_length=32)] = "",
    error: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    now = utcnow()
    chosen: View = _pick(view, View, "host")
    shown_status: found.Status = _pick(status, found.Status, "open")
    sev = severity if severity in SEVERITIES else None
    context = await run_in_threadpool(
        _findings_context, db, now, chosen, shown_status, host or None, package or None, sev
    )
    filters = {
        "status": shown_status,
        "host": host or "",
        "package": package or "",
        "severity": sev or "",
    }
    return render(
        request,
        "security_findings.html",
        view=chosen,
        views=VIEWS,
        filters=filters,
        query=urlencode({k: v for k, v in filters.items() if v and k != "status"}),
        notice=NOTICES.get(done, ""),
        error=error,
        can_suppress=role_allows(user.role, "operator"),
        now=now,
        min_expiry=(now + timedelta(days=1)).date().isoformat(),
        active="security",
        here="findings",
        page_title="Vulnerabilities",
        **context,
        **_HELPERS,
    )


def _finding_context(db: Session, now: datetime, finding_id: int) -> dict[str, Any]:
    section = load_section(db)
    finding = found.get(db, section, now, finding_id)
    action = next(
        (
            a
            for a in list_actions(db, section, now, host=finding.host)
            if a.status in patches.LIVE and any(f.id == finding.id for f in a.findings)
        ),
        None,
    )
    return {
        "f": finding,
        "record": found.record_of(db, finding.vuln_id),
        "elsewhere": found.same_vulnerability(db, section, now, finding),
        "action": action,
        "fix_age": span(section.fix_age.total_seconds()),
    }


async def _finding_page(
    request: Request,
    db: Db,
    user: SessionInfo,
    finding_id: int,
    *,
    error: str = "",
    notice: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    now = utcnow()
    context = await run_in_threadpool(_finding_context, db, now, finding_id)
    f: found.FindingView = context["f"]
    return render(
        request,
        "security_finding.html",
        status=status,
        error=error,
        notice=notice,
        form=form
        or {"vulnerability": f.vuln_id, "package": f.package, "host": f.host, "reason": ""},
        can_suppress=role_allows(user.role, "operator"),
        now=now,
        min_expiry=(now + timedelta(days=1)).date().isoformat(),
        active="security",
        here="findings",
        page_title=f"{f.vuln_id} in {f.package} on {f.host}",
        **context,
        **_HELPERS,
    )


@router.get("/security/findings/{finding_id}")
async def finding_page(
    request: Request,
    db: Db,
    user: PageUser,
    finding_id: Annotated[int, Path(ge=1)],
    done: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    return await _finding_page(request, db, user, finding_id, notice=NOTICES.get(done, ""))


def _expiry(text: str) -> datetime | None:
    """The form's expiry day: the suppression stops applying when that day begins (UTC),
    as a plan suppression's ``expires`` does."""
    if not text.strip():
        return None
    try:
        day = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(
            "expires: not a date", [("expires", f'"{text}" is not a date (2026-12-31)')]
        ) from None
    return day if day.tzinfo else day.replace(tzinfo=UTC)


@router.post("/security/suppressions")
async def suppress(
    request: Request,
    db: Db,
    user: PageOperator,
    vulnerability: Annotated[str, Form(max_length=128)] = "",
    package: Annotated[str, Form(max_length=128)] = "*",
    host: Annotated[str, Form(max_length=128)] = "*",
    reason: Annotated[str, Form(max_length=suppressions.MAX_REASON)] = "",
    expires: Annotated[str, Form(max_length=32)] = "",
    finding: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    """Suppress from a finding's page (``finding``) or the suppressions tab."""
    actor = request_actor(request, user)
    now = utcnow()

    def work() -> None:
        row = suppressions.create(
            db,
            actor,
            vulnerability=vulnerability,
            reason=reason,
            package=package,
            host=host,
            expires_at=_expiry(expires),
            now=now,
        )
        patches.replan_for(db, now, suppressions.of_row(row))
        db.commit()

    try:
        await run_in_threadpool(work)
    except ValidationFailed as exc:
        db.rollback()
        problems = "; ".join(f"{f}: {m}" for f, m in exc.errors) if exc.errors else str(exc)
        if finding:
            form = {"vulnerability": vulnerability, "package": package, "host": host}
            form |= {"reason": reason, "expires": expires}
            return await _finding_page(
                request, db, user, finding, error=problems, form=form, status=422
            )
        return RedirectResponse(
            "/security?" + urlencode({"view": "suppressions", "error": problems[:400]}),
            status_code=303,
        )
    if finding:
        return RedirectResponse(f"/security/findings/{finding}?done=suppressed", status_code=303)
    return RedirectResponse("/security?view=suppressions&done=suppressed", status_code=303)


@router.post("/security/suppressions/{suppression_id}/delete")
async def unsuppress(
    request: Request, db: Db, user: PageOperator, suppression_id: Annotated[int, Path(ge=1)]
) -> Response:
    actor = request_actor(request, user)

    def work() -> None:
        removed = suppressions.delete(db, actor, suppression_id)
        patches.replan_for(db, utcnow(), removed)
        db.commit()

    await run_in_threadpool(work)
    return RedirectResponse("/security?view=suppressions&done=unsuppressed", status_code=303)


# -- the patch plan ------------------------------------------------------------------------------


def _board_context(db: Session, now: datetime) -> dict[str, Any]:
    section = load_section(db)
    actions = list_actions(db, section, now)
    columns = {s: [a for a in actions if a.status == s] for s in patches.STATUSES}
    verified = sorted(columns["verified"], key=lambda a: a.verified_at or now, reverse=True)
    return {
        "columns": [
            ("planned", "Planned", columns["planned"]),
            ("applied", "Applied", columns["applied"]),
            ("verified", "Verified", verified[:VERIFIED_SHOWN]),
        ],
        "counts": {s: len(v) for s, v in columns.items()},
        "patch_windows": section.patch_windows,
        "hosts": os_updates.latest(db),
    }


@router.get("/security/patches")
async def patches_page(
    request: Request,
    db: Db,
    user: PageUser,
    done: Annotated[str, Query(max_length=32)] = "",
    error: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    now = utcnow()
    context = await run_in_threadpool(_board_context, db, now)
    return render(
        request,
        "security_patches.html",
        notice=NOTICES.get(done, ""),
        error=error,
        can_apply=role_allows(user.role, "operator"),
        now=now,
        active="security",
        here="patches",
        page_title="Patch plan",
        **context,
        **_HELPERS,
    )


@router.post("/security/patches/{action_id}/applied")
async def mark_applied(
    request: Request, db: Db, user: PageOperator, action_id: Annotated[int, Path(ge=1)]
) -> Response:
    actor = request_actor(request, user)

    def work() -> None:
        patches.mark_applied(db, actor, action_id, utcnow())
        db.commit()

    try:
        await run_in_threadpool(work)
    except ConflictError as exc:
        db.rollback()
        return RedirectResponse(
            "/security/patches?" + urlencode({"error": str(exc)[:300]}), status_code=303
        )
    return RedirectResponse(f"/security/patches?done=applied#action-{action_id}", status_code=303)
