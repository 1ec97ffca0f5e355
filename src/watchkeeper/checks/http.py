"""HTTP check: request a URL and judge the response."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Annotated, ClassVar, Literal

import aiohttp
from pydantic import (
    AfterValidator,
    Field,
    JsonValue,
    PrivateAttr,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from yarl import URL

from watchkeeper import __version__
from watchkeeper.checks.http_tls import TlsContexts, TlsFileError
from watchkeeper.checks.interface import CheckConfig, Outcome
from watchkeeper.checks.jsonpath import JsonAssertion, JsonPathSyntaxError, parse
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Regex, Secret

USER_AGENT = f"Watchkeeper/{__version__} (health check)"


def _json_assertion(text: str) -> str:
    try:
        parse(text)
    except JsonPathSyntaxError as exc:
        raise PydanticCustomError(
            "json_path", '"{value}": {reason}', {"value": text, "reason": str(exc)}
        ) from None
    return text


class BasicAuth(PlanModel):
    """User name and password sent with HTTP basic authentication."""

    username: str = Field(min_length=1, description="User name.")
    password: Secret = Field(description="Password; a secret: write it as `${VAR}` or `!file`.")

    @field_validator("username")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise ValueError('must not contain ":" (it separates user name and password)')
        return value

    def header(self) -> str:
        """Return the ``Authorization`` header value (RFC 7617, UTF-8)."""
        pair = f"{self.username}:{self.password}".encode()
        return f"Basic {base64.b64encode(pair).decode('ascii')}"


class HttpCheckConfig(CheckConfig):
    type: Literal["http"] = Field(description="`http`.")
    url: str = Field(description="http:// or https:// URL to request.")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = Field(
        "GET", description="HTTP method."
    )
    # Order matters: the validators of basic_auth and headers see the fields before them,
    # and report clashes there rather than on bearer_token, whose value must not be quoted.
    bearer_token: Secret | None = Field(
        None,
        description="Sent as `Authorization: Bearer …`; a secret: write it as `${VAR}` or `!file`.",
    )
    basic_auth: BasicAuth | None = Field(
        None, description="`username` and `password` for HTTP basic authentication."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    body: str | None = Field(None, description="Request body, sent as is.")
    json_body: dict[str, JsonValue] | list[JsonValue] | None = Field(
        None,
        alias="json",
        description="Request body as JSON (sent with `Content-Type: application/json`); "
        "instead of `body`.",
    )
    expected_status: list[int] = Field(
        default_factory=list, description="Accepted status codes; empty means any 2xx."
    )
    body_contains: str | None = Field(None, description="Text the response body must contain.")
    body_not_contains: str | None = Field(
        None, description="Text the response body must not contain (e.g. `ERROR`)."
    )
    body_regex: Regex | None = Field(
        None, description="Regular expression (Python syntax) the response body must match."
    )
    json_path: list[Annotated[str, AfterValidator(_json_assertion)]] = Field(
        default_factory=list,
        description='Assertions on a JSON response, all of which must hold: `$.status == "ok"`, '
        "`$.items[0].count > 3`, `$.db.healthy == true`, `$.version exists`. A path is `$` "
        'followed by `.key`, `[index]` or `["any key"]`; compare with `==`, `!=`, `<`, `<=`, '
        "`>`, `>=` against a JSON value.",
    )
    max_response_ms: int | None = Field(
        None, ge=1, description="Down when the response takes longer than this (milliseconds)."
    )
    follow_redirects: bool = Field(True, description="Follow redirects.")
    tls_verify: bool = Field(True, description="Verify the server's TLS certificate.")
    ca_file: str | None = Field(
        None, description="PEM file of a private CA to trust (besides the system's)."
    )
    client_cert: str | None = Field(
        None, description="PEM file of a client certificate, for servers that require one."
    )
    client_key: str | None = Field(
        None, description="PEM file of the client certificate's key (unencrypted), if separate."
    )

    _body_regex: re.Pattern[str] | None = PrivateAttr(None)
    _assertions: list[JsonAssertion] = PrivateAttr(default_factory=list)

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

    @field_validator("basic_auth")
    @classmethod
    def _basic_alone(cls, value: BasicAuth | None, info: ValidationInfo) -> BasicAuth | None:
        if value is not None and info.data.get("bearer_token") is not None:
            raise ValueError("give either basic_auth or bearer_token, not both")
        if value is not None and URL(info.data.get("url", "")).user:
            raise ValueError("give either basic_auth or credentials in the url, not both")
        return value

    @field_validator("headers")
    @classmethod
    def _authorization_alone(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        given = [
            name
            for name, present in (
                ("credentials in the url", bool(URL(info.data.get("url", "")).user)),
                ("bearer_token", info.data.get("bearer_token") is not None),
                ("basic_auth", info.data.get("basic_auth") is not None),
                ("an Authorization header", "authorization" in map(str.lower, value)),
            )
            if present
        ]
        # basic_auth is in info.data only if it passed its own clash checks above
        if len(given) > 1:
            raise ValueError(f"give only one of {given[0]} and {given[1]}")
        return value

    @field_validator("json_body")
    @classmethod
    def _one_body(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and info.data.get("body") is not None:
            raise ValueError("give either body or json, not both")
        return value

    @field_validator("client_key")
    @classmethod
    def _key_with_cert(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("client_cert") is None:
            raise ValueError("needs client_cert (the certificate this key belongs to)")
        return value

    def model_post_init(self, context: object, /) -> None:
        self._body_regex = re.compile(self.body_regex) if self.body_regex is not None else None
        self._assertions = [parse(text) for text in self.json_path]

    @property
    def body_pattern(self) -> re.Pattern[str] | None:
        """``body_regex``, compiled once when the plan is loaded."""
        return self._body_regex

    @property
    def assertions(self) -> list[JsonAssertion]:
        """``json_path``, parsed once when the plan is loaded."""
        return self._assertions


class HttpCheck:
    """HTTP checks use aiohttp, not httpx: on the 2-core reference machine httpx made 355
    requests/s against a local target and aiohttp 5,258 (bench/checks.py needs thousands)."""

    name = "http"
    description = (
        "Request a URL (with optional authentication and body); judge the status code, the "
        "body, JSON values and the response time."
    )
    config_model: ClassVar[type[CheckConfig]] = HttpCheckConfig

    def __init__(self) -> None:
        # One pooled session shared by all checks: thousands of checks must not open
        # thousands of connection pools.
        self._session: aiohttp.ClientSession | None = None
        self._tls = TlsContexts()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=100, ttl_dns_cache=60),
                headers={"User-Agent": USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=None),  # the runner enforces timeouts
            )
        return self._session

    async def run(self, config: HttpCheckConfig) -> Outcome:
        try:
            ssl = self._tls.get(
                config.tls_verify, config.ca_file, config.client_cert, config.client_key
            )
        except TlsFileError as exc:
            return Outcome(False, str(exc))
        headers = dict(config.headers)
        if config.bearer_token is not None:
            headers["Authorization"] = f"Bearer {config.bearer_token}"
        if config.basic_auth is not None:
            headers["Authorization"] = config.basic_auth.header()
        start = time.perf_counter()
        try:
            async with self._client().request(
                config.method,
                config.url,
                headers=headers,
                data=config.body.encode() if config.body is not None else None,
                json=config.json_body,
                allow_redirects=config.follow_redirects,
                max_redirects=10,
                ssl=ssl,
            ) as resp:
                body = await resp.text(errors="replace")
                status = resp.status
        except aiohttp.ClientError as exc:
            return Outcome(False, describe_http_error(exc) + _client_cert_hint(config, exc))
        except ValueError as exc:  # aiohttp refuses control characters in header values
            return Outcome(False, f"cannot send the request: {exc}")
        elapsed = (time.perf_counter() - start) * 1000
        failure = judge(config, status, body, elapsed)
        return Outcome(failure is None, failure or f"HTTP {status}", elapsed)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def judge(config: HttpCheckConfig, status: int, body: str, elapsed_ms: float) -> str | None:
    """Return None when the response passes every test ``config`` asks for, else the first
    reason it does not (all of them for ``json_path``)."""
    expected = config.expected_status
    if (status not in expected) if expected else not 200 <= status < 300:
        wanted = ", ".join(map(str, expected)) if expected else "2xx"
        hint = ""
        if status == 401:
            sent = config.basic_auth or config.bearer_token or URL(config.url).user
            hint = ": the server rejected the credentials" if sent else ": credentials needed"
        return f"HTTP {status} (expected {wanted}){hint}"
    if config.body_contains is not None and config.body_contains not in body:
        return f"body does not contain {config.body_contains!r}"
    if config.body_not_contains is not None and config.body_not_contains in body:
        return f"body contains {config.body_not_contains!r}"
    if config.body_pattern is not None and not config.body_pattern.search(body):
        return f"body does not match body_regex {config.body_regex!r}"
    if config.assertions:
        try:
            document = json.loads(body)
        except json.JSONDecodeError as exc:
            return f"body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        failures = [f for a in config.assertions if (f := a.failure(document)) is not None]
        if failures:
            return "; ".join(failures)
    if config.max_response_ms is not None and elapsed_ms > config.max_response_ms:
        return f"responded in {elapsed_ms:.0f} ms, above {config.max_response_ms} ms"
    return None


def _client_cert_hint(config: HttpCheckConfig, exc: aiohttp.ClientError) -> str:
    """With TLS 1.3 a server that refuses the client's certificate (or its absence) just
    closes the connection after the handshake; say that this may be why."""
    if not isinstance(exc, aiohttp.ServerDisconnectedError) or not config.url.startswith(
        "https://"
    ):
        return ""
    if config.client_cert is None:
        return " (if it requires a client certificate, set client_cert)"
    return f" (does it trust the client certificate in {config.client_cert}?)"


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
