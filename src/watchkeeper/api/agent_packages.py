"""Inventories of installed software from agents: the specs an agent follows (``GET
/api/v1/agent/inventories``) and the reports it sends (``POST /api/v1/agent/packages``).
Agent tokens (role operator) use both, as they do the metrics push."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Request

from watchkeeper.api.agent_host import AgentHost, read_for_host
from watchkeeper.api.deps import get_ctx, require
from watchkeeper.api.ingest import read_push
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.security.inventory.spec import InventorySpec
from watchkeeper.security.inventory.wire import PackagesReport, PackagesResult
from watchkeeper.security.inventory_store import record_report, spec_for
from watchkeeper.security.scan import run_scan
from watchkeeper.store.tables import utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["agent"])
Operator = Annotated[SessionInfo, require("operator")]


@router.get(
    "/agent/inventories",
    response_model=InventorySpec,
    summary="The plan's inventory specs (security.inventories) for one agent's host",
    description="Every `security.inventories` entry whose `hosts` globs match `host`, merged: "
    "their locations, each kind collected when one asks for it, the shortest interval. "
    "Agents ask at start and every minute.",
)
async def inventories(request: Request, _: Operator, host: AgentHost) -> Any:
    return await read_for_host(request, host, spec_for)


@router.post(
    "/agent/packages",
    response_model=PackagesResult,
    summary="Store a host's inventories of installed software",
    description="A JSON report (gzip-compressed with `Content-Encoding: gzip`, or not) of "
    "one host's inventories: full ones are stored as a new row when they changed, unchanged "
    "ones (digest only) move the latest row's dates on, failed ones keep the last packages "
    "and record the error. Unchanged entries whose digest the server does not have are "
    "listed in `resend`. Sending a report again does no harm.",
)
async def packages(request: Request, _: Operator) -> Any:
    # read only now that the caller is known to be allowed
    report = await read_push(request, PackagesReport)
    ctx = get_ctx(request)

    def store() -> PackagesResult:
        now = utcnow()
        with ctx.sessions() as db:
            result = record_report(db, report, now)
            db.commit()
            if result.stored or result.gone:
                try:
                    run_scan(db, now, report.host)
                except Exception as exc:  # the inventory is stored all the same
                    db.rollback()
                    log.error("scan after the inventory of %s failed", report.host, exc_info=exc)
        return result

    return await asyncio.to_thread(store)
