"""Compliance API: the controls that apply with their status and evidence, one control with
its history of status changes, issued reports (issue one, list them, download the signed
HTML or PDF), the public key that checks their signatures, and the verification of a
report file."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.api.ingest import read_body
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.secrets import SecretBox
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError
from watchkeeper.metrics.payload import PayloadTooLarge
from watchkeeper.security.compliance import report, report_verify, views
from watchkeeper.security.compliance.signing import (
    ALGORITHM,
    installation_public_key,
    public_text,
    signing_key,
)
from watchkeeper.store.tables import ComplianceReport, utcnow

router = APIRouter(prefix="/api/v1/compliance", tags=["compliance"])
Viewer = Annotated[SessionInfo, require("viewer")]
Operator = Annotated[SessionInfo, require("operator")]
ControlId = Annotated[str, Path(max_length=128, description="The control's id (its name).")]
ReportId = Annotated[int, Path(ge=1, description="The report's number.")]
MAX_UPLOAD = 20 * 1024 * 1024
MAX_REQUEST = MAX_UPLOAD + 64 * 1024
"""An upload's request: the file plus its multipart framing and the CSRF field."""
TOO_LARGE = "the file is larger than 20 MB: no report is that large"


class FactOut(BaseModel):
    subject: str
    status: str = Field(description="pass, fail or unknown.")
    detail: str


class EvidenceOut(BaseModel):
    query: str = Field(description="The evidence query's name.")
    params: dict[str, Any] = Field(description="Its parameters, as the plan gives them.")
    status: str = Field(description="pass, fail or unknown.")
    summary: str = Field(description="What it found, in a sentence.")
    facts: list[FactOut]


class ControlOut(BaseModel):
    id: str
    title: str
    description: str
    framework: str = Field(description="soc2, iso27001, gdpr, or plan (the plan's own).")
    framework_title: str
    origin: str = Field(description="shipped, replaced (by the plan) or plan.")
    references: list[str] = Field(description="Framework references (SOC 2 CC6.1, ...).")
    owner: str
    status: str = Field(description="pass, fail, unknown, or pending (not evaluated yet).")
    since: datetime | None = Field(description="When it took its current status.")
    last_pass_at: datetime | None = Field(description="The last evaluation it passed.")
    evaluated_at: datetime | None
    summary: str = Field(description="The evidence in a sentence or two.")
    evidence: list[EvidenceOut]


class EventOut(BaseModel):
    at: datetime
    status: str
    summary: str
    evidence: list[EvidenceOut]


class ControlDetailOut(ControlOut):
    history: list[EventOut] = Field(description="Status changes, oldest first (at most 500).")


class ControlsOut(BaseModel):
    controls: list[ControlOut]
    counts: dict[str, int] = Field(description="Controls per status.")


class ReportIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    start: date = Field(alias="from", description="First day of the period (UTC).")
    end: date = Field(alias="to", description="Last day of the period, included (UTC).")


class ReportOut(BaseModel):
    id: int
    title: str
    created_at: datetime
    created_by: str
    period_start: datetime
    period_end: datetime = Field(description="End of the period (excluded).")
    sha256: str = Field(description="SHA-256 of the report's canonical HTML.")
    signature: str = Field(
        description="Ed25519 signature of the report (hex), by this installation."
    )
    public_key: str = Field(description="The Ed25519 public key (hex) that checks it.")
    pdf_sha256: str = Field(description="SHA-256 of the issued PDF.")
    summary: dict[str, int] = Field(description="Controls per status at the end of the period.")
    html_url: str
    pdf_url: str


class ReportsOut(BaseModel):
    reports: list[ReportOut]


class PublicKeyOut(BaseModel):
    algorithm: str = Field(description="Ed25519.")
    public_key: str = Field(
        description="The public key (32 bytes in hex) that checks this installation's reports."
    )


class VerificationOut(BaseModel):
    status: str = Field(description="valid, edited, or unknown (not issued here).")
    reason: str
    report_id: int | None
    format: str = Field(description="html, pdf or unknown.")


def _evidence(items: list[dict[str, Any]]) -> list[EvidenceOut]:
    return [EvidenceOut.model_validate(e) for e in items]


def _control(c: views.ControlView) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "framework": c.framework,
        "framework_title": c.framework_title,
        "origin": c.origin,
        "references": c.references,
        "owner": c.owner,
        "status": c.status,
        "since": c.since,
        "last_pass_at": c.last_pass_at,
        "evaluated_at": c.evaluated_at,
        "summary": c.summary,
        "evidence": _evidence(c.evidence),
    }


def report_out(row: ComplianceReport) -> ReportOut:
    base = f"/api/v1/compliance/reports/{row.id}"
    return ReportOut(
        id=row.id,
        title=row.title,
        created_at=row.created_at,
        created_by=row.created_by,
        period_start=row.period_start,
        period_end=row.period_end,
        sha256=row.sha256,
        signature=row.signature,
        public_key=row.public_key,
        pdf_sha256=row.pdf_sha256,
        summary=dict(row.summary),
        html_url=f"{base}.html",
        pdf_url=f"{base}.pdf",
    )


@router.get("/controls", response_model=ControlsOut)
async def list_controls(
    db: Db,
    _: Viewer,
    framework: Annotated[
        str | None, Query(max_length=32, description="Only this framework's controls.")
    ] = None,
) -> ControlsOut:
    found = await run_in_threadpool(views.list_controls, db, framework)
    return ControlsOut(
        controls=[ControlOut(**_control(c)) for c in found], counts=views.counts(found)
    )


def _detail(db: Session, control_id: str) -> ControlDetailOut:
    view = views.get_control(db, control_id)
    events = views.history(db, control_id)
    return ControlDetailOut(
        **_control(view),
        history=[
            EventOut(at=e.at, status=e.status, summary=e.summary, evidence=_evidence(e.evidence))
            for e in events
        ],
    )


@router.get("/controls/{control}", response_model=ControlDetailOut)
async def get_control(db: Db, _: Viewer, control: ControlId) -> ControlDetailOut:
    return await run_in_threadpool(_detail, db, control)


def issue_report(db: Session, actor: Actor, start: date, end: date, box: SecretBox) -> ReportOut:
    """Issue, sign, store and audit a report (making the installation's signing key the
    first time); return how the API shows it."""
    key = signing_key(db, box, actor)
    row = report.issue(db, actor, start, end, key, utcnow())
    db.commit()
    return report_out(row)


@router.post("/reports", response_model=ReportOut, status_code=201)
async def create_report(request: Request, db: Db, info: Operator, body: ReportIn) -> ReportOut:
    """Issue a signed report for the period (audited); the body is ``{"from": "2026-11-01",
    "to": "2026-11-30"}``."""
    box = get_ctx(request).secret_box
    actor = request_actor(request, info)
    return await run_in_threadpool(issue_report, db, actor, body.start, body.end, box)


@router.get("/reports", response_model=ReportsOut)
async def list_reports(db: Db, _: Viewer) -> ReportsOut:
    rows = await run_in_threadpool(report.list_reports, db)
    return ReportsOut(reports=[report_out(r) for r in rows])


def _download(db: Session, report_id: int, fmt: str) -> Response:
    """The report as a file (read in a worker thread: the bodies are loaded on access)."""
    row = report.get_report(db, report_id)
    name = f"watchkeeper-compliance-report-{row.id}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "pdf":
        return Response(row.pdf, media_type="application/pdf", headers=headers)
    return Response(report.report_html(row), media_type="text/html; charset=utf-8", headers=headers)


@router.get("/reports/{report_id:int}.html")
async def report_html(db: Db, _: Viewer, report_id: ReportId) -> Response:
    """The signed HTML of report ``report_id`` (self-contained: no external asset)."""
    return await run_in_threadpool(_download, db, report_id, "html")


@router.get("/reports/{report_id:int}.pdf")
async def report_pdf(db: Db, _: Viewer, report_id: ReportId) -> Response:
    """The PDF of report ``report_id`` as issued."""
    return await run_in_threadpool(_download, db, report_id, "pdf")


@router.get("/reports/{report_id:int}", response_model=ReportOut)
async def get_report(db: Db, _: Viewer, report_id: ReportId) -> ReportOut:
    row = await run_in_threadpool(report.get_report, db, report_id)
    return report_out(row)


def public_key(db: Session) -> PublicKeyOut:
    """This installation's public key; raise NotFoundError before it has one."""
    key = installation_public_key(db)
    if key is None:
        raise NotFoundError(
            "this installation has no report signing key yet: it is made with the first "
            "report, or by `watchkeeper compliance public-key`"
        )
    return PublicKeyOut(algorithm=ALGORITHM, public_key=public_text(key))


@router.get("/public-key", response_model=PublicKeyOut)
async def get_public_key(db: Db, _: Viewer) -> PublicKeyOut:
    """The public key that checks this installation's report signatures: publish it to
    auditors, who check a report with ``watchkeeper compliance verify FILE --public-key
    KEY``."""
    return await run_in_threadpool(public_key, db)


async def upload_limit(request: Request) -> None:
    """Refuse an upload over the limit before anything reads it (the CSRF check of a form
    reads the form first): 413 when Content-Length says so; 411 for a multipart form
    without one (a raw body is read in bounded chunks instead)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_REQUEST:
        raise HTTPException(413, TOO_LARGE)
    multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
    if multipart and not declared.isdigit():
        raise HTTPException(411, "send the Content-Length of a multipart upload")


async def uploaded(request: Request) -> bytes:
    """The file sent: the ``file`` field of a multipart form, or the raw body; raise 413
    past 20 MB and 422 when there is nothing. Routes calling it depend on
    :func:`upload_limit`, which bounds the multipart request."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=8)
        try:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise HTTPException(422, 'send the report file in the form field "file"')
            content = await part.read(MAX_UPLOAD + 1)
        finally:
            await form.close()  # the uploaded files' spooled temporary files
    else:
        try:
            content = await read_body(request, MAX_UPLOAD)
        except PayloadTooLarge:
            raise HTTPException(413, TOO_LARGE) from None
    if len(content) > MAX_UPLOAD:
        raise HTTPException(413, TOO_LARGE)
    if not content:
        raise HTTPException(422, "send a report file (HTML or PDF) as the body or form field")
    return content


def verify_here(db: Session, content: bytes) -> report_verify.Verification:
    """Check a report file against this installation's key and the reports it issued."""
    return report_verify.verify(content, installation_public_key(db), db)


@router.post(
    "/reports/verify", response_model=VerificationOut, dependencies=[Depends(upload_limit)]
)
async def verify_report(request: Request, db: Db, _: Viewer) -> VerificationOut:
    """Check a report file (HTML or PDF, the raw body or the multipart field ``file``, at
    most 20 MB) against this installation's signing key and the reports it issued: valid,
    edited or unknown."""
    content = await uploaded(request)
    found = await run_in_threadpool(verify_here, db, content)
    return VerificationOut(
        status=found.status, reason=found.reason, report_id=found.report_id, format=found.format
    )
