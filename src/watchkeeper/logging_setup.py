"""Structured logging with secret redaction.

Every handler Watchkeeper installs runs records through :class:`RedactingFilter`, which masks
values registered with :func:`register_secret` and ``password=…``/``token=…``-style pairs, so a
secret that slips into a message or an exception never reaches a log sink.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

MASK = "********"
_SECRET_PAIR = re.compile(
    r"(?i)(?P<key>[\"']?\b[\w-]*(?:password|passwd|secret|token|api[_-]?key|authorization)"
    r"[\w-]*[\"']?\s*[=:]\s*)(?P<scheme>(?:bearer|basic|token)\s+)?"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;}\]]+)"
)
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):([^/\s@]+)@")
_API_TOKEN = re.compile(r"\b(wk_[0-9a-f]{8}_)[A-Za-z0-9_-]{43}")  # see auth/tokens.py
_known: set[str] = set()
_lock = threading.Lock()
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


def register_secret(value: str | None) -> None:
    """Make ``value`` be masked wherever it appears in a log line (ignored if shorter than 6)."""
    if value and len(value) >= 6:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """Return ``text`` with known secrets, credential pairs and URL passwords masked."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    text = _URL_CREDENTIALS.sub(rf"\1:{MASK}@", text)
    text = _API_TOKEN.sub(rf"\1{MASK}", text)
    return _SECRET_PAIR.sub(_mask_pair, text)


def _mask_pair(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('key')}{match.group('scheme') or ''}{quote}{MASK}{quote}"


class SecretUrls(logging.Filter):
    """Replace secret URLs (an incoming webhook's URL is its key, a vulnerability mirror's
    may hold a token) in log records by a form that says which URL it was without its secret,
    such as the ``HTTP Request: POST <url>`` line httpx logs for every request. Installed on
    the ``httpx`` logger as :data:`SECRET_URLS`; the senders add their URL before a request.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, tuple[str, int]] = {}  # url -> (shown instead, times added)
        self._lock = threading.Lock()

    def add(self, url: str, shown: str | None = None) -> None:
        """Mask ``url``, as written and as httpx writes it, by ``shown`` (default: its scheme,
        host and port followed by the mask) until as many :meth:`remove` calls."""
        if not url:
            return
        forms, parsed = _url_forms(url)
        if shown is None:
            shown = MASK
            if parsed is not None:
                port = f":{parsed.port}" if parsed.port else ""
                shown = f"{parsed.scheme}://{parsed.host}{port}/{MASK}"
        with self._lock:
            for form in forms:
                self._shown[form] = (shown, self._shown.get(form, ("", 0))[1] + 1)

    def remove(self, url: str) -> None:
        """Undo one :meth:`add` of ``url``."""
        with self._lock:
            for form in _url_forms(url)[0]:
                shown, count = self._shown.pop(form, ("", 0))
                if count > 1:
                    self._shown[form] = (shown, count - 1)

    def mask(self, text: str) -> str:
        """Return ``text`` with every secret URL replaced (the longest first)."""
        with self._lock:
            found = [(url, shown) for url, (shown, _) in self._shown.items() if url in text]
        for url, shown in sorted(found, key=lambda pair: len(pair[0]), reverse=True):
            text = text.replace(url, shown)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = self.mask(text)
        if masked != text:
            record.msg, record.args = masked, None
        return True


def _url_forms(url: str) -> tuple[set[str], httpx.URL | None]:
    """``url`` as written and as httpx writes it in its log lines (just as written when
    httpx cannot read it), and the parsed URL."""
    import httpx  # here: the CLI imports this module on every start, httpx is heavier

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return {url}, None
    return {url, str(parsed)}, parsed


SECRET_URLS = SecretUrls()
logging.getLogger("httpx").addFilter(SECRET_URLS)


class RedactingFilter(logging.Filter):
    """Render the record's message once, redacted, so no formatter sees raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, plus any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                doc[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_text:
            doc["exc"] = record.exc_text
        # msg and exc were redacted by RedactingFilter, extras just above: redacting the
        # encoded line again could cut through JSON syntax.
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extras = {
            k: v
            for k, v in record.__dict__.items()
            if k not in _STANDARD_ATTRS and not k.startswith("_")
        }
        line = super().format(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return redact(line)


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Install one stderr handler on the root logger with redaction and the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_watchkeeper", False):
            root.removeHandler(old)
    handler._watchkeeper = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    if level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # one INFO line per HTTP request (checks, scrapes, notifications) is noise, and the
        # URLs may hold keys; Watchkeeper logs the outcomes itself
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
