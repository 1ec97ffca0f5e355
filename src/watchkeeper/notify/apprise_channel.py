"""Apprise channel: the long tail of services (Discord, Matrix, Signal, Pushover, …) through
the ``apprise`` package, one Apprise URL per destination.

Apprise URLs carry their service's credentials in any part (``tgram://TOKEN/CHAT``), so they
are secrets whole: errors never quote them, and records of the loggers of apprise and of
urllib3 (which its HTTP client logs through) have the parts of every URL configured here
masked before any handler sees them. Apprise reports a failure without a reason, so a
failure is transient (its own warnings, masked, say more); a retry notifies every URL again,
those that succeeded included.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import quote, unquote, unquote_plus

import httpx
from pydantic import Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from watchkeeper.logging_setup import MASK
from watchkeeper.notify.common import headline
from watchkeeper.notify.interface import ChannelConfig, DeliveryError, Notification

if TYPE_CHECKING:
    import apprise

LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry")
MIN_PART = 6
_HOST = re.compile(r"^(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}$|^\d{1,3}(?:\.\d{1,3}){3}$")
_SPLIT = re.compile(r"[/:@,;\s]+")
_TYPES = {"critical": "failure", "warning": "warning", "info": "info"}


def url_parts(url: str) -> set[str]:
    """Return the parts of ``url`` that may be secret (as written, decoded and re-encoded):
    user, password, path segments, query values; host names and short parts are left."""
    rest = url.partition("://")[2]
    where, _, tail = rest.partition("?")
    query, _, fragment = tail.partition("#")
    pieces = [p for p in _SPLIT.split(where) if not _HOST.match(p)]
    pieces += [pair.partition("=")[2] for pair in query.split("&")]
    pieces.append(fragment)
    found: set[str] = set()
    for piece in pieces:
        for form in (piece, unquote(piece), unquote_plus(piece)):
            found.update((form, quote(form, safe="")))
    return {p for p in found if len(p) >= MIN_PART}


class _Scrub(logging.Filter):
    """Mask the parts of configured Apprise URLs; drop records of a thread that is only
    checking URLs (apprise logs each URL it cannot parse as an error)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._parts: list[str] = []
        self.quiet = threading.local()

    def remember(self, url: str) -> None:
        with self._lock:
            known = set(self._parts) | url_parts(url)
            self._parts = sorted(known, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for part in self._parts:
            if part in text:
                text = text.replace(part, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self.quiet, "on", False):
            return False
        record.msg, record.args = self.mask(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        record.exc_info = None
        return True


_SCRUB = _Scrub()
_ready_lock = threading.Lock()
_ready = False


def _apprise() -> None:
    """Install the log filter and load apprise's plugins, once. Some plugins import
    deprecated modules (``imghdr``): their warnings are about apprise, not about us."""
    global _ready
    with _ready_lock:
        if _ready:
            return
        for name in LOGGERS:
            logging.getLogger(name).addFilter(_SCRUB)
        from apprise.plugins import N_MGR

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            N_MGR.load_modules()  # type: ignore[no-untyped-call]
        _ready = True


def _instance() -> apprise.Apprise:
    import apprise

    return apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))


@contextmanager
def _quiet() -> Iterator[None]:
    _SCRUB.quiet.on = True
    try:
        yield
    finally:
        _SCRUB.quiet.on = False


def accepts(url: str) -> bool:
    """Return True when Apprise can use ``url`` (a known service, all parts well formed)."""
    _apprise()
    _SCRUB.remember(url)
    with _quiet():
        probe = _instance()
        return bool(probe.add(url)) and len(probe) == 1


class AppriseConfig(ChannelConfig):
    type: Literal["apprise"] = Field(description="`apprise`.")
    urls: list[str] = Field(
        min_length=1,
        description="Apprise URLs, one per destination (`discord://…`, `tgram://…`, "
        "`mailto://…`; see the Apprise wiki); secrets: write them as `${VAR}` or `!file`.",
    )
    format: Literal["text", "markdown", "html"] = Field(
        "text",
        description="How the message text is written: `text`, `markdown` (Apprise converts "
        "it for services that want HTML) or `html` (the rendered HTML body).",
    )

    @field_validator("urls")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        # Each bad entry is reported at its own index with input None: the plan loader
        # quotes an error's input, and these URLs are secrets.
        urls = [url.strip() for url in value]
        errors = [
            InitErrorDetails(type=_unusable(url), loc=(i,), input=None)
            for i, url in enumerate(urls)
            if not accepts(url)
        ]
        if errors:
            raise ValidationError.from_exception_data("urls", errors)
        return urls


def _unusable(url: str) -> PydanticCustomError:
    scheme = url.partition("://")[0]
    known = "://" in url and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,30}", scheme)
    what = f"a {scheme}:// URL but not one" if known else "not a URL"
    return PydanticCustomError(
        "apprise_url",
        "{what} that Apprise can use (unknown service, or parts missing or malformed; "
        "one URL per entry)",
        {"what": what},
    )


def _deliver(
    urls: list[str], title: str, body: str, body_format: str, kind: str, timeout: float
) -> int:
    """Notify every URL; return how many failed."""
    target = _instance()
    added = sum(1 for url in urls if target.add(url))
    if not added:
        return len(urls)
    result = target.notify(
        body=body, title=title, body_format=body_format, notify_type=kind, timeout=timeout
    )
    return 0 if result and added == len(urls) else len(urls) - result.success_count


class AppriseChannel:
    name = "apprise"
    description = (
        "Any of the 100+ services Apprise supports (Discord, Matrix, Signal, Pushover, "
        "Gotify, …), each given as an Apprise URL."
    )
    config_model: ClassVar[type[ChannelConfig]] = AppriseConfig

    async def send(
        self, config: AppriseConfig, message: Notification, http: httpx.AsyncClient
    ) -> None:
        _apprise()
        for url in config.urls:
            _SCRUB.remember(url)
        title = headline(message)
        body, body_format = message.text or title, config.format
        if config.format == "html":
            body, body_format = (message.html, "html") if message.html else (body, "text")
        kind = "success" if message.status == "resolved" else _TYPES.get(message.severity, "info")
        failed = await asyncio.to_thread(
            _deliver,
            config.urls,
            title,
            body,
            body_format,
            kind,
            config.timeout.total_seconds(),
        )
        if failed:
            raise DeliveryError(f"apprise: delivery failed for {failed} of {len(config.urls)} URLs")
