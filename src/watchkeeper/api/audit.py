"""The audit trail (admin): search it, export it as JSON lines, verify its hash chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.auth import audit
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.store.tables import AuditEntry

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Admin = Annotated[SessionInfo, require("admin")]
PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


def as_utc(value: datetime | None) -> datetime | None:
    """Times without an offset are UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class AuditFilters(BaseModel):
    """Which entries to show; every filter is optional."""

    actor: str | None = Field(None, description="Exactly this actor (user name, plan, cli…).")
    action: str | None = Field(None, description='Actions starting with this, e.g. "login".')
    target: str | None = Field(None, description='Targets containing this, e.g. "checks/".')
    since: datetime | None = Field(None, description="At or after this time (UTC if no offset).")
    until: datetime | None = Field(None, description="Before this time (UTC if no offset).")

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "actor": self.actor or None,
            "action": self.action or None,
            "target": self.target or None,
            "since": as_utc(self.since),
            "until": as_utc(self.until),
        }


Filters = Annotated[AuditFilters, Depends()]


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    client_addr: str
    action: str
    target: str
    detail: dict[str, Any] = Field(description="What changed; secrets are masked.")
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls(
            id=e.id,
            at=e.at,
            actor=e.actor,
            client_addr=e.client_addr,
            action=e.action,
            target=e.target,
            detail=e.detail,
            prev_hash=e.prev_hash,
            hash=e.hash,
        )


class AuditPage(BaseModel):
    entries: list[AuditEntryOut] = Field(description="Newest first.")
    next_before_id: int | None = Field(
        description="Pass as before_id for the next (older) page; null on the last page."
    )


class VerifyOut(BaseModel):
    ok: bool
    checked: int = Field(description="Entries found intact (before the bad one, if any).")
    bad_id: int | None = Field(description="The first entry that does not verify.")
    reason: str


@router.get("", response_model=AuditPage, summary="Search the audit trail, newest first")
def list_entries(
    db: Db,
    _: Admin,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
    before_id: Annotated[int | None, Query(ge=1, description="Entries older than this.")] = None,
) -> AuditPage:
    rows = audit.search(db, **filters.as_kwargs(), limit=limit + 1, before_id=before_id)
    page = rows[:limit]
    return AuditPage(
        entries=[AuditEntryOut.of(e) for e in page],
        next_before_id=page[-1].id if len(rows) > limit else None,
    )


@router.get(
    "/export",
    summary="Export the audit trail as JSON lines, oldest first",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def export(request: Request, _: Admin, filters: Filters) -> StreamingResponse:
    sessions = get_ctx(request).sessions
    kwargs = filters.as_kwargs()

    def lines() -> Iterator[str]:
        # Its own session: the request's may be closed before the body has been streamed.
        with sessions() as db:
            yield from audit.as_json_lines(audit.entries(db, **kwargs))

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": f'attachment; filename="watchkeeper-audit-{stamp}.jsonl"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/verify", response_model=VerifyOut, summary="Check the audit trail's hash chain")
def verify(db: Db, _: Admin) -> VerifyOut:
    result = audit.verify(db)
    return VerifyOut(
        ok=result.ok,
        checked=result.checked,
        bad_id=result.bad_id,
        reason=result.reason or "chain intact",
    )
