"""HTTP(S) check: request a URL and judge the response."""

from __future__ import annotations

import time
from typing import ClassVar, Literal

import aiohttp
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from watchkeeper import __version__
from watchkeeper.checks.interface import CheckConfig, Outcome

USER_AGENT = f"Watchkeeper/{__version__} (health check)"


class HttpCheckConfig(CheckConfig):
    type: Literal["http"] = Field(description="`http`.")
    url: str = Field(description="http:// or https:// URL to request.")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = Field(
        "GET", description="HTTP method."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    expected_status: list[int] = Field(
        default_factory=list, description="Accepted status codes; empty means any 2xx."
    )
    body_contains: str | None = Field(None, description="Text the response body must contain.")
    follow_redirects: bool = Field(True, description="Follow redirects.")
    tls_verify: bool = Field(True, description="Verify the server's TLS certificate.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise PydanticCustomError(
                "url", '"{value}" is not an http:// or https:// URL', {"value": value}
            )
        return value

    @field_validator("expected_status")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        for code in value:
            if not 100 <= code <= 599:
                raise PydanticCustomError(
                    "status", "{code} is not an HTTP status code (100-599)", {"code": code}
                )
        return value


class HttpCheck:
    """HTTP checks use aiohttp, not httpx: on the 2-core reference machine httpx made 355
    requests/s against a local target and aiohttp 5,258 (bench/checks.py needs thousands)."""

    name = "http"
    description = "Request a URL; judge the status code and the body."
    config_model: ClassVar[type[CheckConfig]] = HttpCheckConfig

    def __init__(self) -> None:
        # One pooled session shared by all checks: thousands of checks must not open
        # thousands of connection pools.
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=100, ttl_dns_cache=60),
                headers={"User-Agent": USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=None),  # the runner enforces timeouts
            )
        return self._session

    async def run(self, config: HttpCheckConfig) -> Outcome:
        start = time.perf_counter()
        try:
            async with self._client().request(
                config.method,
                config.url,
                headers=config.headers,
                allow_redirects=config.follow_redirects,
                max_redirects=10,
                ssl=config.tls_verify,
            ) as resp:
                body = await resp.text(errors="replace")
                status = resp.status
        except aiohttp.ClientError as exc:
            return Outcome(False, describe_http_error(exc))
        elapsed = (time.perf_counter() - start) * 1000
        expected = config.expected_status
        if (status not in expected) if expected else not 200 <= status < 300:
            wanted = ", ".join(map(str, expected)) if expected else "2xx"
            return Outcome(False, f"HTTP {status} (expected {wanted})", elapsed)
        if config.body_contains is not None and config.body_contains not in body:
            return Outcome(False, f"body does not contain {config.body_contains!r}", elapsed)
        return Outcome(True, f"HTTP {status}", elapsed)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def describe_http_error(exc: aiohttp.ClientError) -> str:
    """Return a short reason a person can act on (the cause, not the exception class)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate not trusted: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS error: {exc}"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection without answering"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
