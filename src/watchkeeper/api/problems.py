"""Errors as RFC 9457 ``application/problem+json``; never a traceback to the client."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from watchkeeper.exceptions import (
    ConflictError,
    NotFoundError,
    StoreError,
    ValidationFailed,
    WatchkeeperError,
)
from watchkeeper.plan.source import format_path
from watchkeeper.telemetry import STORE_ERRORS

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    """Return a problem+json response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class HtmlErrorRenderer:
    """Set by the web layer so that browsers get an HTML page instead of JSON."""

    render: Any = None


def _wants_html(request: Request) -> bool:
    return (
        not request.url.path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
        and HtmlErrorRenderer.render is not None
    )


def _respond(request: Request, status: int, detail: str, **kw: Any) -> Response:
    if _wants_html(request):
        rendered: Response = HtmlErrorRenderer.render(request, status, detail)
        return rendered
    return problem(status, detail, instance=request.url.path, **kw)


def install_problem_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return _respond(request, exc.status_code, detail, headers=exc.headers)

    async def request_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": format_path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()
        ]
        return problem(
            422, "the request has invalid fields", errors=errors, instance=request.url.path
        )

    async def domain_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ValidationFailed):
            errors = [{"field": f, "message": m} for f, m in exc.errors]
            return problem(422, str(exc), errors=errors, instance=request.url.path)
        statuses: dict[type[Exception], int] = {
            NotFoundError: 404,
            ConflictError: 409,
            StoreError: 503,
        }
        status = statuses.get(type(exc), 400)
        return _respond(request, status, str(exc))

    async def store_error(request: Request, exc: Exception) -> Response:
        STORE_ERRORS.labels("request").inc()
        log.error("store error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return _respond(
            request,
            503,
            "the store is not reachable; try again shortly",
            headers={"Retry-After": "5"},
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _respond(request, 500, "an unexpected error occurred; it has been logged")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(WatchkeeperError, domain_error)
    app.add_exception_handler(SQLAlchemyError, store_error)
    app.add_exception_handler(Exception, unexpected)
