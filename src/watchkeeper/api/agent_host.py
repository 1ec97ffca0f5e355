"""What the agent endpoints that answer for one host share: the ``host`` query parameter (the
agent's ``--host-name``) and reading the answer from the store in a worker thread.

Used by ``GET /api/v1/agent/log-sources``, ``/agent/inventories`` and ``/agent/hardening``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Query, Request
from sqlalchemy.orm import Session

from watchkeeper.agent.wire import HOST_RE
from watchkeeper.api.deps import get_ctx

T = TypeVar("T")

AgentHost = Annotated[
    str,
    Query(
        min_length=1,
        max_length=200,
        pattern=HOST_RE.pattern,
        description="The agent's host name (its `--host-name`).",
    ),
]


async def read_for_host(request: Request, host: str, read: Callable[[Session, str], T]) -> T:
    """Return ``read(db, host)``, run in a worker thread with a store session of its own."""
    ctx = get_ctx(request)

    def run() -> T:
        with ctx.sessions() as db:
            return read(db, host)

    return await asyncio.to_thread(run)
