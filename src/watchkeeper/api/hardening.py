"""Hardening audits API: each audited host's latest index (viewers), one host's latest run
with the failed checks' rationale and remediation, the runs history, the catalogue of
checks; an audit now (admins, recorded in the audit trail: queued, 202, for the hardening
service or the host's agent); and the two agent endpoints — the profile for a host and the
results it sends (agent tokens, role operator; the run records who sent it, and the index
is computed from this server's weights).

Hosts are agents' host names, ``watchkeeper://NAME`` for the server itself and
``tls://HOST:PORT`` for a monitored TLS endpoint.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.agent_host import AgentHost, read_for_host
from watchkeeper.api.deps import Db, bearer_token, get_ctx, request_actor, require
from watchkeeper.api.ingest import read_push
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.auth.tokens import TOKEN_PREFIX
from watchkeeper.exceptions import NotFoundError
from watchkeeper.security.hardening import audits, runs
from watchkeeper.security.hardening.interface import REGISTRY, STATUSES
from watchkeeper.security.hardening.profiles import for_host
from watchkeeper.security.hardening.runner import checks
from watchkeeper.security.hardening.wire import AgentProfile, AgentResults, RunOut
from watchkeeper.security.section import load_section
from watchkeeper.store.tables import HardeningRun, utcnow

router = APIRouter(prefix="/api/v1", tags=["hardening"])
Viewer = Annotated[SessionInfo, require("viewer")]
Operator = Annotated[SessionInfo, require("operator")]
Admin = Annotated[SessionInfo, require("admin")]
MAX_PUSH_BYTES = 1 << 20
HostPath = Annotated[
    str,
    Path(
        max_length=200,
        description="A host name, `watchkeeper://NAME` (the server) or `tls://HOST:PORT` "
        "(an endpoint); URL-encoded.",
    ),
]
_SCHEME_SLASHES = re.compile(r"^(tls|watchkeeper):/+")


def normalise_host(host: str) -> str:
    """``host`` as stored: a proxy that merges slashes turns ``tls://x`` into ``tls:/x``."""
    return _SCHEME_SLASHES.sub(r"\1://", host.strip())


class CheckInfo(BaseModel):
    id: str
    title: str
    weight: int = Field(description="Points the check is worth.")
    scope: str = Field(description="host, server (Watchkeeper's own posture) or endpoint.")
    rationale: str
    remediation: str


class HostOut(BaseModel):
    host: str
    kind: str = Field(description="host (an agent), server (Watchkeeper) or endpoint (TLS).")
    profile: str
    ran_at: datetime
    index: float | None = Field(description="0..100; null when no check could be judged.")
    points: int
    possible: int
    counts: dict[str, int] = Field(description="Checks by status: pass, fail, skip, error.")
    trend: list[float | None] = Field(description="Indexes of the recent runs, oldest first.")
    queued_at: datetime | None = Field(
        None, description="When an audit now was asked that has not run yet (null: none)."
    )


class ResultOut(BaseModel):
    id: str
    title: str
    weight: int
    status: str = Field(description="pass, fail, skip or error.")
    detail: str
    rationale: str = Field(description="Why it matters (empty for a check unknown here).")
    remediation: str = Field(description="How to fix a failure.")


class HostDetailOut(BaseModel):
    host: str
    kind: str
    profile: str
    ran_at: datetime
    index: float | None
    points: int
    possible: int
    counts: dict[str, int]
    pushed_by: str = Field(
        description="Who sent an agent's run: the user and the API token's prefix (empty for "
        "the server's own audits)."
    )
    queued_at: datetime | None = Field(
        None, description="When an audit now was asked that has not run yet (null: none)."
    )
    results: list[ResultOut] = Field(description="Failures first, then errors, passes, skips.")


class RunSummaryOut(RunOut):
    id: int
    profile: str
    counts: dict[str, int]


class RunNowIn(BaseModel):
    host: str | None = Field(
        None,
        max_length=200,
        description="Audit only this host: the server, an endpoint or an agent's host. None: "
        "the server and every endpoint.",
    )


class RunNowOut(BaseModel):
    requested: list[str] = Field(description="The hosts whose audit was queued.")
    requested_at: datetime = Field(
        description="When: each host's next run after it answers the request (its "
        "`queued_at` is null again)."
    )


def _index(run: HardeningRun) -> float | None:
    return run.index if run.possible else None


def _run_out(run: HardeningRun) -> RunOut:
    return RunOut(
        host=run.host,
        ran_at=run.ran_at,
        index=_index(run),
        points=run.points,
        possible=run.possible,
    )


def result_rows(run: HardeningRun) -> list[ResultOut]:
    """The run's results with each check's rationale and remediation, failures first."""
    rows = []
    for r in run.results:
        known = REGISTRY.get(str(r.get("id")))
        rows.append(
            ResultOut(
                id=str(r.get("id")),
                title=str(r.get("title") or (known.title if known else r.get("id"))),
                weight=int(r.get("weight", known.weight if known else 0)),
                status=str(r.get("status")),
                detail=str(r.get("detail", "")),
                rationale=known.rationale if known else "",
                remediation=known.remediation if known else "",
            )
        )
    order: dict[str, int] = {s: i for i, s in enumerate(STATUSES)}
    return sorted(rows, key=lambda r: (order.get(r.status, 9), r.id))


def host_detail(db: Session, host: str) -> HostDetailOut:
    """The latest run of ``host``; raise NotFoundError when it was never audited."""
    run = runs.latest_run(db, host)
    if run is None:
        raise NotFoundError(f'"{host}" has no hardening audit')
    return HostDetailOut(
        host=run.host,
        kind=runs.host_kind(run.host),
        profile=run.profile,
        ran_at=run.ran_at,
        index=_index(run),
        points=run.points,
        possible=run.possible,
        counts=runs.counts(run),
        pushed_by=run.pushed_by,
        queued_at=_queued(audits.requested_at(db, host), run.ran_at),
        results=result_rows(run),
    )


def _queued(asked: datetime | None, ran_at: datetime) -> datetime | None:
    return asked if audits.pending(asked, ran_at) else None


@router.get(
    "/security/hardening",
    response_model=list[HostOut],
    summary="Every audited host's latest hardening index",
)
async def list_hosts(db: Db, _: Viewer) -> list[HostOut]:
    found = await run_in_threadpool(runs.summaries, db)
    asked = await run_in_threadpool(audits.requests, db, [s.run.host for s in found])
    return [
        HostOut(
            host=s.run.host,
            kind=s.kind,
            profile=s.run.profile,
            ran_at=s.run.ran_at,
            index=_index(s.run),
            points=s.run.points,
            possible=s.run.possible,
            counts=s.counts,
            trend=s.trend,
            queued_at=_queued(asked.get(s.run.host), s.run.ran_at),
        )
        for s in found
    ]


@router.get(
    "/security/hardening/checks",
    response_model=list[CheckInfo],
    summary="The hardening checks: id, weight, rationale, remediation",
)
async def list_checks(_: Viewer) -> list[CheckInfo]:
    return [
        CheckInfo(
            id=c.id,
            title=c.title,
            weight=c.weight,
            scope=c.scope,
            rationale=c.rationale,
            remediation=c.remediation,
        )
        for c in checks()
    ]


@router.get(
    "/security/hardening/runs",
    response_model=list[RunSummaryOut],
    summary="A host's hardening runs (the index history), newest first",
)
async def list_runs(
    db: Db,
    _: Viewer,
    host: Annotated[str, Query(min_length=1, max_length=200, description="The host.")],
    days: Annotated[int, Query(ge=1, le=3650, description="How far back.")] = 90,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[RunSummaryOut]:
    name = normalise_host(host)
    since = utcnow() - timedelta(days=days)

    def read() -> list[HardeningRun]:
        return list(
            db.scalars(
                select(HardeningRun)
                .where(HardeningRun.host == name, HardeningRun.ran_at >= since)
                .order_by(HardeningRun.ran_at.desc(), HardeningRun.id.desc())
                .limit(limit)
            )
        )

    found = await run_in_threadpool(read)
    return [
        RunSummaryOut(
            id=run.id,
            profile=run.profile,
            counts=runs.counts(run),
            **_run_out(run).model_dump(),
        )
        for run in found
    ]


@router.get(
    "/security/hardening/hosts/{host:path}",
    response_model=HostDetailOut,
    summary="A host's latest hardening run, failed checks first with their remediation",
)
async def get_host(db: Db, _: Viewer, host: HostPath) -> HostDetailOut:
    return await run_in_threadpool(host_detail, db, normalise_host(host))


@router.post(
    "/security/hardening/run",
    response_model=RunNowOut,
    status_code=202,
    summary="Audit now (admins; queued, 202)",
    description="Queues an audit: without `host` of the server and every TLS endpoint, or "
    "of the server, an endpoint or an agent's host alone. The hardening service runs the "
    "server's and endpoints' audits at once on the replica that leads it (else within a "
    "minute), one at a time; an agent audits at its next profile request (within a "
    "minute). Asking again before it ran makes no second audit. Poll the host "
    "(`queued_at` null again) or the runs for the result.",
    responses={202: {"description": "Queued."}},
)
async def run_now(request: Request, db: Db, info: Admin, body: RunNowIn | None = None) -> Any:
    ctx = get_ctx(request)
    host = normalise_host(body.host) if body and body.host else None
    actor = request_actor(request, info)
    done = await run_in_threadpool(audits.audit_now, db, ctx.settings, actor, host)
    wake: Callable[[], None] | None = getattr(request.app.state, "wake_hardening", None)
    if wake is not None:
        wake()
    out = RunNowOut(requested=done.requested, requested_at=done.requested_at)
    return JSONResponse(out.model_dump(mode="json"), status_code=202)


# -- agents --------------------------------------------------------------------------------


_TOKEN_ID = re.compile(rf"^{TOKEN_PREFIX}([0-9a-f]{{8}})_")


def pushed_by(request: Request, info: SessionInfo) -> str:
    """Who sends: the user, and the prefix of the API token used (never the token)."""
    token = bearer_token(request) if info.via_token else None
    found = _TOKEN_ID.match(token or "")
    return f"{info.username} (token {TOKEN_PREFIX}{found.group(1)})" if found else info.username


@router.get(
    "/agent/hardening",
    response_model=AgentProfile,
    tags=["agent"],
    summary="The hardening profile for one agent's host",
    description="Every `security.hardening` profile whose `hosts` globs match `host`, "
    "merged (ports, mounts, paths and skipped checks joined; the shortest interval). "
    "`profile` is null when none matches: the agent then audits nothing. Agents ask every "
    "minute.",
)
async def agent_profile(request: Request, _: Operator, host: AgentHost) -> AgentProfile:
    def read(db: Session, host: str) -> AgentProfile:
        applied = for_host(load_section(db).hardening, host)
        requested = audits.requested_at(db, host)
        if applied is None:
            return AgentProfile(run_requested_at=requested)
        return AgentProfile(
            profiles=list(applied.names),
            profile=applied.profile.model_dump(mode="json"),
            run_requested_at=requested,
        )

    return await read_for_host(request, host, read)


@router.post(
    "/agent/hardening",
    response_model=RunOut,
    tags=["agent"],
    summary="Store one hardening audit of an agent's host",
    description="JSON (gzip-compressed with `Content-Encoding: gzip`, or not). The index is "
    "computed here from the results' statuses and weights.",
)
async def agent_results(request: Request, info: Operator) -> Any:
    body = await read_push(request, AgentResults, MAX_PUSH_BYTES)
    ctx = get_ctx(request)
    sender = pushed_by(request, info)

    def store() -> RunOut:
        with ctx.sessions() as db:
            run = runs.record_results(
                db,
                body.host,
                body.profile,
                body.ran_at,
                [r.model_dump() for r in body.results],
                pushed_by=sender,
            )
            db.commit()
            return _run_out(run)

    return await asyncio.to_thread(store)
