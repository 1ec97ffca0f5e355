"""Agent pushes: host metrics and inventory from ``watchkeeper agent``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Request

from watchkeeper.agent.receive import receive
from watchkeeper.agent.wire import AgentPush, PushResult
from watchkeeper.api.deps import get_ctx, require
from watchkeeper.auth.sessions import SessionInfo

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
async def push(body: AgentPush, request: Request, _: Operator) -> PushResult:
    ctx = get_ctx(request)
    return await asyncio.to_thread(receive, ctx.sessions, ctx.metrics, body)
