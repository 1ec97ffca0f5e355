"""Signed, expiring links that act on an incident from inside a notification.

A link carries the incident, the action, who it was sent to and when it expires, signed with
HMAC-SHA256 under a key derived from the server's secret key. It needs no session: the
signature is the credential, so it is only ever sent to the person paged. Opening it shows a
confirmation page; the action happens on its POST (mail scanners follow GET links).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from watchkeeper.exceptions import WatchkeeperError

Action = Literal["ack", "resolve"]
ACTIONS: tuple[Action, ...] = ("ack", "resolve")


class LinkError(WatchkeeperError):
    """The link is malformed, forged, or expired."""


@dataclass(frozen=True)
class LinkClaim:
    incident_id: int
    action: Action
    person: str
    expires_at: datetime
    cycle: int = 0  # the escalation run it was sent in: a reopened incident's are stale


def _key(secret_key: str) -> bytes:
    return hashlib.sha256(b"watchkeeper-incident-links-v1:" + secret_key.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(
    secret_key: str,
    incident_id: int,
    action: Action,
    person: str,
    ttl: timedelta,
    now: datetime | None = None,
    cycle: int = 0,
) -> str:
    """Return the token for ``action`` on the incident by ``person``, valid for ``ttl`` and
    for the escalation run ``cycle`` (its start, in epoch seconds)."""
    expires = int(((now or datetime.now(UTC)) + ttl).timestamp())
    data = {"i": incident_id, "a": action, "p": person, "e": expires, "r": cycle}
    body = _b64(json.dumps(data).encode())
    mac = hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(secret_key: str, token: str, now: datetime | None = None) -> LinkClaim:
    """Return what the token allows; raise LinkError when it is forged, bad or expired."""
    try:
        body, mac = token.split(".", 1)
        good = hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(good, _unb64(mac)):
            raise LinkError("this link is not valid (it was changed or not made here)")
        data = json.loads(_unb64(body))
        claim = LinkClaim(
            int(data["i"]),
            data["a"],
            str(data["p"]),
            datetime.fromtimestamp(int(data["e"]), UTC),
            int(data.get("r", 0)),
        )
    except LinkError:
        raise
    except (ValueError, KeyError, TypeError):
        raise LinkError("this link is not valid") from None
    if claim.action not in ACTIONS:
        raise LinkError("this link is not valid")
    if (now or datetime.now(UTC)) >= claim.expires_at:
        raise LinkError("this link has expired; open the incident in Watchkeeper instead")
    return claim
