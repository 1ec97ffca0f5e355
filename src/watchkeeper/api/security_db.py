"""Vulnerability-database API: the plan's OSV sources with their last import, importing a
source now, one import, one vulnerability record.

Reading needs the viewer role; asking for an import the admin role, audited. An import is
queued, not run in the request: an ``osv_imports`` row with status ``queued``, answered with
202; the replica running the vulnerability-database service (the ``osv`` leader) claims it
within seconds and runs it in that row (poll ``/imports/{id}``). A source's mirror URL is
never returned.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth import audit
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ConflictError
from watchkeeper.security.osv import imports, views
from watchkeeper.security.section import load_section
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1/security", tags=["security"])
Viewer = Annotated[SessionInfo, require("viewer")]
Admin = Annotated[SessionInfo, require("admin")]
SourceName = Annotated[str, Path(max_length=128, description="The source's name in the plan.")]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ImportOut(_Out):
    id: int
    source: str
    ecosystem: str
    status: str = Field(description="queued, running, succeeded, unchanged or failed.")
    trigger: str = Field(description='"schedule" or who asked for it.')
    forced: bool = Field(
        description="Asked with force: a dump that looks suspicious (no records, or lacking "
        "more than half of the source's records) is imported all the same."
    )
    started_at: datetime = Field(description="When it started (queued: when it was asked).")
    finished_at: datetime | None
    records_total: int = Field(description="Records in the dump (0 when unchanged).")
    records_added: int
    records_updated: int
    records_removed: int
    records_skipped: int = Field(description="Records that could not be read (see error).")
    error: str


class SourceOut(_Out):
    name: str
    ecosystem: str
    kind: str = Field(description='"file" or "mirror" (the mirror URL is not shown).')
    path: str = Field(description="The dump's path, for a file source.")
    schedule: str
    next_import: datetime
    timeout_s: float
    in_plan: bool = Field(description="False: removed from the plan, records still stored.")
    records: int = Field(description="Records of this source in the database.")
    last_import: ImportOut | None
    last_good: ImportOut | None = Field(
        description="The newest import that left the data current (succeeded or unchanged): "
        "its finish is the database's import date."
    )


class SourcesOut(BaseModel):
    sources: list[SourceOut]


class AffectedOut(_Out):
    ecosystem: str
    package: str = Field(description="The name as the ecosystem compares names.")
    ranges: list[dict[str, Any]]
    versions: list[str]


class VulnerabilityOut(_Out):
    id: str
    source: str
    modified: datetime
    published: datetime | None
    withdrawn: datetime | None
    summary: str
    aliases: list[str]
    severity: str = Field(description="critical, high, medium, low or unknown.")
    score: float | None = Field(description="CVSS base score, when the record has a vector.")
    affected: list[AffectedOut]
    record: dict[str, Any] = Field(description="The OSV record as imported.")


@router.get("/sources", response_model=SourcesOut, summary="Vulnerability sources and imports")
async def list_sources(db: Db, _: Viewer) -> SourcesOut:
    found = await run_in_threadpool(lambda: views.list_sources(db, load_section(db), utcnow()))
    return SourcesOut(sources=[SourceOut.model_validate(s) for s in found])


@router.post(
    "/sources/{name}/import",
    response_model=ImportOut,
    status_code=202,
    summary="Import a source now (queued, 202)",
    responses={202: {"description": "Queued; poll /api/v1/security/imports/{id}."}},
)
async def import_source(
    request: Request,
    db: Db,
    user: Admin,
    name: SourceName,
    force: Annotated[
        bool,
        Query(
            description="Import the dump even if it looks suspicious: one without records, "
            "or lacking more than half of the source's stored records (which it removes)."
        ),
    ] = False,
) -> JSONResponse:
    actor = request_actor(request, user)

    def work() -> views.ImportView:
        source = views.find_source(load_section(db), name)
        try:
            row = imports.queue_import(
                db,
                source.name,
                source.ecosystem,
                user.username,
                source.timeout,
                utcnow(),
                force=force,
            )
        except imports.ImportInProgress as exc:
            raise ConflictError(str(exc)) from None  # a 409, as every conflict
        audit.record(
            db,
            actor,
            "security.source_import",
            source.name,
            {"import_id": row.id, "force": force},
        )
        db.commit()
        return views.ImportView.of(row)

    queued = await run_in_threadpool(work)
    wake: Callable[[], None] | None = getattr(request.app.state, "wake_osv", None)
    if wake is not None:
        wake()
    return JSONResponse(
        ImportOut.model_validate(queued).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/api/v1/security/imports/{queued.id}"},
    )


@router.get("/imports/{import_id}", response_model=ImportOut, summary="One import")
async def get_import(db: Db, _: Viewer, import_id: Annotated[int, Path(ge=1)]) -> ImportOut:
    return ImportOut.model_validate(await run_in_threadpool(views.get_import, db, import_id))


@router.get(
    "/vulnerabilities/{vuln_id}",
    response_model=VulnerabilityOut,
    summary="One record of the vulnerability database",
)
async def get_vulnerability(
    db: Db,
    _: Viewer,
    vuln_id: Annotated[str, Path(max_length=128, description="OSV id, e.g. GHSA-... or DSA-...")],
) -> VulnerabilityOut:
    found = await run_in_threadpool(views.get_vulnerability, db, vuln_id)
    return VulnerabilityOut.model_validate(found)
