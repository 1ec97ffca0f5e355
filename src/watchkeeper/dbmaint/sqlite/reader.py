"""Read-only access to a SQLite file for the health collection.

The file is opened through a ``mode=ro`` URI, so the collection never writes the database
(on a WAL database with no ``-wal`` file, SQLite itself creates the empty ``-wal``/``-shm``
pair any reader needs; the database file is not touched). Every statement runs under a
deadline enforced by a progress handler: a long ``integrity_check`` is interrupted, not
waited for.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchkeeper.dbmaint.interface import DbError

PROGRESS_STEPS = 10_000  # virtual-machine instructions between deadline checks


class Interrupted(Exception):
    """A statement ran past its deadline and was stopped."""


@dataclass
class Reader:
    """An open read-only connection to ``path``; every statement is cut at ``timeout_s``,
    and at ``until`` (a ``time.monotonic()`` value: the whole collection's end) if set."""

    path: Path
    timeout_s: float
    until: float | None = None
    queries: int = 0
    _conn: sqlite3.Connection | None = field(default=None, repr=False)
    _deadline: float = 0.0

    def open(self) -> None:
        """Open the file read-only; raise DbError if it is missing or not a database."""
        if not self.path.is_file():
            raise DbError(f"SQLite database {self.path} does not exist")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, timeout=self.timeout_s)
            self._conn.set_progress_handler(self._past_deadline, PROGRESS_STEPS)
            self.one("SELECT count(*) FROM sqlite_master")
        except Interrupted:
            self.close()
            raise DbError(
                f"SQLite database {self.path}: its schema was not read within {self.timeout_s:g}s"
            ) from None
        except sqlite3.Error as exc:
            self.close()
            raise DbError(f"cannot read SQLite database {self.path}: {exc}") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Return the rows of ``sql``; raise Interrupted past the deadline, sqlite3.Error
        when SQLite refuses it."""
        if self._conn is None:
            raise DbError(f"SQLite database {self.path} is not open")
        self.queries += 1
        self._deadline = time.monotonic() + self.timeout_s
        if self.until is not None:
            self._deadline = min(self._deadline, self.until)
        try:
            return list(self._conn.execute(sql, params).fetchall())
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise Interrupted(sql) from None
            raise

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Return the first value of the first row of ``sql`` (None when there is none)."""
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
