"""Tables of MariaDB/MySQL schemas: sizes, estimated rows and fragmentation.

Sizes come from ``information_schema.TABLES`` (InnoDB fills them from its persistent
statistics, refreshed by ANALYZE TABLE or after 10% of the rows changed; MySQL 8 also caches
them for ``information_schema_stats_expiry``). Space ``OPTIMIZE TABLE`` would return is
estimated as ``data_free`` (free extents of the table's own tablespace; for a table in the
shared system tablespace that figure is the whole tablespace's and is not counted) plus, for
InnoDB, the pages its indexes hold but no longer use (``size - n_leaf_pages`` of
``mysql.innodb_index_stats``): after a mass delete InnoDB merges the emptied pages but keeps
them in the index's segment, where ``data_free`` does not see them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from watchkeeper.dbmaint.config import Thresholds
from watchkeeper.dbmaint.interface import Finding
from watchkeeper.dbmaint.mariadb.session import Session, placeholders, quote

_PARTITION = re.compile(r"#p#", re.IGNORECASE)  # t#P#p0: a partition of t


@dataclass
class Table:
    schema: str
    name: str
    engine: str
    rows: int
    data_bytes: int
    index_bytes: int
    data_free: int  # as the server reports it
    row_format: str | None
    created: datetime | None
    updated: datetime | None
    shared_tablespace: bool = False
    unused_page_bytes: int | None = None  # InnoDB: pages its indexes hold but do not use

    @property
    def full_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def total_bytes(self) -> int:
        return self.data_bytes + self.index_bytes

    @property
    def own_free(self) -> int:
        return 0 if self.shared_tablespace else self.data_free

    @property
    def free_bytes(self) -> int:
        """Estimated bytes OPTIMIZE TABLE would return."""
        return self.own_free + (self.unused_page_bytes or 0)

    @property
    def free_ratio(self) -> float:
        allocated = self.total_bytes + self.own_free
        return min(1.0, self.free_bytes / allocated) if allocated else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.full_name,
            "engine": self.engine,
            "rows": self.rows,
            "rows_estimated": self.engine.lower() == "innodb",
            "size_bytes": self.data_bytes,
            "index_bytes": self.index_bytes,
            "total_bytes": self.total_bytes,
            "data_free_bytes": self.data_free,
            "unused_page_bytes": self.unused_page_bytes,
            "bloat_bytes": self.free_bytes,
            "bloat_ratio": round(self.free_ratio, 4),
            "shared_tablespace": self.shared_tablespace,
            "row_format": self.row_format,
            "created": self.created.isoformat() if self.created else None,
            "updated": self.updated.isoformat() if self.updated else None,
        }


def read_tables(session: Session, schemas: list[str], names: Sequence[str] = ()) -> list[Table]:
    """Return the base tables of ``schemas`` (only those named ``names``, when given),
    largest first."""
    only = f"AND TABLE_NAME IN ({placeholders(names)}) " if names else ""
    rows = session.rows(
        "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, ENGINE AS engine, TABLE_ROWS AS n, "
        "DATA_LENGTH AS data, INDEX_LENGTH AS idx, DATA_FREE AS free, "
        "ROW_FORMAT AS row_format, CREATE_TIME AS created, UPDATE_TIME AS updated "
        "FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA IN ({placeholders(schemas)}) {only}"
        "AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')",
        [*schemas, *names],
    )
    tables = [
        Table(
            schema=str(r["s"]),
            name=str(r["t"]),
            engine=str(r["engine"] or ""),
            rows=int(r["n"] or 0),
            data_bytes=int(r["data"] or 0),
            index_bytes=int(r["idx"] or 0),
            data_free=int(r["free"] or 0),
            row_format=r["row_format"],
            created=r["created"] if isinstance(r["created"], datetime) else None,
            updated=r["updated"] if isinstance(r["updated"], datetime) else None,
        )
        for r in rows
    ]
    tables.sort(key=lambda t: (-t.total_bytes, t.full_name))
    return tables


def read_index_pages(
    session: Session, schemas: list[str], page_size: int, names: Sequence[str] = ()
) -> dict[tuple[str, str, str], tuple[int, int]]:
    """Return (size, leaf) bytes per InnoDB index (schema, table, index), partitions
    summed, from ``mysql.innodb_index_stats`` (of the tables ``names`` only, when given);
    raise pymysql.MySQLError if unreadable."""
    only, params = "", [*schemas]
    if names:  # a table, or its partitions (t#P#p0)
        only = "AND (" + " OR ".join(["table_name = %s OR table_name LIKE %s"] * len(names)) + ") "
        for name in names:
            params += [name, _like_prefix(name) + "#%"]
    rows = session.rows(
        "SELECT database_name AS s, table_name AS t, index_name AS i, stat_name AS k, "
        "stat_value AS v FROM mysql.innodb_index_stats "
        f"WHERE database_name IN ({placeholders(schemas)}) {only}"
        "AND stat_name IN ('size', 'n_leaf_pages')",
        params,
    )
    pages: dict[tuple[str, str, str], list[int]] = {}
    for r in rows:
        key = (str(r["s"]), _PARTITION.split(str(r["t"]))[0], str(r["i"]))
        if names and key[1] not in names:
            continue
        slot = pages.setdefault(key, [0, 0])
        slot[0 if r["k"] == "size" else 1] += int(r["v"] or 0)
    return {k: (size * page_size, leaf * page_size) for k, (size, leaf) in pages.items()}


def add_unused_pages(
    tables: list[Table], pages: dict[tuple[str, str, str], tuple[int, int]]
) -> None:
    """Set each InnoDB table's ``unused_page_bytes`` from its indexes' pages."""
    unused: dict[tuple[str, str], int] = {}
    for (schema, table, _), (size, leaf) in pages.items():
        unused[(schema, table)] = unused.get((schema, table), 0) + max(0, size - leaf)
    for t in tables:
        if t.engine.lower() == "innodb" and (t.schema, t.name) in unused:
            t.unused_page_bytes = unused[(t.schema, t.name)]


def mark_shared_tablespaces(session: Session, tables: list[Table], schemas: list[str]) -> None:
    """Flag InnoDB tables that live in a shared tablespace (their ``data_free`` is the
    tablespace's); raise pymysql.MySQLError if the InnoDB dictionary is unreadable."""
    source = "INNODB_TABLES" if session.server.mysql8 else "INNODB_SYS_TABLES"
    likes = " OR ".join(["NAME LIKE %s"] * len(schemas))
    patterns = [_like_prefix(s) + "/%" for s in schemas]
    rows = session.rows(
        f"SELECT NAME AS n, SPACE_TYPE AS st FROM information_schema.{source} WHERE {likes}",
        patterns,
    )
    shared = {str(r["n"]) for r in rows if str(r["st"] or "").lower() in ("system", "general")}
    for t in tables:
        if f"{t.schema}/{t.name}" in shared:
            t.shared_tablespace = True


def read_reclaimable(
    session: Session, schemas: list[str], page_size: int, names: Sequence[str] = ()
) -> tuple[list[Table], dict[tuple[str, str, str], tuple[int, int]]]:
    """Return the base tables of ``schemas`` (only ``names``, when given) with the space
    OPTIMIZE TABLE would return (:attr:`Table.free_bytes`: ``data_free`` of their own
    tablespace and their indexes' unused pages), and the (size, leaf) bytes of their InnoDB
    indexes. The health collection and the maintenance planner both read them here, so
    the table a finding names is the table the task optimizes. A part the server refuses
    is left out with a note; raise pymysql.MySQLError if the tables cannot be listed."""
    tables = read_tables(session, schemas, names)
    pages = (
        session.optional(
            "index sizes (mysql.innodb_index_stats)",
            lambda: read_index_pages(session, schemas, page_size, names),
        )
        or {}
    )
    add_unused_pages(tables, pages)
    if any(t.engine.lower() == "innodb" and t.data_free for t in tables):
        session.optional(
            "tablespaces (InnoDB dictionary)",
            lambda: mark_shared_tablespaces(session, tables, schemas),
        )
    return tables, pages


def fragmented(table: Table, thresholds: Thresholds) -> bool:
    """True when the table's reclaimable space passes ``fragmentation_ratio`` and
    ``bloat_min_size`` (it then has a finding, and an optimize task takes it)."""
    free = table.free_bytes
    return bool(
        free
        and table.free_ratio >= thresholds.fragmentation_ratio
        and free >= thresholds.bloat_min_size
    )


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fragmentation(table: Table, thresholds: Thresholds) -> Finding | None:
    """A finding when the table's reclaimable space passes both thresholds."""
    free, ratio = table.free_bytes, table.free_ratio
    if not fragmented(table, thresholds):
        return None
    parts = [f"data_free {human_bytes(table.own_free)}"]
    if table.unused_page_bytes:
        parts.append(
            f"{human_bytes(table.unused_page_bytes)} of index pages allocated but not in use"
        )
    return Finding(
        key=f"fragmentation:{table.full_name}",
        kind="fragmentation",
        severity="warning",
        title=f"Table {table.full_name}: {human_bytes(free)} reclaimable ({ratio:.0%})",
        evidence=f"{' and '.join(parts)}, of {human_bytes(table.total_bytes + table.own_free)} "
        f"allocated ({table.engine}, ~{table.rows:,} rows); OPTIMIZE TABLE rebuilds it"
        + (" online (short locks at start and end)" if table.engine.lower() == "innodb" else ""),
        sql=f"OPTIMIZE TABLE {quote(table.schema)}.{quote(table.name)}",
        object=table.full_name,
        impact_bytes=free,
    )


def human_bytes(value: float) -> str:
    """Return ``value`` bytes in binary units ("16.0 GiB")."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    size, unit = float(value), 0
    while size >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size:.1f} {units[unit]}" if unit else f"{int(size)} B"
