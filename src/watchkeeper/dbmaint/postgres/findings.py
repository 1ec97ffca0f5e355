"""Findings about storage and queries: tables that need VACUUM or ANALYZE, bloat, unused,
duplicate and invalid indexes, sequential scans that want an index, slow statements.

Each function takes what the collector read and the target's thresholds and returns
:class:`~watchkeeper.dbmaint.interface.Finding` objects with their evidence and the exact
SQL that fixes them. Keys are ``<kind>:<object>`` and stay the same across collections.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from watchkeeper.dbmaint.config import Thresholds
from watchkeeper.dbmaint.interface import Finding, Severity
from watchkeeper.dbmaint.postgres.model import Index, Statement, Table

SEQ_SCAN_SHARE = 0.01
"""...nor one whose sequential scans are under this share of all its scans."""
RECENT_STATS = timedelta(days=7)
"""Statistics reset more recently than this make an unused index only a hint (info)."""


def size_text(size: float) -> str:
    """``2.1 GB``, ``340 kB``, ``12 B`` (powers of 1024, as PostgreSQL prints them)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns


def duration_text(seconds: float) -> str:
    """``850 ms``, ``12.3 s``, ``4 min``, ``3.5 h``, ``2.0 d``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def when_text(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    return f"{value:%Y-%m-%d %H:%M} UTC ({duration_text((now - value).total_seconds())} ago)"


def percent(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- tables ---------------------------------------------------------------------------------


def vacuum(
    tables: Iterable[Table], th: Thresholds, now: datetime, autovacuum: bool
) -> list[Finding]:
    """Tables whose dead tuples are over ``vacuum_dead_ratio`` and ``vacuum_min_dead``."""
    found = []
    for t in tables:
        if not (t.dead >= th.vacuum_min_dead and t.dead_ratio > th.vacuum_dead_ratio):
            continue
        why = [
            f"{t.dead:,} dead tuples ({percent(t.dead_ratio)} of {t.live + t.dead:,})",
            f"last vacuum {when_text(t.last_vacuumed(), now)}",
        ]
        if not autovacuum:
            why.append("autovacuum is off on the server")
        elif not t.autovacuum_enabled:
            why.append("autovacuum is disabled for this table (autovacuum_enabled=false)")
        found.append(
            Finding(
                key=f"vacuum:{t.name}",
                kind="vacuum",
                severity="warning",
                title=f"Table {t.name} needs VACUUM ({t.dead:,} dead tuples)",
                evidence="; ".join(why),
                sql=f"VACUUM (ANALYZE) {t.qname};",
                object=t.name,
                impact_bytes=round(t.size_bytes * t.dead_ratio),
            )
        )
    return found


def analyze(
    tables: Iterable[Table], th: Thresholds, now: datetime, min_rows: int, skip: set[str]
) -> list[Finding]:
    """Tables modified over ``analyze_modified_ratio`` (and at least ``min_rows``, the
    server's ``autovacuum_analyze_threshold``) since their last ANALYZE; ``skip``: tables a
    VACUUM (ANALYZE) finding already covers."""
    found = []
    for t in tables:
        ratio = t.modified / max(t.live, 1)
        if t.name in skip or t.modified < max(min_rows, 1) or ratio <= th.analyze_modified_ratio:
            continue
        found.append(
            Finding(
                key=f"analyze:{t.name}",
                kind="analyze",
                severity="info",
                title=f"Table {t.name} needs ANALYZE",
                evidence=f"{t.modified:,} rows modified since the last ANALYZE "
                f"({percent(ratio)} of {t.live:,} live rows); last analyze "
                f"{when_text(t.last_analysed(), now)}",
                sql=f"ANALYZE {t.qname};",
                object=t.name,
            )
        )
    return found


def table_bloat(tables: Iterable[Table], th: Thresholds, repack: bool) -> list[Finding]:
    """Tables whose bloat (measured, else estimated) is over ``bloat_ratio`` and
    ``bloat_min_size``."""
    found = []
    for t in tables:
        b = t.bloat
        if b is None or b.ratio <= th.bloat_ratio or b.bytes < th.bloat_min_size:
            continue
        how = _how(b.source)
        online = (
            "the repack maintenance action (pg_repack) rewrites it without blocking"
            if repack
            else "install pg_repack to rewrite it without blocking"
        )
        found.append(
            Finding(
                key=f"table_bloat:{t.name}",
                kind="table_bloat",
                severity="warning",
                title=f"Table {t.name} is bloated ({size_text(b.bytes)} wasted)",
                evidence=f"{size_text(b.bytes)} of {size_text(t.size_bytes)} wasted "
                f"({percent(b.ratio)}), {how}; VACUUM FULL takes an ACCESS EXCLUSIVE lock "
                f"for the whole rewrite, {online}",
                sql=f"VACUUM (FULL, ANALYZE) {t.qname};",
                object=t.name,
                impact_bytes=b.bytes,
            )
        )
    return found


def _how(source: str) -> str:
    if source == "estimate":
        return "estimated from pg_stats"
    return f"measured with {source}"


def missing_index(
    tables: Iterable[Table], th: Thresholds, statements: list[Statement]
) -> list[Finding]:
    """Large tables read mostly by whole sequential scans: at least ``seq_scan_min_rows``
    rows, at least ``seq_scan_min_scans`` scans reading ``seq_scan_min_rows`` rows each on
    average, and at least :data:`SEQ_SCAN_SHARE` of the table's scans. The evidence names
    the heaviest statements that mention the table."""
    found = []
    for t in tables:
        if t.rows < th.seq_scan_min_rows or t.seq_scan < th.seq_scan_min_scans:
            continue
        per_scan = t.seq_tup_read / t.seq_scan
        scans = t.seq_scan + (t.idx_scan or 0)
        if per_scan < th.seq_scan_min_rows or t.seq_scan / scans < SEQ_SCAN_SHARE:
            continue
        evidence = (
            f"{t.seq_scan:,} sequential scans read {t.seq_tup_read:,} rows "
            f"({per_scan:,.0f} per scan) of a {t.rows:,}-row table, against "
            f"{t.idx_scan or 0:,} index scans"
        )
        suspects = _mentioning(t.name, statements)
        if suspects:
            evidence += "; statements that read it: " + "; ".join(
                f"queryid {s.queryid} ({s.calls:,} calls, mean {duration_text(s.mean_ms / 1000)}"
                f"): {_snippet(s.query)}"
                for s in suspects
            )
        found.append(
            Finding(
                key=f"missing_index:{t.name}",
                kind="missing_index",
                severity="info",
                title=f"Sequential scans on {t.name} ({t.rows:,} rows)",
                evidence=evidence + "; EXPLAIN them to choose the index",
                object=t.name,
            )
        )
    return found


_READS = re.compile(r"\s*(?:select|with|update|delete|insert|merge)\b", re.IGNORECASE)


def _mentioning(table: str, statements: list[Statement], limit: int = 3) -> list[Statement]:
    schema, _, name = table.partition(".")
    pattern = re.compile(
        rf'(?<![\w."])(?:"?{re.escape(schema)}"?\.)?"?{re.escape(name)}"?(?![\w"])',
        re.IGNORECASE,
    )
    hits = [s for s in statements if _READS.match(s.query) and pattern.search(s.query)]
    return sorted(hits, key=lambda s: -s.total_ms)[:limit]


def _snippet(query: str, limit: int = 160) -> str:
    text = " ".join(query.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- indexes --------------------------------------------------------------------------------


def index_bloat(indexes: Iterable[Index], th: Thresholds) -> list[Finding]:
    """Btree indexes whose bloat is over ``bloat_ratio`` and ``bloat_min_size``."""
    found = []
    for i in indexes:
        b = i.bloat
        if b is None or not i.valid or b.ratio <= th.bloat_ratio or b.bytes < th.bloat_min_size:
            continue
        found.append(
            Finding(
                key=f"index_bloat:{i.name}",
                kind="index_bloat",
                severity="warning",
                title=f"Index {i.name} is bloated ({size_text(b.bytes)} wasted)",
                evidence=f"{size_text(b.bytes)} of {size_text(i.size_bytes)} wasted "
                f"({percent(b.ratio)}), {_how(b.source)}; REINDEX CONCURRENTLY rebuilds it "
                "without blocking writes",
                sql=f"REINDEX INDEX CONCURRENTLY {i.qname};",
                object=i.name,
                impact_bytes=b.bytes,
            )
        )
    return found


def unused_indexes(
    indexes: Iterable[Index],
    th: Thresholds,
    *,
    stats_reset: datetime | None,
    now: datetime,
    replicas: int,
) -> list[Finding]:
    """Valid indexes with no scan since the statistics were reset, at least
    ``unused_index_min_size``, that enforce nothing (not unique, primary or exclusion)."""
    since = (
        f"since statistics were reset on {stats_reset:%Y-%m-%d} "
        f"({duration_text((now - stats_reset).total_seconds())} ago)"
        if stats_reset is not None
        else "since statistics began (never reset)"
    )
    recent = stats_reset is not None and now - stats_reset < RECENT_STATS
    found = []
    for i in indexes:
        if (
            i.scans > 0
            or not i.valid
            or i.unique
            or i.primary
            or i.exclusion
            or i.constraint is not None
            or i.size_bytes < th.unused_index_min_size
        ):
            continue
        evidence = f"0 scans {since}; it costs {size_text(i.size_bytes)} and slows every write"
        if recent:
            evidence += "; the statistics are recent, so watch it longer before dropping"
        if replicas:
            evidence += "; scans on the standbys are not counted here, check them first"
        severity: Severity = "info" if recent or i.size_bytes < th.bloat_min_size else "warning"
        found.append(
            Finding(
                key=f"unused_index:{i.name}",
                kind="unused_index",
                severity=severity,
                title=f"Unused index {i.name} ({size_text(i.size_bytes)})",
                evidence=evidence + f"; definition: {i.definition}",
                sql=f"DROP INDEX CONCURRENTLY {i.qname};",
                object=i.name,
                impact_bytes=i.size_bytes,
            )
        )
    return found


def _keep_order(i: Index) -> tuple[bool, bool, bool, bool, int, int]:
    return (i.primary, i.constraint is not None, i.fk_referenced, i.unique, i.scans, -i.oid)


def duplicate_indexes(indexes: Iterable[Index]) -> list[Finding]:
    """Indexes of a table with the same method, columns, operator classes, collations,
    expressions and predicate as another: all but the one to keep (the primary key or
    constraint, the one a foreign key uses, the unique one, the most used, the oldest)."""
    groups: dict[tuple[str, ...], list[Index]] = defaultdict(list)
    for i in indexes:
        if i.valid and i.ready:
            groups[i.signature].append(i)
    found = []
    for group in groups.values():
        if len(group) < 2:
            continue
        keep, *others = sorted(group, key=_keep_order, reverse=True)
        for i in others:
            if i.constraint is not None:
                sql = f"ALTER TABLE {i.table_qname} DROP CONSTRAINT {_quote(i.constraint)};"
            else:
                sql = f"DROP INDEX CONCURRENTLY {i.qname};"
            evidence = (
                f"same definition as {keep.name} ({keep.definition}); "
                f"{i.scans:,} scans against {keep.scans:,}"
            )
            if i.fk_referenced:
                evidence += "; a foreign key depends on it: point it at the other index first"
            found.append(
                Finding(
                    key=f"duplicate_index:{i.name}",
                    kind="duplicate_index",
                    severity="warning",
                    title=f"Duplicate index {i.name} ({size_text(i.size_bytes)})",
                    evidence=evidence,
                    sql=sql,
                    object=i.name,
                    impact_bytes=i.size_bytes,
                )
            )
    return found


def invalid_indexes(indexes: Iterable[Index]) -> list[Finding]:
    """Indexes left invalid (``pg_index.indisvalid`` false) by a failed CREATE INDEX
    CONCURRENTLY or REINDEX CONCURRENTLY; those still being built are left alone."""
    found = []
    for i in indexes:
        if i.valid or i.building:
            continue
        cost = (
            "it is still updated on every write"
            + (" and still rejects duplicates" if i.unique else "")
            + " but no query uses it"
            if i.ready
            else "it is neither used nor maintained"
        )
        found.append(
            Finding(
                key=f"invalid_index:{i.name}",
                kind="invalid_index",
                severity="warning",
                title=f"Invalid index {i.name}",
                evidence=f"pg_index.indisvalid is false (a CREATE or REINDEX CONCURRENTLY "
                f"failed); {cost}; definition: {i.definition}; after fixing the cause, "
                f"rebuild it with REINDEX INDEX CONCURRENTLY {i.qname}; or drop it",
                sql=f"DROP INDEX CONCURRENTLY {i.qname};",
                object=i.name,
                impact_bytes=i.size_bytes,
            )
        )
    return found


# -- statements -----------------------------------------------------------------------------


def slow_queries(statements: Iterable[Statement], th: Thresholds) -> list[Finding]:
    """Statements whose mean execution time is at least ``slow_query_mean``."""
    limit_ms = th.slow_query_mean.total_seconds() * 1000
    found = []
    for s in statements:
        if s.mean_ms < limit_ms or s.calls <= 0:
            continue
        found.append(
            Finding(
                key=f"slow_query:{s.queryid}",
                kind="slow_query",
                severity="warning",
                title=f"Slow query {s.queryid} (mean {duration_text(s.mean_ms / 1000)})",
                evidence=f"mean {duration_text(s.mean_ms / 1000)} over {s.calls:,} calls, "
                f"total {duration_text(s.total_ms / 1000)}, {s.rows:,} rows, "
                f"{s.blocks_read:,} blocks read from disk, {s.blocks_hit:,} from cache: "
                f"{_snippet(s.query)}",
                object=s.queryid,
            )
        )
    return found
