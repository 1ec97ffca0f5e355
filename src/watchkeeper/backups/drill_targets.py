"""Restore one inventory part into a scratch target and verify it there.

Each ``restore_*`` function restores a part (a database dump, a SQLite copy, a files
snapshot) somewhere temporary, runs the checks the inventory allows, and always removes
what it created, also when the restore or a check fails or the drill is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from psycopg import sql

from watchkeeper.backups.engine import Engine, RepositoryAccess
from watchkeeper.backups.sources import myconn, sampling
from watchkeeper.backups.sources.base import SCRATCH_PREFIX, Part, SourceError
from watchkeeper.backups.sources.pgconn import PgTarget, count_rows
from watchkeeper.backups.sources.sqlite import count_rows as sqlite_count

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class Verification:
    """One check made on restored data."""

    what: str
    ok: bool
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"what": self.what, "ok": self.ok, "detail": self.detail}


@dataclass
class Outcome:
    """What restoring one part found: its checks, the restore time, where it went."""

    checks: list[Verification] = field(default_factory=list)
    restore_s: float = 0.0
    scratch: str = ""
    problems: list[str] = field(default_factory=list)

    def check(self, what: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Verification(what, ok, detail))


def scratch_name(policy: str) -> str:
    """``wk_drill_<policy>_<random>``: a valid, unquoted-safe database name under 64 chars."""
    slug = _UNSAFE.sub("_", policy.lower()).strip("_")[:40] or "policy"
    return f"{SCRATCH_PREFIX}{slug}_{secrets.token_hex(4)}"


def is_true(value: Any) -> bool:
    """An assertion passes when its first value is true (``t``, or the number 1)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return value == 1
    return False


def compare_counts(out: Outcome, where: str, expected: dict[str, Any], got: dict[str, int]) -> None:
    for table, count in sorted(expected.items()):
        actual = got.get(table)
        if actual is None:
            out.check(f"{where}: rows in {table}", False, "table missing after restore")
        else:
            out.check(
                f"{where}: rows in {table}",
                actual == count,
                f"{actual} restored, {count} at backup time",
            )


# -- PostgreSQL -----------------------------------------------------------------------------


async def restore_postgres(
    out: Outcome,
    engine: Engine,
    repo: RepositoryAccess,
    part: Part,
    server: PgTarget,
    policy: str,
    assertions: Sequence[str],
) -> None:
    name = scratch_name(policy)
    out.scratch = f"postgres {server.where}/{name}"
    started = time.monotonic()
    admin = await server.connect()
    try:
        await _create_postgres(admin, server, name, out)
        try:
            scratch = server.on(name)
            await engine.dump_to_command(
                repo,
                part["snapshot"],
                part["file"],
                [
                    "pg_restore",
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--dbname",
                    scratch.conninfo(),
                ],
                env=scratch.env(),
            )
            out.restore_s = time.monotonic() - started
            conn = await scratch.connect()
            try:
                await _verify_postgres(conn, out, part, assertions)
            finally:
                await conn.close()
        finally:
            await _drop_postgres(admin, name, out)
    finally:
        await admin.close()


async def _verify_postgres(
    conn: psycopg.AsyncConnection[Any], out: Outcome, part: Part, assertions: Sequence[str]
) -> None:
    where = str(part.get("database", part["file"]))
    expected: dict[str, Any] = part.get("tables") or {}
    got: dict[str, int] = {}
    for key in expected:
        schema, _, table = key.partition(".")
        try:
            got.update(await count_rows(conn, [(schema, table)]))
        except psycopg.Error:
            pass  # reported below as missing
    compare_counts(out, where, expected, got)
    for query in assertions:
        try:
            cur = await conn.execute(query)  # the user's SQL, on a scratch copy
            row = await cur.fetchone()
        except psycopg.Error as exc:
            out.check(f"{where}: assertion {query}", False, f"error: {exc}".strip())
            continue
        value = row[0] if row else None
        out.check(f"{where}: assertion {query}", is_true(value), f"returned {value!r}")


async def _create_postgres(
    admin: psycopg.AsyncConnection[Any], server: PgTarget, name: str, out: Outcome
) -> None:
    """Create the scratch database; raise SourceError (a drill failure that says why) if the
    server refuses. Cancelled half-way, the database may exist: it is dropped."""
    try:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise SourceError(
            f"cannot create the scratch database {name} on {server.where}: "
            f"{server.scrub(str(exc).strip())} (the user needs CREATEDB, or set "
            "drill.scratch_url to a server where it has it)"
        ) from None
    except asyncio.CancelledError:
        await _drop_postgres(admin, name, out)
        raise


async def _drop_postgres(admin: psycopg.AsyncConnection[Any], name: str, out: Outcome) -> None:
    try:
        await admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    except psycopg.Error as exc:
        log.warning("drill: cannot drop the scratch database %s: %s", name, exc)
        out.problems.append(f"the scratch database {name} could not be dropped: {exc}")


# -- MariaDB / MySQL ------------------------------------------------------------------------


async def restore_mariadb(
    out: Outcome,
    engine: Engine,
    repo: RepositoryAccess,
    part: Part,
    server: myconn.MyTarget,
    policy: str,
    assertions: Sequence[str],
) -> None:
    name = scratch_name(policy)
    out.scratch = f"mariadb {server.where}/{name}"
    client = myconn.tool("mariadb", "mysql")
    started = time.monotonic()
    await server.run(partial(_execute, f"CREATE DATABASE {myconn.quote(name)}"))
    try:
        await engine.dump_to_command(
            repo,
            part["snapshot"],
            part["file"],
            [client, *server.client_args(), "--", name],
            env=server.env(),
        )
        out.restore_s = time.monotonic() - started
        checks = await server.on(name).run(
            partial(_verify_mariadb, name=name, part=part, assertions=assertions)
        )
        out.checks += checks
    finally:
        try:
            await server.run(partial(_execute, f"DROP DATABASE IF EXISTS {myconn.quote(name)}"))
        except SourceError as exc:  # reported; the drill's own outcome stays
            log.warning("drill: cannot drop the scratch database %s: %s", name, exc)
            out.problems.append(f"the scratch database {name} could not be dropped: {exc}")


def _execute(statement: str, conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute(statement)


def _verify_mariadb(
    conn: Any, *, name: str, part: Part, assertions: Sequence[str]
) -> list[Verification]:
    out = Outcome()
    where = str(part.get("database", part["file"]))
    expected: dict[str, Any] = part.get("tables") or {}
    got: dict[str, int] = {}
    with conn.cursor() as cur:
        for table in expected:
            with contextlib.suppress(pymysql.MySQLError):
                got.update(myconn.count_rows(cur, name, [table]))
        compare_counts(out, where, expected, got)
        for query in assertions:
            try:
                cur.execute(query)
                row = cur.fetchone()
            except pymysql.MySQLError as exc:
                out.check(f"{where}: assertion {query}", False, f"error: {exc}")
                continue
            value = row[0] if row else None
            out.check(f"{where}: assertion {query}", is_true(value), f"returned {value!r}")
    return out.checks


# -- files, SQLite, base backups ------------------------------------------------------------


async def restore_into_temp(
    out: Outcome,
    engine: Engine,
    repo: RepositoryAccess,
    part: Part,
    scratch_dir: Path | None,
    verify: Callable[[Path, Outcome], None],
) -> None:
    """Restore the part's snapshot into a temporary directory, run ``verify`` on it (in a
    thread), and remove the directory."""
    scratch = tempfile.TemporaryDirectory(prefix="wk-drill-", dir=scratch_dir)
    try:
        out.scratch = f"directory {scratch.name}"
        started = time.monotonic()
        await engine.restore(repo, part["snapshot"], Path(scratch.name))
        out.restore_s = time.monotonic() - started
        await asyncio.to_thread(verify, Path(scratch.name), out)
    finally:
        # A restore may be large: remove it in a thread, not on the event loop.
        await asyncio.to_thread(scratch.cleanup)


def verify_files(part: Part, root: Path, out: Outcome) -> None:
    """Compare the sampled checksums with the restored files."""
    expected: dict[str, str] = part.get("files") or {}
    bad = []
    for path, digest in sorted(expected.items()):
        restored = root / path.lstrip("/")
        got = sampling.sha256_of(restored)
        if got != digest:
            bad.append(f"{path} ({'missing' if got is None else 'checksum differs'})")
    detail = f"{len(expected) - len(bad)} of {len(expected)} sampled files match"
    if bad:
        detail += ": " + ", ".join(bad[:10]) + (" ..." if len(bad) > 10 else "")
    out.check("files: sampled checksums", not bad, detail)


def verify_sqlite(part: Part, assertions: Sequence[str], root: Path, out: Outcome) -> None:
    """Integrity check, row counts and assertions on the restored SQLite file."""
    path = root / part["file"]
    where = part["file"]
    if not path.is_file():
        out.check(f"{where}: restored", False, "file missing after restore")
        return
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError as exc:
            out.check(f"{where}: integrity_check", False, str(exc))
            return
        status = result[0] if result else None
        out.check(f"{where}: integrity_check", status == "ok", str(status))
        expected: dict[str, Any] = part.get("tables") or {}
        got: dict[str, int] = {}
        for table in expected:
            with contextlib.suppress(sqlite3.Error):
                got[table] = sqlite_count(conn, table)
        compare_counts(out, where, expected, got)
        for query in assertions:
            try:
                row = conn.execute(query).fetchone()
            except sqlite3.Error as exc:
                out.check(f"{where}: assertion {query}", False, f"error: {exc}")
                continue
            value = row[0] if row else None
            out.check(f"{where}: assertion {query}", is_true(value), f"returned {value!r}")
    finally:
        conn.close()


def verify_basebackup(part: Part, root: Path, out: Outcome) -> None:
    """A base backup restores as a tar holding ``backup_label`` and ``PG_VERSION``."""
    path = root / part["file"]
    try:
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
    except (OSError, tarfile.TarError) as exc:
        out.check("base backup: tar readable", False, str(exc))
        return
    missing = [n for n in ("backup_label", "PG_VERSION", "global/pg_control") if n not in names]
    out.check(
        "base backup: cluster files present",
        not missing,
        f"missing {', '.join(missing)}" if missing else f"{len(names)} entries",
    )
