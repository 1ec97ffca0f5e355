"""Silences: mute the alerts matching a set of label matchers for a while.

A silence is pending before ``starts_at``, active until ``ends_at``, expired after. Creating
and expiring one is recorded in the audit trail in the caller's transaction; the caller
commits. The dispatcher asks :func:`active_silences` once per pass and :func:`silenced_by`
per alert.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.matchers import MatcherError, format_matcher, matches, parse_matcher
from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.metrics.labels import Matcher
from watchkeeper.store.tables import Silence, utcnow

log = logging.getLogger(__name__)
State = Literal["active", "pending", "expired"]
STATES: tuple[State, ...] = ("active", "pending", "expired")
MAX_MATCHERS = 50
MAX_COMMENT = 1000
MAX_AUTHOR = 128
MAX_LENGTH = timedelta(days=366)
NEW_SILENCE_PATH = "/alerts/silences/new"


@dataclass(frozen=True)
class SilenceView:
    id: str
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime
    state: State


@dataclass(frozen=True)
class ActiveSilence:
    """An active silence with its matchers parsed, for the dispatcher."""

    id: str
    matchers: tuple[Matcher, ...]


def state_at(starts_at: datetime, ends_at: datetime, now: datetime) -> State:
    """Return the state of a silence spanning ``starts_at``..``ends_at`` at ``now``."""
    if ends_at <= now:
        return "expired"
    return "pending" if starts_at > now else "active"


def _view(row: Silence, now: datetime) -> SilenceView:
    return SilenceView(
        id=row.id,
        matchers=list(row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
        created_at=row.created_at,
        updated_at=row.updated_at,
        state=state_at(row.starts_at, row.ends_at, now),
    )


def check_matchers(texts: Sequence[str]) -> tuple[list[Matcher], list[tuple[str, str]]]:
    """Parse ``texts``; return the matchers and the problems as ``(field, message)``.

    Blank lines are ignored. As in Alertmanager, at least one matcher is needed and not
    every matcher may match the empty string (that would silence every alert)."""
    parsed: list[Matcher] = []
    errors: list[tuple[str, str]] = []
    for i, text in enumerate(texts):
        if not text.strip():
            continue
        try:
            parsed.append(parse_matcher(text.strip()))
        except MatcherError as exc:
            errors.append((f"matchers[{i}]", str(exc)))
    if errors:
        return parsed, errors
    if not parsed:
        errors.append(("matchers", 'give at least one label matcher, e.g. alertname="DiskFull"'))
    elif len(parsed) > MAX_MATCHERS:
        errors.append(("matchers", f"give at most {MAX_MATCHERS} matchers"))
    elif all(m.matches_empty() for m in parsed):
        errors.append(
            (
                "matchers",
                "every matcher also matches an empty label, so the silence would mute every "
                'alert; add one that needs a value, e.g. alertname="DiskFull"',
            )
        )
    return parsed, errors


def check_silence(
    matchers: Sequence[str],
    *,
    starts_at: datetime,
    ends_at: datetime | None,
    comment: str,
    created_by: str,
    now: datetime,
) -> tuple[list[Matcher], list[tuple[str, str]]]:
    """Return the parsed matchers and every problem of a new silence as ``(field, message)``
    with the fields ``matchers[i]``, ``matchers``, ``startsAt``, ``endsAt``, ``comment`` and
    ``createdBy``."""
    parsed, errors = check_matchers(matchers)
    if starts_at.tzinfo is None:
        errors.append(("startsAt", "give a time zone (e.g. 2026-01-31T12:00:00Z)"))
    if ends_at is None:
        errors.append(("endsAt", "give an end time or a duration"))
    elif ends_at.tzinfo is None:
        errors.append(("endsAt", "give a time zone (e.g. 2026-01-31T14:00:00Z)"))
    elif starts_at.tzinfo is not None:
        if ends_at <= starts_at:
            errors.append(("endsAt", "must be after the start"))
        elif ends_at <= now:
            errors.append(("endsAt", "is in the past"))
        elif ends_at - starts_at > MAX_LENGTH:
            errors.append(("endsAt", "a silence lasts at most 366 days"))
    comment, created_by = comment.strip(), created_by.strip()
    if not comment:
        errors.append(("comment", "say why the alerts are silenced"))
    elif len(comment) > MAX_COMMENT:
        errors.append(("comment", f"must be at most {MAX_COMMENT} characters"))
    if not created_by:
        errors.append(("createdBy", "name the author"))
    elif len(created_by) > MAX_AUTHOR:
        errors.append(("createdBy", f"must be at most {MAX_AUTHOR} characters"))
    return parsed, errors


def create_silence(
    db: Session,
    actor: Actor,
    matchers: Sequence[str],
    *,
    ends_at: datetime | None,
    comment: str,
    created_by: str,
    starts_at: datetime | None = None,
    now: datetime | None = None,
) -> SilenceView:
    """Create a silence from matchers written as text (``starts_at`` defaults to now).

    Raise ValidationFailed naming every bad field (see :func:`check_silence`)."""
    now = now or utcnow()
    start = starts_at or now
    parsed, errors = check_silence(
        matchers,
        starts_at=start,
        ends_at=ends_at,
        comment=comment,
        created_by=created_by,
        now=now,
    )
    if errors:
        raise ValidationFailed("the silence is not valid", errors)
    comment, created_by = comment.strip(), created_by.strip()
    assert ends_at is not None
    row = Silence(
        id=str(uuid.uuid4()),
        matchers=[format_matcher(m) for m in parsed],
        starts_at=start,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        created_at=now,
        updated_at=now,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor,
        "silence.create",
        f"silence/{row.id}",
        {
            "matchers": row.matchers,
            "starts_at": start.isoformat(),
            "ends_at": ends_at.isoformat(),
            "created_by": created_by,
            "comment": comment,
        },
    )
    return _view(row, now)


def _get(db: Session, silence_id: str) -> Silence:
    row = db.get(Silence, silence_id) if len(silence_id) <= 36 else None
    if row is None:
        raise NotFoundError(f'no silence "{silence_id}"')
    return row


def get_silence(db: Session, silence_id: str, now: datetime | None = None) -> SilenceView:
    """Return one silence; raise NotFoundError if there is none with that id."""
    return _view(_get(db, silence_id), now or utcnow())


def expire_silence(
    db: Session, actor: Actor, silence_id: str, now: datetime | None = None
) -> SilenceView:
    """End a silence now (a pending one never starts); raise NotFoundError for an unknown
    id and ConflictError if it has expired already."""
    now = now or utcnow()
    row = _get(db, silence_id)
    before = state_at(row.starts_at, row.ends_at, now)
    if before == "expired":
        raise ConflictError(f"silence {silence_id} has already expired")
    row.ends_at = now
    if row.starts_at > now:
        row.starts_at = now
    row.updated_at = now
    db.flush()
    audit.record(
        db,
        actor,
        "silence.expire",
        f"silence/{row.id}",
        {"matchers": list(row.matchers), "was": before},
    )
    return _view(row, now)


def list_silences(
    db: Session, state: State | None = None, *, now: datetime | None = None, limit: int = 200
) -> list[SilenceView]:
    """Return silences in ``state`` (all when None): active ones ending soonest first,
    pending ones starting soonest first, then the most recently expired (at most ``limit``
    of those)."""
    now = now or utcnow()
    out: list[SilenceView] = []
    if state in (None, "active"):
        query = (
            select(Silence)
            .where(Silence.starts_at <= now, Silence.ends_at > now)
            .order_by(Silence.ends_at, Silence.id)
        )
        out += [_view(r, now) for r in db.scalars(query)]
    if state in (None, "pending"):
        query = select(Silence).where(Silence.starts_at > now).order_by(Silence.starts_at)
        out += [_view(r, now) for r in db.scalars(query)]
    if state in (None, "expired"):
        query = (
            select(Silence)
            .where(Silence.ends_at <= now)
            .order_by(Silence.ends_at.desc(), Silence.id)
            .limit(limit)
        )
        out += [_view(r, now) for r in db.scalars(query)]
    return out


def active_silences(db: Session, now: datetime | None = None) -> list[ActiveSilence]:
    """Return the silences active at ``now`` with their matchers parsed."""
    now = now or utcnow()
    found = []
    rows = db.execute(
        select(Silence.id, Silence.matchers).where(Silence.starts_at <= now, Silence.ends_at > now)
    )
    for silence_id, texts in rows:
        try:
            found.append(ActiveSilence(silence_id, tuple(parse_matcher(t) for t in texts)))
        except MatcherError as exc:  # stored before a stricter parser: skip, never mute all
            log.warning("silence %s has a matcher that no longer parses: %s", silence_id, exc)
    return found


def silenced_by(labels: Mapping[str, str], silences: Iterable[ActiveSilence]) -> list[str]:
    """Return the ids of the silences whose matchers all match ``labels``."""
    return [s.id for s in silences if s.matchers and matches(labels, s.matchers)]


def new_silence_path(labels: Mapping[str, str]) -> str:
    """Return the path of the new-silence form prefilled with one equality matcher per label."""
    query = urlencode(
        [("matcher", format_matcher(Matcher(k, "=", v))) for k, v in sorted(labels.items())]
    )
    return f"{NEW_SILENCE_PATH}?{query}" if query else NEW_SILENCE_PATH
