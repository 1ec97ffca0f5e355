"""One event from an SDK made ready for storage: validated, scrubbed, grouped, compressed.

Only what cannot be repaired is refused (a payload that is not a JSON object, an
``event_id`` that is not a UUID); a bad timestamp or level is replaced, as Sentry does.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import zstandard

from watchkeeper.errors.grouping import Grouping, group
from watchkeeper.errors.protocol import ProtocolError
from watchkeeper.errors.scrub import Scrubber

LEVELS = {
    "fatal": "fatal",
    "critical": "fatal",
    "error": "error",
    "warning": "warning",
    "warn": "warning",
    "info": "info",
    "log": "info",
    "debug": "debug",
}
CLOCK_SKEW = timedelta(minutes=1)
"""An event stamped later than this after its arrival gets its arrival time."""
_HEX_ID = re.compile(r"^[0-9a-fA-F]{32}$")
AUTO_IP = "{{auto}}"
_local = threading.local()


def _codec() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    """This thread's zstd (de)compressor: they are not thread-safe."""
    pair: tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor] | None = getattr(
        _local, "zstd", None
    )
    if pair is None:
        pair = (zstandard.ZstdCompressor(level=1), zstandard.ZstdDecompressor())
        _local.zstd = pair
    return pair


@dataclass(frozen=True)
class PreparedEvent:
    """An event as the writer stores it."""

    project_id: int
    event_id: str
    grouping: Grouping
    received_at: datetime
    occurred_at: datetime
    level: str
    release: str | None
    environment: str | None
    user_hash: str | None
    payload: bytes  # the scrubbed event as JSON (the writer compresses it)


def loads(raw: bytes) -> Any:
    """Parse JSON with orjson (fast), or the standard library for what orjson refuses
    but JSON allows (integers past 64 bits); raise ValueError when it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def dumps(value: Any) -> bytes:
    """Serialise JSON with orjson, or the standard library for integers past 64 bits."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def decode_event(raw: bytes, where: str) -> dict[str, Any]:
    """Return the event JSON object in ``raw``; raise ProtocolError naming ``where``."""
    try:
        event = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{where}: the event is not valid JSON ({exc})") from None
    if not isinstance(event, dict):
        raise ProtocolError(f"{where}: the event is not a JSON object")
    return event


def event_id_of(value: Any, where: str) -> str | None:
    """Return ``value`` as 32 lower-case hex digits (None when absent); raise ProtocolError
    when it is not a UUID."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if _HEX_ID.match(value):
            return value.lower()
        try:
            return uuid.UUID(value).hex
        except ValueError:
            pass
    shown = str(value)[:64]
    raise ProtocolError(f'{where}: event_id "{shown}" is not a UUID (32 hex digits)')


def occurred_at(value: Any, received: datetime, oldest: timedelta) -> datetime:
    """Return the event's time from its ``timestamp`` (Unix seconds or RFC 3339), or
    ``received`` when it has none, cannot be read, is in the future or older than ``oldest``."""
    when: datetime | None = None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            when = datetime.fromtimestamp(float(value), UTC)
        elif isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value.replace("z", "Z"))
            when = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        when = None
    if when is None or when > received + CLOCK_SKEW or when < received - oldest:
        return received
    return when


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)[:limit]
    return None


def user_hash(project_id: int, user: Any) -> str | None:
    """Return a hash standing for the event's user (id, user name, e-mail or IP address,
    in that order); None when the event names none."""
    if not isinstance(user, dict):
        return None
    for key in ("id", "username", "email", "ip_address"):
        value = _text(user.get(key), 1000)
        if value and value != AUTO_IP:
            digest = hashlib.sha256(f"{project_id}\x1f{key}\x1f{value}".encode())
            return digest.hexdigest()[:32]
    return None


def prepare_event(
    event: dict[str, Any],
    *,
    project_id: int,
    event_id: str,
    scrubber: Scrubber,
    received: datetime,
    oldest: timedelta,
    client_ip: str,
) -> PreparedEvent:
    """Return ``event`` ready for storage: scrubbed, grouped and compressed."""
    event["event_id"] = event_id
    user = event.get("user")
    if isinstance(user, dict) and user.get("ip_address") == AUTO_IP:
        # Browser SDKs ask the server to fill in the address the event came from.
        user["ip_address"] = client_ip or None
    clean = scrubber.event(event)
    level = LEVELS.get(str(clean.get("level", "error")).lower(), "error")
    clean["level"] = level
    when = occurred_at(clean.get("timestamp"), received, oldest)
    clean["timestamp"] = when.timestamp()
    payload = dumps(clean)
    return PreparedEvent(
        project_id=project_id,
        event_id=event_id,
        grouping=group(clean),
        received_at=received,
        occurred_at=when,
        level=level,
        release=_text(clean.get("release"), 200),
        environment=_text(clean.get("environment"), 64),
        user_hash=user_hash(project_id, user),
        payload=payload,
    )


def compress_payload(payload: bytes) -> bytes:
    """Return an event's JSON as stored (zstd). Done by the writer's thread: zstd lets go of
    the GIL, and on the event loop's thread getting it back can cost milliseconds."""
    return _codec()[0].compress(payload)


def load_payload(payload: bytes) -> dict[str, Any]:
    """Return a stored event (the inverse of :func:`compress_payload`)."""
    event: dict[str, Any] = loads(_codec()[1].decompress(payload))
    return event
