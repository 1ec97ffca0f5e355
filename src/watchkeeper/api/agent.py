"""Agent pushes (host metrics and inventory from ``watchkeeper agent``) and the log sources
each agent collects."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Request

from watchkeeper.agent.log_sources import LogSources, sources_for_host
from watchkeeper.agent.receive import receive
from watchkeeper.agent.wire import AgentPush, PushResult
from watchkeeper.api.agent_host import AgentHost, read_for_host
from watchkeeper.api.deps import get_ctx, require
from watchkeeper.api.ingest import read_push
from watchkeeper.auth.sessions import SessionInfo

router = APIRouter(prefix="/api/v1", tags=["agent"])
Operator = Annotated[SessionInfo, require("operator")]


@router.post(
    "/agent/push",
    response_model=PushResult,
    summary="Store a batch of host metrics (and the inventory) from an agent",
    description="Samples already stored are counted as duplicates and ignored, so an agent "
    "may send a batch again. Series with a bad metric or label name are refused and listed "
    "in `rejected`; the others are stored. The JSON body may be gzip-compressed "
    "(`Content-Encoding: gzip`).",
)
async def push(request: Request, _: Operator) -> Any:
    # read only now that the caller is known to be allowed
    body = await read_push(request, AgentPush)
    ctx = get_ctx(request)
    return await asyncio.to_thread(receive, ctx.sessions, ctx.metrics, body)


@router.get(
    "/agent/log-sources",
    response_model=LogSources,
    summary="The plan's log sources (files, journald) for one agent's host",
    description="The `logs.files` and `logs.journald` sources whose `hosts` patterns match "
    "`host`. Agents ask at start and every minute.",
)
async def log_sources(request: Request, _: Operator, host: AgentHost) -> Any:
    return await read_for_host(request, host, sources_for_host)
