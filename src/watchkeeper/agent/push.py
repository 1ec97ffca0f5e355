"""Send a batch to the server, and decide what a failure means.

A failure is permanent only when the server refused the batch itself (400, 413, 415, 422:
sending the same body again cannot help), and the batch is dropped. Anything else keeps the
batch spooled for a later retry: the server is away, overloaded or asks to wait (408, 429,
5xx, connection errors, timeouts), or the request did not reach the right place or was not
allowed (401, 403 after a token expired or a role changed, 404 or 405 from a proxy during a
deploy) — outages the spool exists to ride out; refused credentials are logged as errors.
The token is only ever in the Authorization header: never in an error.
"""

from __future__ import annotations

import random
from typing import Any

import httpx

from watchkeeper import __version__
from watchkeeper.agent.wire import PushResult
from watchkeeper.exceptions import WatchkeeperError

PUSH_PATH = "/api/v1/agent/push"
LOGS_PATH = "/api/v1/logs"
BODY_REFUSED = frozenset({400, 413, 415, 422})


class PushFailed(WatchkeeperError):
    """The batch was not stored; ``permanent`` says whether sending it again could work.
    ``retry_after`` is the server's Retry-After, in seconds, when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        refused_credentials: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.refused_credentials = refused_credentials
        self.retry_after = retry_after
        self.status = status


class Pusher:
    """An HTTP client for one server; ``close`` it when done."""

    def __init__(self, server: str, token: str, timeout: float = 30.0) -> None:
        self.server = server.rstrip("/")
        self.url = self.server + PUSH_PATH
        self._client = httpx.AsyncClient(
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"watchkeeper-agent/{__version__}",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
        )

    async def send(self, body: bytes) -> PushResult:
        """Post one batch of metrics; return the server's answer. Raise PushFailed
        otherwise."""
        response = await self._post(self.url, body, "application/json")
        try:
            return PushResult.model_validate_json(response.content)
        except ValueError:
            # Stored all the same: an answer we cannot read must not make us resend.
            return PushResult(accepted=0, duplicates=0, series_created=0)

    async def send_logs(self, body: bytes) -> None:
        """Post one batch of log lines (gzip-compressed NDJSON); return once the server
        stored it. Raise PushFailed otherwise."""
        await self._request(
            "POST",
            self.server + LOGS_PATH,
            content=body,
            headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
        )

    async def post_gzip_json(self, path: str, body: bytes) -> object:
        """Post a gzip-compressed JSON ``body`` to ``path``; return the JSON answer (None
        when it has none). Raise PushFailed as ``send`` does."""
        response = await self._request(
            "POST",
            self.server + path,
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        try:
            return response.json()
        except ValueError:
            return None  # stored all the same

    async def get_json(self, path: str, params: dict[str, str]) -> object:
        """Return the JSON answer of ``GET path``; raise PushFailed as ``send`` does (and
        a permanent one for an answer that is not JSON)."""
        response = await self._request("GET", self.server + path, params=params)
        try:
            return response.json()
        except ValueError:
            raise PushFailed(f"{self.server}{path} answered with no JSON", permanent=True) from None

    async def _post(self, url: str, body: bytes, content_type: str) -> httpx.Response:
        return await self._request(
            "POST", url, content=body, headers={"Content-Type": content_type}
        )

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise PushFailed(f"{self.server} did not answer in time") from None
        except httpx.TransportError as exc:
            raise PushFailed(f"cannot reach {self.server}: {type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        reason = f"{self.server} answered {status} {response.reason_phrase}: {_detail(response)}"
        permanent = status in BODY_REFUSED
        if 300 <= status < 400:
            location = response.headers.get("location", "")
            reason = f"{self.server} redirects to {location}; use that address as --server"
            permanent = True
        raise PushFailed(
            reason,
            permanent=permanent,
            refused_credentials=status in (401, 403),
            retry_after=_retry_after(response),
            status=status,
        )

    async def close(self) -> None:
        await self._client.aclose()


def _detail(response: httpx.Response) -> str:
    """The problem+json ``detail`` (and field errors), or the start of a plain-text body."""
    try:
        doc = response.json()
    except ValueError:
        return response.text[:200].strip() or "(no detail)"
    if not isinstance(doc, dict):
        return "(no detail)"
    detail = str(doc.get("detail", "(no detail)"))
    errors = doc.get("errors")
    if isinstance(errors, list) and errors:
        shown = "; ".join(
            f"{e.get('field')}: {e.get('message')}" for e in errors[:5] if isinstance(e, dict)
        )
        detail += f" ({shown})"
    return detail


def _retry_after(response: httpx.Response) -> float | None:
    try:
        value = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


class Backoff:
    """Exponential back-off with jitter: 1, 2, 4 … seconds (up to ``maximum``), each
    randomly shortened by up to half, so that many agents do not retry in step."""

    def __init__(self, initial: float = 1.0, maximum: float = 60.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0

    def next_delay(self, at_least: float | None = None) -> float:
        """Return how long to wait before the next attempt, and count this failure."""
        base = min(self.maximum, self.initial * 2.0 ** min(self.failures, 30))
        self.failures += 1
        delay = base * random.uniform(0.5, 1.0)
        return max(delay, min(at_least, self.maximum)) if at_least is not None else delay

    def reset(self) -> None:
        self.failures = 0
