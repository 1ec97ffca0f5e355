"""A cheap token that changes whenever the stored objects of one kind change.

The check runner and the alert evaluator look for new, changed and removed checks every few
seconds. Reading and decoding ten thousand stored specs each time costs tens of megabytes
of short-lived objects (and the heap fragmentation they leave); this token costs one indexed
aggregate query, so they read the specs only when it moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.store.tables import StoredObject

KindVersion = tuple[Any, ...]
T = TypeVar("T")


def kind_version(db: Session, kind: str) -> KindVersion:
    """The number of objects of ``kind``, their highest id and latest ``updated_at``.

    An added object raises the count, the highest id or (where the database reuses a freed
    id) the latest ``updated_at``; a removed one lowers the count; a changed one moves the
    latest ``updated_at``, which every write of a spec sets (ORM and Core updates alike;
    re-sealing a spec under a new key keeps the decoded spec, and its ``updated_at``).
    """
    row = db.execute(
        select(func.count(), func.max(StoredObject.id), func.max(StoredObject.updated_at)).where(
            StoredObject.kind == kind
        )
    ).one()
    return tuple(row)


class KindCache(Generic[T]):
    """What ``compute`` makes of the stored objects of ``kind``, made again only when
    :func:`kind_version` moved since the last time."""

    def __init__(self, kind: str, compute: Callable[[Session], T]) -> None:
        self._kind = kind
        self._compute = compute
        self._cached: tuple[KindVersion, T] | None = None

    def get(self, db: Session) -> T:
        version = kind_version(db, self._kind)
        if self._cached is None or self._cached[0] != version:
            self._cached = (version, self._compute(db))
        return self._cached[1]
