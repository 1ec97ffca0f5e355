"""What the collector read, as typed records: the server, tables, indexes, statements,
sessions. Built from the rows of :mod:`watchkeeper.dbmaint.postgres.queries`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from watchkeeper.dbmaint.postgres.bloat import (
    BTREE_FILLFACTOR,
    HEAP_FILLFACTOR,
    Bloat,
    Widths,
)

_WIDE = re.compile(r"64-bit|x86_64|ppc64|ia64|amd64|aarch64|arm64|s390x|mingw32")
_UNITS = {"B": 1, "kB": 1024, "8kB": 8192, "16kB": 16384, "32kB": 32768, "MB": 1024**2}
_TIME_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def reloptions(options: list[str] | None) -> dict[str, str]:
    """``pg_class.reloptions`` (``["fillfactor=70", ...]``) as a dict."""
    result: dict[str, str] = {}
    for option in options or []:
        key, _, value = option.partition("=")
        result[key] = value
    return result


def maxalign_of(version_text: str) -> int:
    """MAXALIGN of the server ``version()`` describes: 8 on 64-bit builds, else 4."""
    return 8 if _WIDE.search(version_text) else 4


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def widths_of(row: dict[str, Any]) -> Widths:
    """A row of :func:`watchkeeper.dbmaint.postgres.queries.widths`."""
    return Widths(
        columns=int(row["natts"]),
        with_stats=int(row["nstats"]),
        null_frac=float(row["null_frac"]),
        width=float(row["width"]),
        has_name=bool(row["has_name"]),
    )


@dataclass
class Server:
    """The server and the database, from the ``server`` statement."""

    row: dict[str, Any]

    @property
    def database(self) -> str:
        return str(self.row["database"])

    @property
    def maxalign(self) -> int:
        return maxalign_of(str(self.row["version_text"]))

    @property
    def block_size(self) -> int:
        return int(self.row["block_size"])

    @property
    def extensions(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = self.row.get("extensions") or {}
        return found

    def setting(self, name: str) -> str | None:
        """The raw ``pg_settings.setting`` of ``name`` (None when hidden or unknown)."""
        entry = (self.row.get("settings") or {}).get(name)
        return None if entry is None else str(entry["setting"])

    def number(self, name: str, default: float = 0.0) -> float:
        value = self.setting(name)
        try:
            return float(value) if value is not None else default
        except ValueError:
            return default

    def bytes_setting(self, name: str) -> int | None:
        """A memory or size setting in bytes."""
        entry = (self.row.get("settings") or {}).get(name)
        if entry is None or entry.get("unit") not in _UNITS:
            return None
        return int(float(entry["setting"]) * _UNITS[entry["unit"]])

    def shown(self) -> dict[str, str]:
        """Settings as ``SHOW`` would print them (sizes and times with units)."""
        shown: dict[str, str] = {}
        for name, entry in sorted((self.row.get("settings") or {}).items()):
            setting, unit = str(entry["setting"]), entry.get("unit")
            if unit in _UNITS and setting.lstrip("-").isdigit() and int(setting) >= 0:
                shown[name] = _size_text(int(setting) * _UNITS[unit])
            elif unit in _TIME_UNITS and setting.lstrip("-").isdigit() and int(setting) >= 0:
                shown[name] = _time_text(int(setting) * _TIME_UNITS[unit])
            else:
                shown[name] = setting
        return shown


def _size_text(size: int) -> str:
    for unit, factor in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def _time_text(seconds: float) -> str:
    if seconds == 0:
        return "0"
    for unit, factor in (("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if seconds % factor == 0:
            return f"{int(seconds // factor)}{unit}"
    return f"{round(seconds * 1000)}ms"


@dataclass
class Table:
    """One user table or materialised view."""

    oid: int
    name: str  # schema.table (plain, for keys and labels)
    qname: str  # quoted for SQL
    relname: str
    kind: str  # r or m
    pages: int
    tuples: float  # pg_class.reltuples (-1: never vacuumed or analysed)
    toast_pages: int
    toast_tuples: float
    options: dict[str, str]
    xid_age: int
    size_bytes: int
    live: int
    dead: int
    modified: int  # n_mod_since_analyze
    seq_scan: int
    seq_tup_read: int
    idx_scan: int | None  # None: the table has no index
    inserted: int
    updated: int
    deleted: int
    hot_updated: int
    last_vacuum: datetime | None
    last_autovacuum: datetime | None
    last_analyze: datetime | None
    last_autoanalyze: datetime | None
    vacuum_count: int
    autovacuum_count: int
    analyze_count: int
    autoanalyze_count: int
    index_bytes: int = 0
    size_exact: bool = False  # measured, not pg_class.relpages
    widths: Widths | None = None
    bloat: Bloat | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Table:
        return cls(
            oid=int(row["oid"]),
            name=f"{row['schema']}.{row['name']}",
            qname=str(row["qname"]),
            relname=str(row["name"]),
            kind=str(row["relkind"]),
            pages=_int(row["relpages"]),
            tuples=float(row["reltuples"]),
            toast_pages=_int(row["toast_pages"]),
            toast_tuples=float(row["toast_tuples"]),
            options=reloptions(row["reloptions"]),
            xid_age=_int(row["xid_age"]),
            size_bytes=_int(row["size_bytes"]),
            live=_int(row["n_live_tup"]),
            dead=_int(row["n_dead_tup"]),
            modified=_int(row["n_mod_since_analyze"]),
            seq_scan=_int(row["seq_scan"]),
            seq_tup_read=_int(row["seq_tup_read"]),
            idx_scan=None if row["idx_scan"] is None else int(row["idx_scan"]),
            inserted=_int(row["n_tup_ins"]),
            updated=_int(row["n_tup_upd"]),
            deleted=_int(row["n_tup_del"]),
            hot_updated=_int(row["n_tup_hot_upd"]),
            last_vacuum=row["last_vacuum"],
            last_autovacuum=row["last_autovacuum"],
            last_analyze=row["last_analyze"],
            last_autoanalyze=row["last_autoanalyze"],
            vacuum_count=_int(row["vacuum_count"]),
            autovacuum_count=_int(row["autovacuum_count"]),
            analyze_count=_int(row["analyze_count"]),
            autoanalyze_count=_int(row["autoanalyze_count"]),
        )

    @property
    def fillfactor(self) -> int:
        return int(self.options.get("fillfactor", HEAP_FILLFACTOR))

    @property
    def autovacuum_enabled(self) -> bool:
        return self.options.get("autovacuum_enabled", "true").lower() not in ("false", "off")

    @property
    def total_bytes(self) -> int:
        return self.size_bytes + self.index_bytes

    @property
    def rows(self) -> int:
        """Live rows: the statistics' count, else the planner's estimate."""
        if self.live or self.dead or self.tuples < 0:
            return self.live
        return int(self.tuples)

    @property
    def size_unknown(self) -> bool:
        """``relpages`` has not been set yet (never vacuumed nor analysed) though the
        table has rows: its size must be measured."""
        return self.tuples < 0 or (self.pages == 0 and self.live + self.dead > 0)

    @property
    def dead_ratio(self) -> float:
        total = self.live + self.dead
        return self.dead / total if total else 0.0

    def last_vacuumed(self) -> datetime | None:
        return _latest(self.last_vacuum, self.last_autovacuum)

    def last_analysed(self) -> datetime | None:
        return _latest(self.last_analyze, self.last_autoanalyze)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "materialized view" if self.kind == "m" else "table",
            "rows": self.rows,
            "dead_tuples": self.dead,
            "dead_ratio": round(self.dead_ratio, 4),
            "modified_since_analyze": self.modified,
            "size_bytes": self.size_bytes,
            "index_bytes": self.index_bytes,
            "total_bytes": self.total_bytes,
            "size_exact": self.size_exact,
            "bloat_bytes": self.bloat.bytes if self.bloat else None,
            "bloat_ratio": round(self.bloat.ratio, 4) if self.bloat else None,
            "bloat_source": self.bloat.source if self.bloat else None,
            "last_vacuum": iso(self.last_vacuum),
            "last_autovacuum": iso(self.last_autovacuum),
            "last_analyze": iso(self.last_analyze),
            "last_autoanalyze": iso(self.last_autoanalyze),
            "vacuum_count": self.vacuum_count,
            "autovacuum_count": self.autovacuum_count,
            "analyze_count": self.analyze_count,
            "autoanalyze_count": self.autoanalyze_count,
            "seq_scan": self.seq_scan,
            "seq_tup_read": self.seq_tup_read,
            "idx_scan": self.idx_scan,
            "inserted": self.inserted,
            "updated": self.updated,
            "hot_updated": self.hot_updated,
            "deleted": self.deleted,
            "xid_age": self.xid_age,
            "autovacuum_enabled": self.autovacuum_enabled,
            "fillfactor": self.fillfactor,
        }


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


@dataclass
class Index:
    """One index of a user table."""

    oid: int
    table_oid: int
    name: str  # schema.index
    qname: str
    relname: str
    table: str  # schema.table
    table_qname: str
    method: str
    unique: bool
    primary: bool
    valid: bool
    ready: bool
    exclusion: bool
    signature: tuple[str, ...]  # what makes two indexes of a table the same
    pages: int
    tuples: float
    options: dict[str, str]
    size_bytes: int
    scans: int
    tuples_read: int
    last_scan: datetime | None
    constraint: str | None  # the primary key / unique / exclusion constraint it backs
    fk_referenced: bool  # a foreign key depends on it
    building: bool  # CREATE INDEX (CONCURRENTLY) is running on it
    definition: str = ""  # read for the indexes shown only
    size_exact: bool = False
    widths: Widths | None = None
    bloat: Bloat | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Index:
        return cls(
            oid=int(row["oid"]),
            table_oid=int(row["table_oid"]),
            name=f"{row['schema']}.{row['name']}",
            qname=str(row["qname"]),
            relname=str(row["name"]),
            table=str(row["table_name"]),
            table_qname=str(row["table_qname"]),
            method=str(row["method"]),
            unique=bool(row["is_unique"]),
            primary=bool(row["is_primary"]),
            valid=bool(row["valid"]),
            ready=bool(row["ready"]),
            exclusion=bool(row["exclusion"]),
            signature=(
                str(row["table_oid"]),
                str(row["method"]),
                str(row["columns"]),
                str(row["opclasses"]),
                str(row["collations"]),
                str(row["options"]),
                str(row["exprs"] or ""),
                str(row["predicate"] or ""),
            ),
            pages=_int(row["relpages"]),
            tuples=float(row["reltuples"]),
            options=reloptions(row["reloptions"]),
            size_bytes=_int(row["size_bytes"]),
            scans=_int(row["idx_scan"]),
            tuples_read=_int(row["idx_tup_read"]),
            last_scan=row["last_scan"],
            constraint=row["conname"],
            fk_referenced=bool(row["fk_referenced"]),
            building=bool(row["building"]),
        )

    @property
    def fillfactor(self) -> int:
        return int(self.options.get("fillfactor", BTREE_FILLFACTOR))

    @property
    def has_expressions(self) -> bool:
        return bool(self.signature[6])

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": self.table,
            "method": self.method,
            "size_bytes": self.size_bytes,
            "size_exact": self.size_exact,
            "scans": self.scans,
            "tuples_read": self.tuples_read,
            "last_scan": iso(self.last_scan),
            "unique": self.unique,
            "primary": self.primary,
            "valid": self.valid,
            "constraint": self.constraint,
            "bloat_bytes": self.bloat.bytes if self.bloat else None,
            "bloat_ratio": round(self.bloat.ratio, 4) if self.bloat else None,
            "bloat_source": self.bloat.source if self.bloat else None,
            "definition": self.definition,
        }


@dataclass(frozen=True)
class Statement:
    """One normalised statement of ``pg_stat_statements``, summed over users."""

    queryid: str
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    blocks_read: int
    blocks_hit: int
    temp_blocks_written: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Statement:
        return cls(
            queryid=str(row["queryid"]),
            query=str(row["query"] or ""),
            calls=_int(row["calls"]),
            total_ms=float(row["total_ms"] or 0.0),
            mean_ms=float(row["mean_ms"] or 0.0),
            rows=_int(row["rows"]),
            blocks_read=_int(row["blocks_read"]),
            blocks_hit=_int(row["blocks_hit"]),
            temp_blocks_written=_int(row["temp_blocks_written"]),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "queryid": self.queryid,
            "query": self.query[:2000],
            "calls": self.calls,
            "total_ms": round(self.total_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "rows": self.rows,
            "blocks_read": self.blocks_read,
            "blocks_hit": self.blocks_hit,
            "temp_blocks_written": self.temp_blocks_written,
        }


@dataclass(frozen=True)
class Session:
    """A backend from ``pg_stat_activity`` worth showing."""

    pid: int
    database: str | None
    user: str | None
    application: str
    client: str | None
    state: str
    wait: str  # "Lock:transactionid" or ""
    query: str
    xact_s: float | None  # age of its transaction
    state_s: float | None  # time in its current state
    query_s: float | None
    xmin_age: int | None
    blocked_by: tuple[int, ...] = field(default=())

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Session:
        wait = ":".join(p for p in (row.get("wait_event_type"), row.get("wait_event")) if p)
        return cls(
            pid=int(row["pid"]),
            database=row.get("datname"),
            user=row.get("usename"),
            application=str(row.get("application_name") or ""),
            client=row.get("client"),
            state=str(row.get("state") or ""),
            wait=wait,
            query=str(row.get("query") or ""),
            xact_s=row.get("xact_s"),
            state_s=row.get("state_s"),
            query_s=row.get("query_s"),
            xmin_age=row.get("xmin_age"),
            blocked_by=tuple(int(p) for p in row.get("blocked_by") or ()),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "database": self.database,
            "user": self.user,
            "application": self.application,
            "client": self.client,
            "state": self.state,
            "wait": self.wait,
            "transaction_seconds": _round(self.xact_s),
            "state_seconds": _round(self.state_s),
            "query_seconds": _round(self.query_s),
            "xmin_age": self.xmin_age,
            "blocked_by": list(self.blocked_by),
            "query": self.query,
        }


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
