"""Indexes of MariaDB/MySQL schemas: sizes, use, duplicates and unused ones.

Definitions come from ``information_schema.STATISTICS``; sizes from
``mysql.innodb_index_stats`` (InnoDB only); use from
``performance_schema.table_io_waits_summary_by_index_usage``, which counts since the server
started. An index is reported unused only when the server has been up
:data:`UNUSED_MIN_UPTIME_S`, its table was used meanwhile (so the counters were kept), and
it is neither the primary key nor unique. An index is a duplicate when its columns are a
leading part of another index of the same kind on the same table (and it does not enforce
uniqueness the other does not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from watchkeeper.dbmaint.config import Thresholds
from watchkeeper.dbmaint.interface import Finding
from watchkeeper.dbmaint.mariadb.session import Session, placeholders, quote
from watchkeeper.dbmaint.mariadb.tables import human_bytes

UNUSED_MIN_UPTIME_S = 7 * 86_400
"""Counters younger than this say too little: an index for a weekly report looks unused."""

Usage = dict[tuple[str, str, str | None], int]  # (schema, table, index or None): io count


@dataclass
class Index:
    schema: str
    table: str
    name: str
    unique: bool
    kind: str  # BTREE, HASH, FULLTEXT, SPATIAL, ...
    columns: list[tuple[str, int | None]] = field(default_factory=list)  # (column, prefix)
    expression: bool = False  # MySQL 8 functional key part: not compared
    size_bytes: int | None = None
    scans: int | None = None

    @property
    def primary(self) -> bool:
        return self.name == "PRIMARY"

    @property
    def table_name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def full_name(self) -> str:
        return f"{self.schema}.{self.table}.{self.name}"

    @property
    def definition(self) -> str:
        cols = ", ".join(quote(c) + (f"({p})" if p else "") for c, p in self.columns)
        head = (
            "PRIMARY KEY"
            if self.primary
            else f"{'UNIQUE ' if self.unique else ''}KEY {quote(self.name)}"
        )
        if self.kind in ("FULLTEXT", "SPATIAL"):
            head = f"{self.kind} {head}"
        return f"{head} ({cols})" + (" USING HASH" if self.kind == "HASH" else "")

    def drop_sql(self) -> str:
        return f"ALTER TABLE {quote(self.schema)}.{quote(self.table)} DROP INDEX {quote(self.name)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": self.table_name,
            "size_bytes": self.size_bytes,
            "scans": self.scans,
            "unique": self.unique,
            "primary": self.primary,
            "valid": True,
            "type": self.kind,
            "columns": [c for c, _ in self.columns],
            "definition": self.definition,
        }


def read_indexes(session: Session, schemas: list[str]) -> list[Index]:
    """Return every index of ``schemas`` with its columns in order."""
    expression = "EXPRESSION" if session.server.mysql8 else "NULL"
    rows = session.rows(
        "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, INDEX_NAME AS i, NON_UNIQUE AS nu, "
        "COLUMN_NAME AS c, SUB_PART AS sp, INDEX_TYPE AS ty, "
        f"{expression} AS ex FROM information_schema.STATISTICS "
        f"WHERE TABLE_SCHEMA IN ({placeholders(schemas)}) "
        "ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        schemas,
    )
    indexes: dict[tuple[str, str, str], Index] = {}
    for r in rows:
        key = (str(r["s"]), str(r["t"]), str(r["i"]))
        index = indexes.get(key)
        if index is None:
            index = Index(*key, unique=not int(r["nu"]), kind=str(r["ty"] or "BTREE").upper())
            indexes[key] = index
        if r["c"] is None:
            index.expression = True
            index.columns.append((f"({r['ex'] or 'expression'})", None))
        else:
            index.columns.append((str(r["c"]), int(r["sp"]) if r["sp"] is not None else None))
    return list(indexes.values())


def read_usage(session: Session, schemas: list[str]) -> Usage | None:
    """Return io counts per index (None: the table's io without one) since the server
    started; None when the instrument is off; raise pymysql.MySQLError if unreadable."""
    enabled = session.value(
        "SELECT ENABLED AS e FROM performance_schema.setup_instruments "
        "WHERE NAME = 'wait/io/table/sql/handler'"
    )
    if str(enabled or "").upper() != "YES":
        return None
    rows = session.rows(
        "SELECT OBJECT_SCHEMA AS s, OBJECT_NAME AS t, INDEX_NAME AS i, COUNT_STAR AS n "
        "FROM performance_schema.table_io_waits_summary_by_index_usage "
        f"WHERE OBJECT_TYPE = 'TABLE' AND OBJECT_SCHEMA IN ({placeholders(schemas)})",
        schemas,
    )
    return {
        (str(r["s"]), str(r["t"]), None if r["i"] is None else str(r["i"])): int(r["n"] or 0)
        for r in rows
    }


def duplicates(indexes: list[Index]) -> list[tuple[Index, Index]]:
    """Return (redundant, covering) pairs: each redundant index once, with the index that
    makes it so."""
    by_table: dict[tuple[str, str], list[Index]] = {}
    for index in indexes:
        by_table.setdefault((index.schema, index.table), []).append(index)
    found: list[tuple[Index, Index]] = []
    for group in by_table.values():
        for a in sorted(group, key=lambda i: i.name):
            cover = next((b for b in group if _covers(b, a)), None)
            if cover is not None:
                found.append((a, cover))
    return found


def _covers(b: Index, a: Index) -> bool:
    """Whether ``b`` makes ``a`` redundant (``a`` is the one to drop)."""
    if a is b or a.primary or a.expression or b.expression or a.kind != b.kind:
        return False
    if a.kind in ("FULLTEXT", "SPATIAL", "HASH") and a.columns != b.columns:
        return False
    if a.columns != b.columns[: len(a.columns)]:
        return False
    if a.unique and not (b.unique and a.columns == b.columns):
        return False  # a enforces a uniqueness b does not
    if a.columns == b.columns and a.unique == b.unique and not b.primary:
        return a.name > b.name  # identical twins: keep the first by name
    return True


def duplicate_finding(a: Index, b: Index) -> Finding:
    cols = ", ".join(c for c, _ in a.columns)
    size = f" ({human_bytes(a.size_bytes)})" if a.size_bytes else ""
    same = "the same columns as" if a.columns == b.columns else "a leading part of"
    return Finding(
        key=f"duplicate_index:{a.full_name}",
        kind="duplicate_index",
        severity="warning",
        title=f"Duplicate index {a.name} on {a.table_name}{size}",
        evidence=f"its columns ({cols}) are {same} {b.definition}, which serves the same "
        "lookups; every write still maintains both",
        sql=a.drop_sql(),
        object=a.full_name,
        impact_bytes=a.size_bytes or 0,
    )


def unused(
    indexes: list[Index], usage: Usage, uptime_s: int, thresholds: Thresholds
) -> list[Finding]:
    """Findings for indexes not used since the server started (see the module doc)."""
    if uptime_s < UNUSED_MIN_UPTIME_S:
        return []
    table_io: dict[tuple[str, str], int] = {}
    for (schema, table, _), n in usage.items():
        table_io[(schema, table)] = table_io.get((schema, table), 0) + n
    days = uptime_s // 86_400
    found = []
    for index in indexes:
        used = usage.get((index.schema, index.table, index.name))
        if index.primary or index.unique or used is None or used > 0:
            continue
        if not table_io.get((index.schema, index.table)):
            continue
        if (index.size_bytes or 0) < thresholds.unused_index_min_size:
            continue
        size = f" ({human_bytes(index.size_bytes)})" if index.size_bytes else ""
        found.append(
            Finding(
                key=f"unused_index:{index.full_name}",
                kind="unused_index",
                severity="warning",
                title=f"Unused index {index.name} on {index.table_name}{size}",
                evidence=f"no read or write through it in the {days} days since the server "
                f"started, while {index.table_name} saw "
                f"{table_io[(index.schema, index.table)]:,} operations "
                "(performance_schema table io)",
                sql=index.drop_sql(),
                object=index.full_name,
                impact_bytes=index.size_bytes or 0,
            )
        )
    return found
