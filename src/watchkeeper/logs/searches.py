"""Saved log searches and each user's query history (what the log explorer offers back).

Searches belong to the user who saved them; a ``shared`` one is listed for everybody but
only its owner (or an admin) may delete it. The history keeps the last ``HISTORY_SIZE``
distinct queries per user, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.store.tables import LogQueryHistory, LogSavedSearch, User, utcnow

HISTORY_SIZE = 50
MAX_NAME = 200
MAX_QUERY = 20_000
MAX_RANGE = 100


@dataclass(frozen=True)
class SavedSearch:
    id: int
    name: str
    query: str
    time_range: str
    shared: bool
    owner: str
    created_at: datetime


def list_searches(db: Session, user_id: int) -> list[SavedSearch]:
    """The user's own searches and those others shared, by name."""
    rows = db.execute(
        select(LogSavedSearch, User.username)
        .join(User, User.id == LogSavedSearch.user_id)
        .where(or_(LogSavedSearch.user_id == user_id, LogSavedSearch.shared.is_(True)))
        .order_by(LogSavedSearch.name, LogSavedSearch.id)
    ).all()
    return [_view(row, owner) for row, owner in rows]


def _view(row: LogSavedSearch, owner: str) -> SavedSearch:
    return SavedSearch(
        row.id, row.name, row.query, row.time_range, row.shared, owner, row.created_at
    )


def save_search(
    db: Session, user_id: int, name: str, query: str, time_range: str = "", shared: bool = False
) -> SavedSearch:
    """Save a search; raise ValidationFailed naming the bad field. The caller commits."""
    errors = []
    name, query, time_range = name.strip(), query.strip(), time_range.strip()
    if not name or len(name) > MAX_NAME:
        errors.append(("name", f"give a name of 1 to {MAX_NAME} characters"))
    if not query or len(query) > MAX_QUERY:
        errors.append(("query", f"give a query of 1 to {MAX_QUERY:,} characters"))
    if len(time_range) > MAX_RANGE:
        errors.append(("time_range", f"at most {MAX_RANGE} characters"))
    if errors:
        raise ValidationFailed("the search cannot be saved", errors)
    row = LogSavedSearch(
        user_id=user_id, name=name, query=query, time_range=time_range, shared=shared
    )
    db.add(row)
    db.flush()
    owner = db.scalar(select(User.username).where(User.id == user_id)) or ""
    return _view(row, owner)


def delete_search(db: Session, user_id: int, search_id: int, *, admin: bool = False) -> None:
    """Delete one of the user's searches (an admin may delete any); raise NotFoundError."""
    row = db.get(LogSavedSearch, search_id)
    if row is None or (row.user_id != user_id and not (admin and row.shared)):
        raise NotFoundError(f"no saved search {search_id} of yours")
    db.delete(row)


def remember_query(db: Session, user_id: int, query: str) -> None:
    """Put ``query`` on top of the user's history and trim it to HISTORY_SIZE."""
    query = query.strip()
    if not query or len(query) > MAX_QUERY:
        return
    db.execute(
        delete(LogQueryHistory).where(
            LogQueryHistory.user_id == user_id, LogQueryHistory.query == query
        )
    )
    db.add(LogQueryHistory(user_id=user_id, query=query, ran_at=utcnow()))
    db.flush()
    keep = select(LogQueryHistory.id).where(LogQueryHistory.user_id == user_id)
    keep = keep.order_by(LogQueryHistory.ran_at.desc(), LogQueryHistory.id.desc())
    ids = list(db.scalars(keep.limit(HISTORY_SIZE)))
    db.execute(
        delete(LogQueryHistory).where(
            LogQueryHistory.user_id == user_id, LogQueryHistory.id.not_in(ids)
        )
    )


def history(db: Session, user_id: int) -> list[tuple[str, datetime]]:
    """The user's recent queries, newest first: (query, when it ran)."""
    rows = db.execute(
        select(LogQueryHistory.query, LogQueryHistory.ran_at)
        .where(LogQueryHistory.user_id == user_id)
        .order_by(LogQueryHistory.ran_at.desc(), LogQueryHistory.id.desc())
        .limit(HISTORY_SIZE)
    ).all()
    return [(q, at) for q, at in rows]
