"""The Sentry protocol's wire details: DSN keys in requests, DSN strings, compressed bodies
and the rate-limit header.

References: the SDK developer documentation's "Authentication", "Envelopes" and "Rate
Limiting" pages; the errors' texts are what an SDK logs, so they say what to change.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import urlsplit

import cramjam

from watchkeeper.exceptions import WatchkeeperError

SENTRY_AUTH_HEADER = "x-sentry-auth"
EVENT_CATEGORIES = "error;default;security"
"""The data categories a project's event rate limit covers (an SDK stops sending those)."""
_AUTH_PAIR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([^,\s]*)\s*")


class ProtocolError(WatchkeeperError):
    """A request the protocol refuses: ``status`` is the HTTP status to answer (400 for a
    malformed body, 401/403 for keys, 413 for sizes)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_auth(value: str) -> dict[str, str]:
    """Return the pairs of an ``X-Sentry-Auth`` (or ``Authorization: Sentry ...``) value."""
    text = value.strip()
    if text[:7].lower() == "sentry ":
        text = text[7:]
    pairs: dict[str, str] = {}
    for part in text.split(","):
        match = _AUTH_PAIR.fullmatch(part)
        if match:
            pairs[match.group(1)] = match.group(2)
    return pairs


@lru_cache(maxsize=1024)
def _key_in_auth(value: str) -> str | None:
    """The ``sentry_key`` of an auth header value: an SDK sends the same one every time."""
    return parse_auth(value).get("sentry_key") or None


def request_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """Return the DSN public key a request carries in its ``X-Sentry-Auth`` or
    ``Authorization: Sentry`` header, or in the ``sentry_key`` query parameter; None when
    it carries none (an envelope may still name its DSN in its header)."""
    for name in (SENTRY_AUTH_HEADER, "authorization"):
        value = headers.get(name)
        if value and (name == SENTRY_AUTH_HEADER or value.lstrip()[:7].lower() == "sentry "):
            key = _key_in_auth(value) if len(value) <= 512 else parse_auth(value).get("sentry_key")
            if key:
                return key
    return query.get("sentry_key") or None


def key_of_dsn(dsn: object) -> tuple[str, str]:
    """Return ``(public_key, project_id)`` of a DSN string; raise ProtocolError when it is
    not one."""
    if not isinstance(dsn, str):
        raise ProtocolError('the envelope header\'s "dsn" is not a string', 401)
    try:
        parts = urlsplit(dsn)
    except ValueError:
        raise ProtocolError('the envelope header\'s "dsn" is not a URL', 401) from None
    project = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if not parts.username or not project:
        raise ProtocolError(
            'the envelope header\'s "dsn" is not a DSN (http(s)://<key>@<host>/<project id>)',
            401,
        )
    return parts.username, project


def dsn(base_url: str, public_key: str, project_id: int) -> str:
    """Return the DSN an SDK is configured with for a project on the server at
    ``base_url`` (``http(s)://<public_key>@<host:port>[/path]/<project_id>``)."""
    parts = urlsplit(base_url.rstrip("/"))
    return f"{parts.scheme}://{public_key}@{parts.netloc}{parts.path}/{project_id}"


def too_large(limit: int) -> ProtocolError:
    return ProtocolError(f"the request body is larger than {limit} bytes (decompressed)", 413)


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Return ``body`` decoded from its Content-Encoding (gzip, deflate, br, identity);
    raise ProtocolError: 413 when the result would exceed ``limit`` bytes (checked while
    decompressing, so a small bomb cannot fill the memory), 415 for another encoding, 400
    when the body is not what its encoding says."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise too_large(limit)
        return body
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, limit, "gzip")
    if encoding == "deflate":
        # RFC 9110 says zlib-wrapped; some clients send raw deflate: accept both.
        wrapped = len(body) >= 2 and (body[0] * 256 + body[1]) % 31 == 0 and body[0] & 15 == 8
        return _inflate(body, zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS, limit, "deflate")
    if encoding == "br":
        return _unbrotli(body, limit)
    raise ProtocolError(
        f'Content-Encoding "{encoding}" is not supported; use gzip, deflate, br or none', 415
    )


def _inflate(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    engine = zlib.decompressobj(wbits)
    try:
        out = engine.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ProtocolError(f"the body is not valid {name} data ({exc})") from None
    if len(out) > limit:
        raise too_large(limit)
    if not engine.eof:
        raise ProtocolError(f"the {name} body is cut short")
    return out


def _unbrotli(body: bytes, limit: int) -> bytes:
    # cramjam decompresses into a buffer it must not outgrow: start near the usual ratio
    # and grow, so that small bodies do not allocate the whole limit.
    size = min(limit + 1, max(64 * 1024, len(body) * 12))
    while True:
        out = bytearray(size)
        try:
            written = cramjam.brotli.decompress_into(body, out)
        except cramjam.DecompressionError as exc:
            if "whole buffer" not in str(exc):
                raise ProtocolError(f"the body is not valid brotli data ({exc})") from None
            if size > limit:
                raise too_large(limit) from None
            size = min(limit + 1, size * 4)
            continue
        return bytes(out[:written])


def rate_limit_headers(retry_after: int) -> dict[str, str]:
    """The headers of a 429 for a project's event rate limit: ``Retry-After`` and
    ``X-Sentry-Rate-Limits`` (``<seconds>:<categories>:<scope>:<reason>``)."""
    seconds = str(max(1, retry_after))
    return {
        "Retry-After": seconds,
        "X-Sentry-Rate-Limits": f"{seconds}:{EVENT_CATEGORIES}:project:project_quota",
    }
