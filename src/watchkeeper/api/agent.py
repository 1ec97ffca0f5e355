"""Agent pushes (host metrics and inventory from ``watchkeeper agent``) and the log sources
each agent collects."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from watchkeeper.agent.log_sources import LogSources, sources_for_host
from watchkeeper.agent.receive import receive
from watchkeeper.agent.wire import HOST_RE, AgentPush, PushResult
from watchkeeper.api.deps import get_ctx, require
from watchkeeper.api.ingest import read_body
from watchkeeper.api.problems import problem
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.metrics.payload import MAX_BODY_BYTES, PayloadTooLarge

router = APIRouter(prefix="/api/v1", tags=["agent"])
Operator = Annotated[SessionInfo, require("operator")]


@router.post(
    "/agent/push",
    response_model=PushResult,
    summary="Store a batch of host metrics (and the inventory) from an agent",
    description="Samples already stored are counted as duplicates and ignored, so an agent "
    "may send a batch again. Series with a bad metric or label name are refused and listed "
    "in `rejected`; the others are stored.",
)
async def push(request: Request, _: Operator) -> Any:
    # The body is read only once the caller is known to be allowed (a body parameter would
    # be read and parsed before the role check), and at most MAX_BODY_BYTES of it.
    try:
        raw = await read_body(request, MAX_BODY_BYTES)
    except PayloadTooLarge as exc:
        return problem(413, str(exc), title="Payload too large", instance=request.url.path)
    try:
        body = AgentPush.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    ctx = get_ctx(request)
    return await asyncio.to_thread(receive, ctx.sessions, ctx.metrics, body)


@router.get(
    "/agent/log-sources",
    response_model=LogSources,
    summary="The plan's log sources (files, journald) for one agent's host",
    description="The `logs.files` and `logs.journald` sources whose `hosts` patterns match "
    "`host`. Agents ask at start and every minute.",
)
async def log_sources(
    request: Request,
    _: Operator,
    host: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            pattern=HOST_RE.pattern,
            description="The agent's host name (its `--host-name`).",
        ),
    ],
) -> Any:
    ctx = get_ctx(request)

    def read() -> LogSources:
        with ctx.sessions() as db:
            return sources_for_host(db, host)

    return await asyncio.to_thread(read)
