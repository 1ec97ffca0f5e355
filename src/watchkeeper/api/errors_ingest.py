"""The Sentry protocol's ingest endpoints: ``POST /api/<project_id>/envelope/`` and the
legacy ``POST /api/<project_id>/store/``, where SDKs send events.

No sign-in: the DSN's public key is the credential (``X-Sentry-Auth``, the ``sentry_key``
query parameter, or the envelope header's ``dsn``). Browsers' SDKs post from other origins,
so the answers allow any origin and expose the rate-limit headers. Any replica answers.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from watchkeeper.api.deps import get_ctx
from watchkeeper.api.ingest import read_body
from watchkeeper.api.problems import problem
from watchkeeper.errors.ingest import ErrorIngest, IngestRequest
from watchkeeper.errors.protocol import ProtocolError
from watchkeeper.metrics.payload import PayloadTooLarge

router = APIRouter(tags=["errors"])
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Sentry-Error, X-Sentry-Rate-Limits, Retry-After",
}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Encoding, X-Sentry-Auth, "
    "Authorization, sentry-trace, baggage",
    "Access-Control-Max-Age": "3600",
}


def ingest_of(request: Request) -> ErrorIngest:
    """The process's ingest (made at the first request: it needs the running loop)."""
    ingest: ErrorIngest | None = getattr(request.app.state, "error_ingest", None)
    if ingest is None:
        ingest = ErrorIngest(get_ctx(request).sessions)
        request.app.state.error_ingest = ingest
    return ingest


async def _receive(request: Request, project_id: int, endpoint: str) -> Response:
    ingest = ingest_of(request)
    limit = 0
    try:
        snap = await ingest.directory.snapshot(project_id)
        limit = snap.section.max_envelope_size
        body = await read_body(request, limit)
        answer = await ingest.handle(
            IngestRequest(
                project_id=project_id,
                endpoint=endpoint,
                body=body,
                headers=request.headers,
                query=request.query_params,
                client_ip=request.client.host if request.client else "",
            )
        )
    except ClientDisconnect:  # the SDK gave up (or stopped): nobody to answer
        return Response(status_code=400)
    except PayloadTooLarge:
        return _refused(request, 413, f"the request body is larger than {limit} bytes")
    except ProtocolError as exc:
        return _refused(request, exc.status, str(exc))
    if answer.status != 200:
        return _refused(request, answer.status, answer.body["detail"], answer.headers)
    return Response(
        json.dumps(answer.body), media_type="application/json", headers={**CORS, **answer.headers}
    )


def _refused(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    # X-Sentry-Error: what Relay sends, and what some SDKs log.
    extra = {**CORS, **(headers or {}), "X-Sentry-Error": detail[:200]}
    return problem(status, detail, headers=extra, instance=request.url.path)


def _public(path: str, endpoint: str) -> None:
    """A plain Starlette route: SDKs send many small requests, and this skips FastAPI's
    dependency and validation machinery (the route needs none: the key is checked here)."""

    async def receive(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=200, headers=PREFLIGHT)
        return await _receive(request, int(request.path_params["project_id"]), endpoint)

    receive.__name__ = f"receive_{endpoint}"
    router.add_route(path, receive, methods=["POST", "OPTIONS"], include_in_schema=False)


_public("/api/{project_id:int}/envelope/", "envelope")  # envelopes: what SDKs send today
_public("/api/{project_id:int}/store/", "store")  # one event as JSON: older SDKs
