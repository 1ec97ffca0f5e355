"""The audit log page (admin): filter, read, page back, export and verify the chain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.api.deps import Db, require
from watchkeeper.auth import audit
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.store.tables import AuditEntry
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageAdmin = Annotated[SessionInfo, require("admin", page=True)]
PAGE_SIZE = 50
FILTERS = ("actor", "action", "target", "since", "until")
VALUE_CHARS = 120


def _value(value: Any) -> str:
    """One field value, short enough for a table cell."""
    if value == "":
        return "(empty)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


@dataclass(frozen=True)
class Field:
    """One changed field: ``before``/``after`` are None when it was added/removed."""

    name: str
    before: str | None
    after: str | None


def describe(entry: AuditEntry) -> dict[str, Any]:
    """What the table shows for ``entry``'s detail: changed fields, listed changes (a plan
    apply's), and the remaining facts as (key, value)."""
    detail = dict(entry.detail or {})
    fields: list[Field] = []
    lines: list[str] = []
    changes = detail.pop("changes", None)
    if isinstance(changes, dict):
        for name, change in changes.items():
            if isinstance(change, dict) and change and change.keys() <= {"before", "after"}:
                before, after = change.get("before"), change.get("after")
                fields.append(
                    Field(
                        name,
                        None if before is None else _value(before),
                        None if after is None else _value(after),
                    )
                )
            else:  # masked, or not a before/after pair
                fields.append(Field(name, None, _value(change)))
    elif isinstance(changes, list):
        lines = [_value(c) for c in changes]
    elif changes is not None:
        detail["changes"] = changes
    if isinstance(detail.get("digest"), str):
        detail["digest"] = detail["digest"][:12]
    facts = [(k, _value(v)) for k, v in detail.items() if not (k == "not_listed" and v == 0)]
    return {"fields": fields, "lines": lines, "facts": facts}


def _when(value: str) -> datetime:
    """An ISO date or time from the form; UTC unless it names an offset."""
    parsed = datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _page(
    request: Request,
    db: Db,
    verification: audit.Verification | None = None,
) -> Response:
    params = request.query_params
    form = {k: params.get(k, "").strip() for k in FILTERS}
    errors: list[str] = []
    times: dict[str, datetime | None] = {}
    for key in ("since", "until"):
        try:
            times[key] = _when(form[key]) if form[key] else None
        except ValueError:
            errors.append(f'"{form[key]}" is not a date or time ({key}); use 2025-01-31 12:00')
            times[key] = None
    try:
        before_id = int(params.get("before_id", "") or 0) or None
    except ValueError:
        before_id = None
    rows = (
        []
        if errors
        else audit.search(
            db,
            actor=form["actor"] or None,
            action=form["action"] or None,
            target=form["target"] or None,
            since=times["since"],
            until=times["until"],
            limit=PAGE_SIZE + 1,
            before_id=before_id,
        )
    )
    entries = [(e, describe(e)) for e in rows[:PAGE_SIZE]]
    query = {k: v for k, v in form.items() if v}
    older = (
        "/audit?" + urlencode({**query, "before_id": entries[-1][0].id})
        if len(rows) > PAGE_SIZE
        else None
    )
    return render(
        request,
        "audit.html",
        entries=entries,
        form=form,
        errors=errors,
        filtered=bool(query),
        older=older,
        newest="/audit?" + urlencode(query) if before_id else None,
        export="/api/v1/audit/export" + ("?" + urlencode(query) if query else ""),
        verification=verification,
        active="audit",
        page_title="Audit log",
    )


@router.get("/audit")
def audit_page(request: Request, db: Db, _: PageAdmin) -> Response:
    return _page(request, db)


@router.get("/audit/verify")
def verify_chain(request: Request, db: Db, _: PageAdmin) -> Response:
    """Check the chain: the result alone for htmx, else the page with the result on top."""
    result = audit.verify(db)
    if request.headers.get("hx-request"):
        return render(request, "audit_verify.html", verification=result)
    return _page(request, db, result)
