"""Heartbeat push URLs: the public endpoints that cron jobs and backup scripts call.

No sign-in: the key in the URL is the secret. The URLs and answers are those of
Healthchecks.io (``/ping/<key>``, ``/start``, ``/fail``, ``/<exit status>``, ``/log``; a
plain ``OK``), so its client snippets work unchanged. Any replica accepts pings: they are
stored, and the heartbeat check type judges them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.api.deps import get_ctx
from watchkeeper.checks.pings import BODY_LIMIT, heartbeat_of, record_ping
from watchkeeper.exceptions import NotFoundError, ValidationFailed

router = APIRouter(tags=["heartbeats"])
ACTIONS = ("start", "fail", "log")
UNKNOWN_KEY = "no heartbeat check has this ping key"
Endpoint = Callable[..., Awaitable[PlainTextResponse]]


def _public(path: str, summary: str) -> Callable[[Endpoint], Endpoint]:
    """Register an endpoint for GET, POST and HEAD (cron jobs use all three), one route per
    method so each has its own OpenAPI operation; the document says it needs no sign-in."""

    def register(endpoint: Endpoint) -> Endpoint:
        for method in ("GET", "POST", "HEAD"):
            router.add_api_route(
                path,
                endpoint,
                methods=[method],
                summary=summary,
                response_class=PlainTextResponse,
                operation_id=f"{endpoint.__name__}_{method.lower()}",
                include_in_schema=method != "HEAD",
                openapi_extra={"security": []},
            )
        return endpoint

    return register


@_public("/ping/{key}", "Heartbeat: the job succeeded (public; the key is the secret)")
async def ping(key: str, request: Request) -> PlainTextResponse:
    return await _receive(request, key, "success", None)


@_public(
    "/ping/{key}/{action}",
    "Heartbeat: the job started, failed, exited with a status (0-255), or sends its log "
    "(public; the key is the secret)",
)
async def ping_action(key: str, action: str, request: Request) -> PlainTextResponse:
    if action in ACTIONS:
        return await _receive(request, key, action, None)
    if not action.isdigit():
        raise NotFoundError(
            f'no ping "{action}": use /start, /fail, /log or an exit status (/0 to /255)'
        )
    status = int(action)
    if status > 255:
        raise ValidationFailed(
            "invalid exit status", [("exit_status", f"{status} is not an exit status (0-255)")]
        )
    return await _receive(request, key, "success" if status == 0 else "fail", status)


async def _body(request: Request) -> str:
    """Return the first BODY_LIMIT bytes of the body as text; the rest is not read."""
    data = bytearray()
    async with aclosing(request.stream()) as chunks:
        async for chunk in chunks:
            data += chunk
            if len(data) >= BODY_LIMIT:
                break
    return bytes(data[:BODY_LIMIT]).decode("utf-8", "replace")


def _store(
    sessions: sessionmaker[Session],
    key: str,
    kind: str,
    *,
    exit_status: int | None,
    remote_addr: str,
    user_agent: str,
    body: str,
) -> str | None:
    """Record a ping for the heartbeat with ``key``; return its name (None: unknown key)."""
    with sessions() as db:
        name = heartbeat_of(db, key)
        if name is None:
            return None
        record_ping(
            db,
            name,
            kind,
            exit_status=exit_status,
            remote_addr=remote_addr,
            user_agent=user_agent,
            body=body,
        )
        db.commit()
        return name


async def _receive(
    request: Request, key: str, kind: str, exit_status: int | None
) -> PlainTextResponse:
    name = await asyncio.to_thread(
        _store,
        get_ctx(request).sessions,
        key.lower(),
        kind,
        exit_status=exit_status,
        remote_addr=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        body=await _body(request),
    )
    if name is None:
        raise NotFoundError(UNKNOWN_KEY)
    # In `up`, this process's check runner judges the check at once, so a ping clears a
    # down heartbeat (or a failure brings it down) within a second, not at its next run.
    nudge = getattr(request.app.state, "nudge_check", None)
    if nudge is not None and kind != "log":
        nudge(name)
    return PlainTextResponse("OK")
