"""Security API: vulnerability findings (filtered, paged), their counts, one finding with
its OSV record, suppressions (list, create, delete), the patch plan (and marking an action
applied) and the OS updates each host has available.

Reading needs the viewer role; suppressing, deleting a suppression and marking a patch
applied the operator role, each written to the audit trail. A suppression or its removal
refreshes the patch plan at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError
from watchkeeper.security import findings as found
from watchkeeper.security import os_updates, patches, suppressions
from watchkeeper.security.patch_board import ActionView, get_action, list_actions
from watchkeeper.security.section import load_section
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1/security", tags=["security"])
Viewer = Annotated[SessionInfo, require("viewer")]
Operator = Annotated[SessionInfo, require("operator")]
Severity = Literal["critical", "high", "medium", "low", "unknown"]
FindingStatus = Literal["open", "suppressed", "resolved"]
PatchStatus = Literal["planned", "applied", "verified", "obsolete"]
HostQuery = Annotated[str | None, Query(max_length=200, description="Host name.")]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SuppressionOut(_Out):
    id: str = Field(description='The row id, or the plan suppression\'s name ("plan" source).')
    source: Literal["plan", "api"]
    vulnerability: str = Field(description="OSV id or alias glob.")
    package: str
    hosts: list[str]
    reason: str
    actor: str = Field(description='Who made it ("plan" for the plan\'s).')
    created_at: datetime | None
    expires_at: datetime | None
    active: bool = Field(description="False once expired.")
    findings: int | None = Field(
        description="Findings it hides now (counted in the suppression list only)."
    )


class VulnFindingOut(_Out):
    id: int
    host: str
    ecosystem: str
    location: str = Field(description="Where the package is: venv, lock file, dpkg.")
    package: str
    version: str = Field(description="The installed version.")
    vuln_id: str
    aliases: list[str]
    summary: str
    severity: str = Field(description="critical, high, medium, low or unknown.")
    score: float | None = Field(description="CVSS base score, when the record has one.")
    fixed_version: str = Field(description='The version that fixes it ("" when none).')
    fix_available: bool
    first_seen: datetime
    last_seen: datetime
    fix_seen: datetime | None = Field(description="When a fix was first seen available.")
    resolved_at: datetime | None
    age_s: float = Field(description="Seconds since first seen (until resolved).")
    status: str = Field(description="open, suppressed or resolved.")
    overdue: bool = Field(description="Open with a fix available longer than fix_age.")
    suppression: SuppressionOut | None


class FindingsOut(BaseModel):
    total: int = Field(description="Findings matching the filters, on every page.")
    findings: list[VulnFindingOut]


class ReferenceOut(_Out):
    type: str
    url: str


class RecordOut(_Out):
    id: str
    summary: str
    details: str
    aliases: list[str]
    published: datetime | None
    modified: datetime
    withdrawn: datetime | None
    severity: str
    score: float | None
    vectors: list[str] = Field(description="The record's severity vectors (CVSS strings).")
    references: list[ReferenceOut]


class FindingDetailOut(BaseModel):
    finding: VulnFindingOut
    record: RecordOut | None = Field(description="The OSV record (None once removed).")
    elsewhere: list[VulnFindingOut] = Field(description="The same vulnerability elsewhere.")


class FindingGroupOut(BaseModel):
    name: str
    ecosystem: str = Field(description="For packages: their ecosystem.")
    total: int
    worst: str = Field(description="The worst severity among them.")
    by_severity: dict[str, int]
    fixable: int
    overdue: int
    hosts: int
    packages: int


class FindingSummaryOut(BaseModel):
    open: int = Field(description="Open findings (neither resolved nor suppressed).")
    by_severity: dict[str, int]
    suppressed: int
    fixable: int = Field(description="Open findings with a fixed version available.")
    overdue: int
    hosts: list[FindingGroupOut]
    packages: list[FindingGroupOut]


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vulnerability: str = Field(
        min_length=1, max_length=128, description="OSV id or alias; globs allowed (`GHSA-*`)."
    )
    package: str = Field("*", min_length=1, max_length=128, description="Package glob.")
    host: str = Field("*", min_length=1, max_length=128, description="Host name glob.")
    reason: str = Field(min_length=1, max_length=suppressions.MAX_REASON, description="Why.")
    expires_at: datetime | None = Field(
        None, description="When it stops applying (UTC unless an offset; a date is its start)."
    )


class PatchFindingOut(_Out):
    vuln_id: str
    severity: str
    score: float | None
    fixed_version: str
    summary: str


class ActionOut(BaseModel):
    id: int
    title: str = Field(description="upgrade X a → b fixes N vulnerabilities")
    host: str
    ecosystem: str
    location: str
    package: str
    from_version: str
    to_version: str = Field(description='"" while no release fixes them.')
    vulns: list[str]
    severity: str = Field(description="The worst severity of its vulnerabilities.")
    score: float | None = Field(description="The highest CVSS score of its open findings.")
    exposed: bool = Field(description="The host matches security.exposed_hosts.")
    rank: float = Field(description="Higher first.")
    status: str = Field(description="planned, applied, verified or obsolete.")
    window: str = Field(description="The patch window it is planned into.")
    scheduled_for: datetime | None
    created_at: datetime
    updated_at: datetime
    applied_at: datetime | None
    applied_by: str
    verified_at: datetime | None
    findings: list[PatchFindingOut]


class ActionsOut(BaseModel):
    actions: list[ActionOut]


class OsUpdateOut(_Out):
    name: str
    installed: str
    candidate: str
    origin: str
    security: bool


class HostUpdatesOut(BaseModel):
    host: str
    collected_at: datetime
    count: int
    security_count: int
    updates: list[OsUpdateOut]


class OsUpdatesOut(BaseModel):
    hosts: list[HostUpdatesOut]


def suppression_out(
    s: suppressions.Suppression, now: datetime, hidden: int | None
) -> SuppressionOut:
    return SuppressionOut(
        id=s.key,
        source=s.source,
        vulnerability=s.vulnerability,
        package=s.package,
        hosts=list(s.hosts),
        reason=s.reason,
        actor=s.actor,
        created_at=s.created_at,
        expires_at=s.expires_at,
        active=s.active(now),
        findings=hidden,
    )


def finding_out(f: found.FindingView, now: datetime) -> VulnFindingOut:
    return VulnFindingOut(
        id=f.id,
        host=f.host,
        ecosystem=f.ecosystem,
        location=f.location,
        package=f.package,
        version=f.version,
        vuln_id=f.vuln_id,
        aliases=f.aliases,
        summary=f.summary,
        severity=f.severity,
        score=f.score,
        fixed_version=f.fixed_version,
        fix_available=f.fix_available,
        first_seen=f.first_seen,
        last_seen=f.last_seen,
        fix_seen=f.fix_seen,
        resolved_at=f.resolved_at,
        age_s=f.age_s(now),
        status=f.status,
        overdue=f.overdue,
        suppression=suppression_out(f.suppression, now, None) if f.suppression else None,
    )


def _group_out(g: found.Group) -> FindingGroupOut:
    return FindingGroupOut(
        name=g.name,
        ecosystem=g.ecosystem,
        total=g.total,
        worst=g.worst,
        by_severity=g.by_severity,
        fixable=g.fixable,
        overdue=g.overdue,
        hosts=len(g.hosts),
        packages=len(g.packages),
    )


def action_out(a: ActionView) -> ActionOut:
    return ActionOut(
        id=a.id,
        title=a.title,
        host=a.host,
        ecosystem=a.ecosystem,
        location=a.location,
        package=a.package,
        from_version=a.from_version,
        to_version=a.to_version,
        vulns=a.vulns,
        severity=a.severity,
        score=a.score,
        exposed=a.exposed,
        rank=a.rank,
        status=a.status,
        window=a.window,
        scheduled_for=a.scheduled_for,
        created_at=a.created_at,
        updated_at=a.updated_at,
        applied_at=a.applied_at,
        applied_by=a.applied_by,
        verified_at=a.verified_at,
        findings=[PatchFindingOut.model_validate(f) for f in a.findings],
    )


@router.get("/findings", response_model=FindingsOut, summary="Vulnerability findings")
async def list_findings(
    db: Db,
    _: Viewer,
    host: HostQuery = None,
    package: Annotated[str | None, Query(max_length=255, description="Package name.")] = None,
    severity: Annotated[Severity | None, Query(description="Only this severity.")] = None,
    status: Annotated[
        FindingStatus,
        Query(description="open (neither resolved nor suppressed), suppressed or resolved."),
    ] = "open",
    vulnerability: Annotated[
        str | None, Query(max_length=128, description="OSV id or one of its aliases.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Findings per page.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Findings to skip.")] = 0,
) -> FindingsOut:
    """The findings of one status (open unless asked), worst severity first, then highest
    CVSS score, oldest; ``total`` counts every match, ``findings`` holds one page."""
    now = utcnow()

    def work() -> found.Page:
        section = load_section(db)
        return found.query(
            db,
            section,
            now,
            host=host,
            package=package,
            severity=severity,
            status=status,
            vulnerability=vulnerability,
            limit=limit,
            offset=offset,
        )

    page = await run_in_threadpool(work)
    return FindingsOut(total=page.total, findings=[finding_out(f, now) for f in page.findings])


@router.get(
    "/findings/{finding_id}", response_model=FindingDetailOut, summary="One finding, its record"
)
async def get_finding(
    db: Db, _: Viewer, finding_id: Annotated[int, Path(ge=1)]
) -> FindingDetailOut:
    now = utcnow()

    def work() -> FindingDetailOut:
        section = load_section(db)
        finding = found.get(db, section, now, finding_id)
        record = found.record_of(db, finding.vuln_id)
        return FindingDetailOut(
            finding=finding_out(finding, now),
            record=RecordOut.model_validate(record) if record else None,
            elsewhere=[
                finding_out(f, now) for f in found.same_vulnerability(db, section, now, finding)
            ],
        )

    return await run_in_threadpool(work)


@router.get("/summary", response_model=FindingSummaryOut, summary="Finding counts")
async def summary(db: Db, _: Viewer) -> FindingSummaryOut:
    """Open findings by severity, by host and by package (worst first); suppressed,
    fixable and overdue counts."""
    now = utcnow()

    def work() -> found.Summary:
        return found.summarise(found.open_findings(db, load_section(db), now))

    s = await run_in_threadpool(work)
    return FindingSummaryOut(
        open=s.open,
        by_severity=s.by_severity,
        suppressed=s.suppressed,
        fixable=s.fixable,
        overdue=s.overdue,
        hosts=[_group_out(g) for g in s.hosts],
        packages=[_group_out(g) for g in s.packages],
    )


def suppression_list(db: Session, now: datetime) -> list[SuppressionOut]:
    """Every suppression (the plan's first), with how many findings each hides now."""
    section = load_section(db)
    every = suppressions.all_suppressions(db, section)
    counts = suppressions.covering(every, found.open_findings(db, section, now), now)
    return [suppression_out(s, now, counts.get(s.label, 0)) for s in every]


@router.get("/suppressions", response_model=list[SuppressionOut], summary="Suppressions")
async def list_suppressions(db: Db, _: Viewer) -> list[SuppressionOut]:
    """The plan's and those made in the UI/API, expired ones included (``active`` false)."""
    return await run_in_threadpool(suppression_list, db, utcnow())


@router.post(
    "/suppressions", response_model=SuppressionOut, status_code=201, summary="Suppress findings"
)
async def create_suppression(
    request: Request, db: Db, user: Operator, body: SuppressionIn
) -> SuppressionOut:
    """Accept a vulnerability (for a package and hosts) with a reason, until it expires."""
    actor = request_actor(request, user)
    now = utcnow()
    expires = body.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)

    def work() -> SuppressionOut:
        row = suppressions.create(
            db,
            actor,
            vulnerability=body.vulnerability,
            reason=body.reason,
            package=body.package,
            host=body.host,
            expires_at=expires,
            now=now,
        )
        patches.replan_for(db, now, suppressions.of_row(row))
        db.commit()
        key = str(row.id)
        return next(s for s in suppression_list(db, now) if s.source == "api" and s.id == key)

    return await run_in_threadpool(work)


@router.delete("/suppressions/{suppression_id}", status_code=204, summary="Remove a suppression")
async def delete_suppression(
    request: Request, db: Db, user: Operator, suppression_id: Annotated[int, Path(ge=1)]
) -> Response:
    """Remove a suppression made in the UI/API (the plan's are removed from the plan)."""
    actor = request_actor(request, user)

    def work() -> None:
        removed = suppressions.delete(db, actor, suppression_id)
        patches.replan_for(db, utcnow(), removed)
        db.commit()

    await run_in_threadpool(work)
    return Response(status_code=204)


@router.get("/patches", response_model=ActionsOut, summary="The patch plan")
async def list_patches(
    db: Db, _: Viewer, status: PatchStatus | None = None, host: HostQuery = None
) -> ActionsOut:
    """Planned, applied, verified, obsolete; within each, best rank first."""

    def work() -> list[ActionView]:
        return list_actions(db, load_section(db), utcnow(), status=status, host=host)

    return ActionsOut(actions=[action_out(a) for a in await run_in_threadpool(work)])


@router.post(
    "/patches/{action_id}/applied", response_model=ActionOut, summary="Mark a patch applied"
)
async def mark_applied(
    request: Request, db: Db, user: Operator, action_id: Annotated[int, Path(ge=1)]
) -> ActionOut:
    """Say a planned action was applied; the host's next inventory verifies it."""
    actor = request_actor(request, user)

    def work() -> ActionView:
        now = utcnow()
        patches.mark_applied(db, actor, action_id, now)
        db.commit()
        view = get_action(db, load_section(db), now, action_id)
        if view is None:  # removed meanwhile
            raise NotFoundError(f"there is no patch action {action_id}")
        return view

    return action_out(await run_in_threadpool(work))


@router.get("/os-updates", response_model=OsUpdatesOut, summary="OS updates available")
async def list_os_updates(db: Db, _: Viewer, host: HostQuery = None) -> OsUpdatesOut:
    """Each host's newest OS-updates inventory, security updates flagged and first."""
    hosts = await run_in_threadpool(os_updates.latest, db, host)
    return OsUpdatesOut(
        hosts=[
            HostUpdatesOut(
                host=h.host,
                collected_at=h.collected_at,
                count=len(h.updates),
                security_count=h.security_count,
                updates=[OsUpdateOut.model_validate(u) for u in h.updates],
            )
            for h in hosts
        ]
    )
