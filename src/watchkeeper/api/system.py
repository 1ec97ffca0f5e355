"""Public operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from watchkeeper.api.deps import get_ctx
from watchkeeper.exceptions import StoreError
from watchkeeper.store.migrate import current_revision, head_revision
from watchkeeper.telemetry import REGISTRY, STORE_ERRORS

router = APIRouter(tags=["system"])
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the store answers and its schema is current")
async def readyz(request: Request) -> JSONResponse:
    ctx = get_ctx(request)
    head = head_revision()
    try:
        current = await asyncio.wait_for(asyncio.to_thread(current_revision, ctx.engine), 5)
    except (StoreError, TimeoutError) as exc:
        STORE_ERRORS.labels("readyz").inc()
        reason = str(exc) or "store did not answer within 5s"
        return JSONResponse(
            {"status": "unavailable", "store": "unreachable", "detail": reason}, status_code=503
        )
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "store": "ok",
                "schema": current,
                "expected_schema": head,
                "detail": "run `watchkeeper db upgrade`",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "store": "ok", "schema": current})


@router.get("/metrics", summary="Watchkeeper's own metrics (Prometheus text format)")
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
