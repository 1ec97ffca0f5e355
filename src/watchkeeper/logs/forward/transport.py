"""The HTTP side of forwarding: one client per forwarder carrying its credentials, and what
an answer means for the batch.

Credentials (basic auth, a bearer token, custom headers) live only in the client; they and
the endpoint's path and query (which may hold a key) are never in an error or a log line,
which name the forwarder and ``scheme://host:port`` only.
"""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from watchkeeper import __version__
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.logging_setup import redact, register_secret
from watchkeeper.logs.config import Forwarder
from watchkeeper.logs.forward.interface import Encoded

Kind = Literal["transient", "limited", "refused", "too_large"]
# A 4xx but these says the body itself is refused: sending it again cannot help. The others
# (and 401/403/3xx from a target being redeployed or its credentials rotated) are outages
# ridden out while lines are buffered.
PASSING_4XX = frozenset({401, 403, 404, 408, 425, 429})
# Gateways say the target is away; other server errors may come from the batch itself and
# are retried a few times only.
GATEWAY = frozenset({502, 503, 504})


class SendError(WatchkeeperError):
    """A request that did not deliver its batch. ``kind``: ``transient`` (retry later,
    after ``retry_after`` seconds when the target said so), ``limited`` (a server error,
    retried a few times), ``refused`` (never retry) or ``too_large`` (split the batch)."""

    def __init__(self, message: str, kind: Kind, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class InvalidTarget(WatchkeeperError):
    """A forwarder whose URL cannot be used."""


class Endpoint:
    """The HTTP client of one forwarder (made on the first post); ``close`` it when done.
    Raise InvalidTarget when the URL is not http(s)."""

    def __init__(self, config: Forwarder, path: str, timeout: float) -> None:
        try:
            url = httpx.URL(config.url.rstrip("/") + path)
        except httpx.InvalidURL:
            raise InvalidTarget("`url` is not a URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidTarget("`url` must start with http:// or https:// and name a host")
        username, password = config.username, config.password
        if url.username:  # credentials in the URL: used as basic auth, kept out of the URL
            username, password = url.username, url.password
            url = url.copy_with(username=None, password=None)
        self.url = url
        self.display = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        self._headers = {"User-Agent": f"watchkeeper/{__version__}", **config.headers}
        for value in config.headers.values():
            register_secret(value)
        if config.bearer_token:
            register_secret(config.bearer_token)
            self._headers["Authorization"] = f"Bearer {config.bearer_token}"
        self._auth = None
        if username:
            self._auth = httpx.BasicAuth(username, password or "")
            register_secret(password)
            # as an error page echoing the Authorization header would show it
            register_secret(base64.b64encode(f"{username}:{password or ''}".encode()).decode())
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._client: httpx.AsyncClient | None = None

    async def post(self, encoded: Encoded) -> bytes:
        """Post one body; return the body of a 2xx answer. Raise SendError otherwise."""
        headers = {"Content-Type": encoded.content_type}
        body = encoded.body
        if encoded.gzip:
            headers["Content-Encoding"] = "gzip"
            body = gzip.compress(body, compresslevel=5)
        if self._client is None:  # made in the sender's task, closed there
            self._client = httpx.AsyncClient(
                headers=self._headers,
                auth=self._auth,
                timeout=self._timeout,
                follow_redirects=False,
            )
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise SendError(f"{self.display} did not answer in time", "transient") from None
        except httpx.TransportError as exc:
            raise SendError(
                f"cannot reach {self.display}: {type(exc).__name__}", "transient"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return response.content
        raise _error(self.display, response)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def _error(display: str, response: httpx.Response) -> SendError:
    status = response.status_code
    reason = f"{display} answered {status} {response.reason_phrase}"
    if status in (401, 403):
        return SendError(f"{reason}: check the forwarder's credentials", "transient")
    if 300 <= status < 400:
        return SendError(f"{reason} (redirect): use the address it points to", "transient")
    if status == 413:
        return SendError(reason, "too_large")
    # error pages may echo the request's headers: known secrets are masked
    detail = redact(" ".join(response.text[:300].split()))
    if detail:
        reason += f": {detail}"
    if 400 <= status < 500 and status not in PASSING_4XX:
        return SendError(reason, "refused")
    if status >= 500 and status not in GATEWAY:
        return SendError(reason, "limited", retry_after(response))
    return SendError(reason, "transient", retry_after(response))


def retry_after(response: httpx.Response) -> float | None:
    """Return the seconds the answer's Retry-After asks to wait (delay or HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
