"""Findings about the server and its sessions: connections against ``max_connections``,
long and idle-in-transaction sessions, lock waits (blocking chains), transaction-ID
wraparound, cache hit ratio, checkpoint pressure, replication, the WAL archiver and
server settings that disable maintenance."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from watchkeeper.dbmaint.config import Thresholds
from watchkeeper.dbmaint.interface import Finding, Severity
from watchkeeper.dbmaint.postgres.findings import (
    duration_text,
    percent,
    size_text,
    when_text,
)
from watchkeeper.dbmaint.postgres.model import Server, Session, Table

CHECKPOINT_REQUESTED_RATIO = 0.5
"""Share of checkpoints forced by WAL volume (not by checkpoint_timeout) that is a finding."""
MIN_CHECKPOINTS = 10
MIN_CACHE_READS = 100_000
"""Blocks read (hit + from disk) before the cache hit ratio is judged."""
XID_CRITICAL = 1_500_000_000
"""Transaction-ID age that is critical whatever the settings (wraparound is at 2^31)."""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _session_line(s: Session) -> str:
    who = ", ".join(
        p
        for p in (
            f"user {s.user}" if s.user else "",
            f"application {s.application}" if s.application else "",
            f"client {s.client}" if s.client else "",
        )
        if p
    )
    return f"pid {s.pid}" + (f" ({who})" if who else "")


def _query_line(s: Session, limit: int = 160) -> str:
    text = " ".join(s.query.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Chain:
    """A session that blocks others and every session waiting on it (directly or not)."""

    blocker: Session
    waiting: list[tuple[Session, int]]  # (session, depth: 1 waits on the blocker directly)

    @property
    def longest_wait_s(self) -> float:
        return max((s.query_s or 0.0 for s, _ in self.waiting), default=0.0)

    def as_json(self) -> dict[str, Any]:
        return {
            "blocker": self.blocker.as_json(),
            "blocked": [
                {**s.as_json(), "depth": depth, "waiting_seconds": round(s.query_s or 0.0, 3)}
                for s, depth in self.waiting
            ],
            "longest_wait_seconds": round(self.longest_wait_s, 3),
        }


def chains(sessions: Iterable[Session]) -> list[Chain]:
    """The blocking chains among ``sessions``: one per root blocker (a blocker that waits
    on nobody, or sits in a cycle), worst first."""
    by_pid = {s.pid: s for s in sessions}
    waiters: dict[int, list[int]] = {}
    for s in by_pid.values():
        for pid in s.blocked_by:
            waiters.setdefault(pid, []).append(s.pid)
    roots = [pid for pid in waiters if not (by_pid.get(pid) and by_pid[pid].blocked_by)]
    if not roots:  # a deadlock cycle the detector has not broken yet: start anywhere
        roots = sorted(waiters)[:1]
    found = []
    for root in roots:
        seen = {root}
        waiting: list[tuple[Session, int]] = []
        frontier = [(root, 0)]
        while frontier:
            pid, depth = frontier.pop(0)
            for waiter in sorted(waiters.get(pid, [])):
                if waiter in seen or waiter not in by_pid:
                    continue
                seen.add(waiter)
                waiting.append((by_pid[waiter], depth + 1))
                frontier.append((waiter, depth + 1))
        head = by_pid.get(root) or Session(
            pid=root,
            database=None,
            user=None,
            application="",
            client=None,
            state="",
            wait="",
            query="",
            xact_s=None,
            state_s=None,
            query_s=None,
            xmin_age=None,
        )
        if waiting:
            found.append(Chain(head, waiting))
    return sorted(found, key=lambda c: (-len(c.waiting), -c.longest_wait_s))


def _idle(s: Session) -> bool:
    return s.state.startswith("idle in transaction")


def sessions(
    here: Iterable[Session], th: Thresholds, database: str, idle_timeout_set: bool
) -> list[Finding]:
    """Sessions of ``database`` idle in a transaction longer than ``idle_in_transaction``
    and transactions open longer than ``long_transaction``."""
    found = []
    long_s = th.long_transaction.total_seconds()
    idle_s = th.idle_in_transaction.total_seconds()
    for s in here:
        if s.database != database:
            continue
        if _idle(s) and (s.state_s or 0.0) >= idle_s:
            hint = (
                ""
                if idle_timeout_set
                else "; idle_in_transaction_session_timeout would end such sessions"
            )
            found.append(
                Finding(
                    key=f"idle_in_transaction:{s.pid}",
                    kind="idle_in_transaction",
                    severity="warning",
                    title=f"Session {s.pid} idle in transaction for "
                    f"{duration_text(s.state_s or 0.0)}",
                    evidence=f"{_session_line(s)} has been {s.state} for "
                    f"{duration_text(s.state_s or 0.0)} (transaction open "
                    f"{duration_text(s.xact_s or 0.0)}); it holds its locks and its snapshot "
                    f"keeps VACUUM from removing dead rows; last statement: "
                    f"{_query_line(s)}{hint}",
                    sql=f"SELECT pg_terminate_backend({s.pid});",
                    object=str(s.pid),
                )
            )
        elif not _idle(s) and s.state != "idle" and (s.xact_s or 0.0) >= long_s:
            found.append(
                Finding(
                    key=f"long_transaction:{s.pid}",
                    kind="long_transaction",
                    severity="warning",
                    title=f"Transaction open for {duration_text(s.xact_s or 0.0)} (pid {s.pid})",
                    evidence=f"{_session_line(s)}, {s.state}"
                    + (f", waiting on {s.wait}" if s.wait else "")
                    + f", transaction open {duration_text(s.xact_s or 0.0)}"
                    + (f", xmin age {s.xmin_age:,}" if s.xmin_age else "")
                    + f": {_query_line(s)}",
                    sql=f"SELECT pg_cancel_backend({s.pid});",
                    object=str(s.pid),
                )
            )
    return found


def lock_waits(found_chains: Iterable[Chain], th: Thresholds) -> list[Finding]:
    """A finding per blocker that keeps a session waiting longer than ``th.lock_wait``."""
    found = []
    for c in found_chains:
        if c.longest_wait_s < th.lock_wait.total_seconds():
            continue
        b = c.blocker
        stop = "pg_terminate_backend" if _idle(b) else "pg_cancel_backend"
        first = c.waiting[0][0]
        found.append(
            Finding(
                key=f"lock_wait:{b.pid}",
                kind="lock_wait",
                severity="warning",
                title=f"Session {b.pid} blocks {len(c.waiting)} session"
                f"{'s' if len(c.waiting) != 1 else ''}",
                evidence=f"{_session_line(b)}, {b.state or 'unknown state'}"
                + (f" (transaction open {duration_text(b.xact_s)})" if b.xact_s is not None else "")
                + f", blocks {len(c.waiting)} session(s), the longest waiting "
                f"{duration_text(c.longest_wait_s)}; e.g. {_session_line(first)} waits on "
                f"{first.wait or 'a lock'}: {_query_line(first)}; the blocker's last "
                f"statement: {_query_line(b)}",
                sql=f"SELECT {stop}({b.pid});",
                object=str(b.pid),
            )
        )
    return found


def connections(
    counts: list[dict[str, Any]], server: Server, th: Thresholds
) -> tuple[dict[str, int], list[Finding]]:
    """Client connections on the whole server by state, and a finding when they use
    ``connections_ratio`` of ``max_connections`` or more."""
    by_state: dict[str, int] = {}
    for row in counts:
        state = str(row["state"] or "unknown").replace(" ", "_").replace("(", "").replace(")", "")
        by_state[state] = by_state.get(state, 0) + int(row["count"])
    total = sum(by_state.values())
    limit = int(server.number("max_connections", 100))
    ratio = total / limit if limit else 0.0
    if ratio < th.connections_ratio:
        return by_state, []
    idle = by_state.get("idle", 0)
    severity: Severity = "critical" if ratio >= 0.95 else "warning"
    proposed = int(math.ceil(limit * 1.5 / 10) * 10)
    pooler = (
        f"{idle} of them are idle: a connection pooler (PgBouncer in transaction mode) "
        "would serve the same clients with far fewer"
        if idle * 2 >= total
        else "a connection pooler (PgBouncer) caps them before the server refuses logins"
    )
    return by_state, [
        Finding(
            key=f"connections:{server.database}",
            kind="connections",
            severity=severity,
            title=f"{total} of {limit} connections in use ({percent(ratio)})",
            evidence=f"{total} client connections on the server, max_connections is {limit} "
            f"(reserved for superusers: {int(server.number('superuser_reserved_connections'))})"
            f"; {pooler}; raising max_connections needs a restart and memory per connection",
            sql=f"ALTER SYSTEM SET max_connections = {proposed};",
            object=server.database,
        )
    ]


def wraparound(server: Server, tables: list[Table], th: Thresholds) -> list[Finding]:
    """The database's oldest unfrozen transaction ID (and multixact) against
    ``autovacuum_freeze_max_age`` (``..._multixact_...``): over ``wraparound_ratio`` is a
    warning, past the setting (anti-wraparound autovacuum is not keeping up) critical."""
    found = []
    for kind, age, setting in (
        ("wraparound", int(server.row["xid_age"] or 0), "autovacuum_freeze_max_age"),
        (
            "multixact_wraparound",
            int(server.row["mxid_age"] or 0),
            "autovacuum_multixact_freeze_max_age",
        ),
    ):
        limit = server.number(setting, 200_000_000)
        ratio = age / limit if limit else 0.0
        if ratio <= th.wraparound_ratio:
            continue
        severity: Severity = "critical" if ratio >= 1.0 or age >= XID_CRITICAL else "warning"
        oldest = sorted(tables, key=lambda t: -t.xid_age)[:5]
        old = [t for t in oldest if t.xid_age > th.wraparound_ratio * limit]
        if kind == "wraparound" and old:
            sql = "\n".join(f"VACUUM (FREEZE, ANALYZE) {t.qname};" for t in old)
            which = "oldest tables: " + ", ".join(f"{t.name} ({t.xid_age:,})" for t in old)
        else:
            sql = "VACUUM (FREEZE);"
            which = "no user table is that old: the catalogs or TOAST tables are"
        what = "transaction ID" if kind == "wraparound" else "multixact ID"
        found.append(
            Finding(
                key=f"{kind}:{server.database}",
                kind=kind,
                severity=severity,
                title=f"{what.capitalize()} age {age:,} ({percent(ratio)} of {setting})",
                evidence=f"the oldest unfrozen {what} is {age:,} old, {setting} is "
                f"{int(limit):,}; at 2^31 the server stops accepting writes; {which}; "
                "long transactions, prepared transactions and replication slots with an "
                "old xmin keep VACUUM from freezing",
                sql=sql,
                object=server.database,
            )
        )
    return found


def cache_hit(server: Server, th: Thresholds) -> tuple[float | None, list[Finding]]:
    """The buffer cache hit ratio of the database since its statistics were reset."""
    hit, read = int(server.row["blks_hit"] or 0), int(server.row["blks_read"] or 0)
    if hit + read == 0:
        return None, []
    ratio = hit / (hit + read)
    if hit + read < MIN_CACHE_READS or ratio >= th.cache_hit_ratio:
        return ratio, []
    shared = server.bytes_setting("shared_buffers")
    sql = f"ALTER SYSTEM SET shared_buffers = '{shared * 2 // 1024**2}MB';" if shared else ""
    return ratio, [
        Finding(
            key=f"cache_hit_ratio:{server.database}",
            kind="cache_hit_ratio",
            severity="warning",
            title=f"Cache hit ratio {ratio * 100:.1f}%",
            evidence=f"{read:,} of {hit + read:,} blocks read from disk (cache hit ratio "
            f"{ratio * 100:.2f}%, threshold {th.cache_hit_ratio * 100:.0f}%); shared_buffers "
            f"is {size_text(shared) if shared else 'unknown'}; a larger shared_buffers "
            "(restart needed; about a quarter of RAM) or fewer full scans help",
            sql=sql,
            object=server.database,
        )
    ]


def checkpoints(server: Server) -> list[Finding]:
    """Checkpoints forced by WAL volume rather than by ``checkpoint_timeout``."""
    timed = int(server.row["checkpoints_timed"] or 0)
    requested = int(server.row["checkpoints_req"] or 0)
    total = timed + requested
    if total < MIN_CHECKPOINTS or requested / total < CHECKPOINT_REQUESTED_RATIO:
        return []
    wal = server.number("max_wal_size", 1024)  # MB
    return [
        Finding(
            key=f"checkpoints:{server.database}",
            kind="checkpoints",
            severity="warning",
            title=f"{percent(requested / total)} of checkpoints are requested",
            evidence=f"{requested:,} checkpoints were forced by WAL volume and {timed:,} came "
            f"from checkpoint_timeout; max_wal_size ({int(wal)} MB) is too small for the "
            "write load: each checkpoint flushes everything and the next writes log full pages",
            sql=f"ALTER SYSTEM SET max_wal_size = '{int(wal * 2)}MB'; SELECT pg_reload_conf();",
            object=server.database,
        )
    ]


def replication(
    replicas: list[dict[str, Any]], slots: list[dict[str, Any]], th: Thresholds
) -> list[Finding]:
    """Standbys replaying more than ``th.replication_lag`` behind; replication slots that
    are inactive (they keep WAL forever) or have lost WAL."""
    found = []
    for r in replicas:
        lag = r.get("replay_lag_s")
        if lag is None or lag < th.replication_lag.total_seconds():
            continue
        found.append(
            Finding(
                key=f"replication_lag:{r['name']}",
                kind="replication_lag",
                severity="warning",
                title=f"Standby {r['name']} is {duration_text(lag)} behind",
                evidence=f"replay lag {duration_text(lag)}"
                + (f", {size_text(r['lag_bytes'])} of WAL" if r.get("lag_bytes") else "")
                + f", state {r.get('state')}, sync {r.get('sync_state')}",
                object=str(r["name"]),
            )
        )
    for s in slots:
        retained = s.get("retained_bytes") or 0
        lost = s.get("wal_status") in ("lost", "unreserved")
        if s.get("active") and not lost:
            continue
        found.append(
            Finding(
                key=f"replication_slot:{s['name']}",
                kind="replication_slot",
                severity="critical" if lost else "warning",
                title=f"Replication slot {s['name']} is "
                + ("losing WAL" if lost else f"inactive ({size_text(retained)} of WAL kept)"),
                evidence=f"{s.get('type')} slot {s['name']}"
                + (f" of database {s['database']}" if s.get("database") else "")
                + f", active: {s.get('active')}, WAL status: {s.get('wal_status') or 'n/a'}, "
                f"retains {size_text(retained)} of WAL"
                + (f", holds xmin back by {s['xmin_age']:,}" if s.get("xmin_age") else "")
                + "; an unused slot fills the disk with WAL; drop it if its consumer is gone",
                sql=f"SELECT pg_drop_replication_slot({_literal(str(s['name']))});",
                object=str(s["name"]),
                impact_bytes=int(retained),
            )
        )
    return found


def archiver(server: Server) -> list[Finding]:
    """WAL archiving that is failing now (the last failure is newer than the last
    success)."""
    row = server.row
    if (server.setting("archive_mode") or "off") == "off" or not row["failed_count"]:
        return []
    failed, archived = row["last_failed_time"], row["last_archived_time"]
    if failed is None or (archived is not None and archived > failed):
        return []
    now = row["now"]
    return [
        Finding(
            key=f"archiver:{server.database}",
            kind="archiver",
            severity="critical",
            title="WAL archiving is failing",
            evidence=f"{row['failed_count']:,} failures, the last for {row['last_failed_wal']} "
            f"at {when_text(failed, now)}; last success {when_text(archived, now)}; "
            "unarchived WAL stays in pg_wal until archive_command succeeds",
            object=server.database,
        )
    ]


def settings(server: Server) -> list[Finding]:
    """Server settings that switch maintenance off: ``autovacuum``, ``track_counts``."""
    found = []
    for name, what in (
        ("autovacuum", "dead rows pile up and wraparound protection relies on emergencies"),
        ("track_counts", "autovacuum and this collection lose their statistics"),
    ):
        if server.setting(name) == "off":
            found.append(
                Finding(
                    key=f"setting:{name}",
                    kind="setting",
                    severity="warning",
                    title=f"{name} is off",
                    evidence=f"{name} = off on the server: {what}",
                    sql=f"ALTER SYSTEM SET {name} = on; SELECT pg_reload_conf();",
                    object=name,
                )
            )
    return found
