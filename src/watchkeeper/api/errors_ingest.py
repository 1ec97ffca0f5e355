"""The Sentry protocol's ingest endpoints: ``POST /api/<project_id>/envelope/`` and the
legacy ``POST /api/<project_id>/store/``, where SDKs send events.

No sign-in: the DSN's public key is the credential (``X-Sentry-Auth``, the ``sentry_key``
query parameter, or the envelope header's ``dsn``). Browsers' SDKs post from other origins,
so the answers allow any origin and expose the rate-limit headers. Any replica answers.
"""

from __future__ import annotations

import re

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

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
                query=request.query_params if request.scope["query_string"] else {},
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
        orjson.dumps(answer.body), media_type="application/json", headers={**CORS, **answer.headers}
    )


def _refused(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    # X-Sentry-Error: what Relay sends, and what some SDKs log.
    extra = {**CORS, **(headers or {}), "X-Sentry-Error": detail[:200]}
    return problem(status, detail, headers=extra, instance=request.url.path)


async def _answer(request: Request, project_id: int, endpoint: str) -> Response:
    if request.method == "OPTIONS":
        return Response(status_code=200, headers=PREFLIGHT)
    return await _receive(request, project_id, endpoint)


def _public(path: str, endpoint: str) -> Route:
    """A plain Starlette route: no FastAPI dependency or validation machinery (the route
    needs none: the key is checked here)."""

    async def receive(request: Request) -> Response:
        return await _answer(request, int(request.path_params["project_id"]), endpoint)

    receive.__name__ = f"receive_{endpoint}"
    router.add_route(path, receive, methods=["POST", "OPTIONS"], include_in_schema=False)
    route = router.routes[-1]
    assert isinstance(route, Route)
    return route


ROUTES = {
    "envelope": _public("/api/{project_id:int}/envelope/", "envelope"),  # what SDKs send today
    "store": _public("/api/{project_id:int}/store/", "store"),  # one event as JSON: older SDKs
}
_PATH = re.compile(r"/api/([0-9]{1,18})/(envelope|store)/")


class IngestShortcut:
    """ASGI middleware answering SDKs' requests to the two ingest routes itself, ahead of
    the exception middlewares and the router: an SDK sends one small request per event,
    and that machinery was a sixth of the server's work per event. The routes stay
    declared (and answer the same) for anything this does not take."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "OPTIONS"):
            found = _PATH.fullmatch(scope["path"])
            if found:
                project_id, endpoint = int(found.group(1)), found.group(2)
                scope["route"] = ROUTES[endpoint]  # the request metrics' route label
                scope["path_params"] = {"project_id": project_id}
                response = await _answer(Request(scope, receive), project_id, endpoint)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
