"""ASGI middleware: request metrics and security headers."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watchkeeper.telemetry import HTTP_LATENCY, HTTP_REQUESTS

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    ),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")
"""Sent only on responses served over HTTPS (TLS on the listener, or X-Forwarded-Proto from
a trusted proxy): over plain HTTP browsers ignore it, and it must not pin a host that has
no TLS."""


def _route_template(scope: Scope) -> str:
    """Return the matched route's path template, so metrics never get one series per URL."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template:
        return str(template)
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return "unmatched"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if scope.get("scheme") == "https" and HSTS[0] not in present:
                    headers.append(HSTS)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - start)
