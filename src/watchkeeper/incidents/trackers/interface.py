"""The bug-tracker plugin interface: the issue an incident asks for, what the tracker gives
back, the one error every tracker raises, and the registry keyed by the plan's ``type:``.

A tracker is one module with one class (``github.py``, ``gitlab.py``, ``jira.py``,
``webhook.py``). It turns a :class:`NewIssue` into its service's request and reads an issue's
status back. Failures are a :class:`TrackerError` whose message names the tracker and says
whether trying again can help; it never holds the tracker's token (nor a webhook's URL, which
can be a credential itself).
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

import httpx

from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.incidents.config import Tracker
from watchkeeper.logging_setup import MASK

MESSAGE_LIMIT = 200  # characters of the service's own error message kept in ours


@dataclass(frozen=True)
class TimelineLine:
    """One entry of the incident's timeline, as the issue shows it."""

    at: datetime
    actor: str
    kind: str
    text: str


@dataclass(frozen=True)
class NewIssue:
    """The issue to open for an incident; ``body`` is Markdown (Jira converts it)."""

    title: str
    body: str
    incident_id: int
    incident_title: str
    incident_url: str
    severity: str
    status: str
    team: str
    services: tuple[str, ...]
    opened_at: datetime
    timeline: tuple[TimelineLine, ...] = ()


@dataclass(frozen=True)
class Created:
    """The issue the tracker opened: its id there, its web page and its status."""

    external_id: str
    url: str
    status: str


class TrackerError(WatchkeeperError):
    """A tracker request failed. ``permanent``: the tracker refused it (a 4xx: bad token,
    unknown project, invalid field) and repeating it cannot help; otherwise (5xx, timeout,
    no connection) trying again later may."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class TrackerType(Protocol):
    """A tracker plugin: describes itself, opens issues, reads their status."""

    name: str  # the plan's `type:`
    title: str  # how messages name the service ("GitHub")
    description: str
    syncs_status: ClassVar[bool]  # False: status() is never called, the last status stays

    async def create(self, config: Tracker, issue: NewIssue, http: httpx.AsyncClient) -> Created:
        """Open ``issue``; return it as the tracker knows it, raise TrackerError otherwise."""
        ...

    async def status(self, config: Tracker, external_id: str, http: httpx.AsyncClient) -> str:
        """Return the issue's current status ("open", "closed", "Done", ...); raise
        TrackerError when the tracker cannot say."""
        ...


registry: dict[str, TrackerType] = {}
"""The built-in trackers by type name (filled by the package's ``__init__``)."""


def register(plugin: TrackerType) -> TrackerType:
    """Add ``plugin`` to the registry under its name; return it."""
    registry[plugin.name] = plugin
    return plugin


def label(plugin: TrackerType, config: Tracker) -> str:
    """How messages name one configured tracker: ``GitHub tracker "gh"``."""
    return f'{plugin.title} tracker "{config.name}"'


# --- keeping secrets out of messages and log lines -----------------------------------------


def secrets_of(config: Tracker) -> list[tuple[str, str]]:
    """(secret, replacement) pairs for ``config``: the token, the Basic credentials made
    from it, and a webhook's URL (its path and query can be the key)."""
    pairs: list[tuple[str, str]] = []
    if config.token:
        pairs.append((config.token, MASK))
        basic = base64.b64encode(f"{config.user}:{config.token}".encode()).decode()
        pairs.append((basic, MASK))
    if config.type == "webhook":
        try:
            url = httpx.URL(config.url)
            port = f":{url.port}" if url.port else ""
            shown = f"{url.scheme}://{url.host}{port}/{MASK}"
            pairs += [(config.url, shown), (str(url), shown)]
        except (httpx.InvalidURL, TypeError, ValueError):
            pairs.append((config.url, MASK))
    return sorted(pairs, key=lambda p: len(p[0]), reverse=True)


def mask(text: str, config: Tracker) -> str:
    """Return ``text`` with the secrets of ``config`` replaced."""
    for secret, shown in secrets_of(config):
        if secret:
            text = text.replace(secret, shown)
    return text


class _MaskLogRecords(logging.Filter):
    """Mask the secrets of the trackers in use in httpx's log lines (``HTTP Request: POST
    <url>``: a webhook's URL is its key)."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: dict[str, str] = {}
        self.lock = threading.Lock()

    def add(self, config: Tracker) -> None:
        with self.lock:
            self.pairs.update(secrets_of(config))

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
            pairs = sorted(self.pairs.items(), key=lambda p: len(p[0]), reverse=True)
        text = record.getMessage()
        masked = text
        for secret, shown in pairs:
            if secret and secret in masked:
                masked = masked.replace(secret, shown)
        if masked != text:
            record.msg, record.args = masked, None
        return True


_log_mask = _MaskLogRecords()
logging.getLogger("httpx").addFilter(_log_mask)


# --- requests and answers ------------------------------------------------------------------


def service_message(response: httpx.Response) -> str:
    """The service's own explanation of an error answer, on one line (may be empty).

    Knows GitHub (``message`` + ``errors``), GitLab (``message`` as text or per field,
    ``error``) and Jira (``errorMessages`` + ``errors`` per field); else the body's text.
    """
    try:
        data: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        data = None
    parts: list[str] = []
    if isinstance(data, dict):
        message = data.get("message")
        if isinstance(message, str):
            parts.append(message)
        elif isinstance(message, dict):
            parts += [f"{k}: {_text(v)}" for k, v in message.items()]
        for key in ("error", "error_description", "detail"):
            if isinstance(data.get(key), str):
                parts.append(data[key])
        if isinstance(data.get("errorMessages"), list):
            parts += [str(m) for m in data["errorMessages"]]
        errors = data.get("errors")
        if isinstance(errors, dict):  # Jira: {field: message}
            parts += [f"{k}: {_text(v)}" for k, v in errors.items()]
        elif isinstance(errors, list):  # GitHub: [{resource, field, code} | {message}]
            for item in errors:
                if isinstance(item, dict):
                    text = item.get("message") or " ".join(
                        str(item[k]) for k in ("field", "code") if item.get(k)
                    )
                    parts.append(str(text))
                else:
                    parts.append(str(item))
    if not parts and data is None:
        parts.append(response.text)
    text = " ".join("; ".join(p.strip() for p in parts if p.strip()).split())
    return text[:MESSAGE_LIMIT] + ("…" if len(text) > MESSAGE_LIMIT else "")


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _hint(code: int) -> str:
    if code in (401, 403):
        return " (check the tracker's token and what it may do)"
    if code == 404:
        return " (check the tracker's url and project)"
    return ""


def raise_for_answer(response: httpx.Response, config: Tracker, who: str, what: str) -> None:
    """Raise TrackerError unless ``response`` is a 2xx: 429 and 5xx say "try again later",
    other codes are permanent (with the service's message, masked and truncated)."""
    code = response.status_code
    if 200 <= code < 300:
        return
    detail = mask(service_message(response), config)
    said = f": {detail}" if detail else ""
    if code == 429 or code >= 500:
        raise TrackerError(
            f"{who} could not {what} (HTTP {code}{said}); try again later", permanent=False
        )
    raise TrackerError(f"{who} refused to {what}: HTTP {code}{said}{_hint(code)}", permanent=True)


async def call(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    config: Tracker,
    who: str,
    what: str,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request to the tracker with its timeout; return the 2xx response, raise
    TrackerError for anything else (messages masked)."""
    _log_mask.add(config)
    seconds = config.timeout.total_seconds()
    try:
        response = await http.request(method, url, timeout=seconds, **kwargs)
    except httpx.TimeoutException:
        raise TrackerError(
            f"{who} did not answer within {seconds:g}s; try again later", permanent=False
        ) from None
    except httpx.HTTPError as exc:
        reason = mask(str(exc), config)[:MESSAGE_LIMIT] or type(exc).__name__
        raise TrackerError(
            f"{who} could not be reached ({reason}); try again later", permanent=False
        ) from None
    raise_for_answer(response, config, who, what)
    return response


def json_object(response: httpx.Response, config: Tracker, who: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; TrackerError when it is something else."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        shown = mask(" ".join(response.text.split())[:80], config)
        raise TrackerError(
            f"{who} answered HTTP {response.status_code} without a JSON object ({shown!r})",
            permanent=True,
        )
    return data


def field_of(data: dict[str, Any], key: str, who: str) -> str:
    """``data[key]`` as text; TrackerError naming the field when it is missing."""
    value = data.get(key)
    if value is None or value == "" or isinstance(value, dict | list):
        raise TrackerError(f"{who} answered without `{key}`", permanent=True)
    return str(value)
