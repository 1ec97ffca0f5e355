"""Helpers of the service, advisor, API and CLI tests: a SQLite database with work for the
advisor (a large freelist), plans naming it, and findings written straight into the store."""

from __future__ import annotations

import sqlite3
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import DbHealth

ALWAYS = '{name: always, weekly: [{start: "00:00", end: "24:00"}]}'
NEVER = '{name: never, cron: "0 0 1 1 *", duration: 1m}'  # one minute on January 1st


def sqlite_with_freelist(path: Path, rows: int = 4000) -> Path:
    """A SQLite file whose deleted rows left most of its pages on the freelist."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", ((i, "x" * 500) for i in range(rows)))
        conn.commit()
        conn.execute("DELETE FROM t WHERE id >= 100")
        conn.commit()
    finally:
        conn.close()
    return path


def plan_text(*targets: str, windows: tuple[str, ...] = (ALWAYS, NEVER)) -> str:
    """A plan with the maintenance windows ``always`` and ``never`` and ``targets`` (YAML
    flow mappings or blocks, one per database)."""
    body = "\n".join(textwrap.indent(textwrap.dedent(t).strip(), "    ") for t in targets)
    wins = "\n".join(f"    - {w}" for w in windows)
    return f"alerts:\n  maintenance_windows:\n{wins}\ndatabases:\n  targets:\n{body}\n"


def sqlite_target(name: str, path: Path, *, extra: str = "") -> str:
    """One SQLite database with a vacuum task in ``always`` and an analyze task in
    ``never``, both on a nightly schedule."""
    return f"""
    - name: {name}
      type: sqlite
      path: "{path}"
      collect_interval: 1m
      collect_timeout: 5s
      maintenance:
        - {{name: nightly-vacuum, action: vacuum, schedule: "0 3 * * *", windows: [always]}}
        - {{name: closed, action: analyze, schedule: "0 3 * * *", windows: [never]}}
      {extra}
    """


def apply(db: Session, text: str) -> None:
    apply_plan(db, load_plan_text(text, env={}))
    db.commit()


def finding(
    key: str, severity: str = "warning", impact: int = 0, title: str = "", sql: str = ""
) -> dict[str, Any]:
    kind = key.split(":", 1)[0]
    return {
        "key": key,
        "kind": kind,
        "severity": severity,
        "title": title or f"{kind} of {key.split(':', 1)[-1]}",
        "evidence": f"evidence of {key}",
        "sql": sql,
        "object": key.split(":", 1)[-1],
        "impact_bytes": impact,
    }


def put_health(
    db: Session, database: str, findings: list[dict[str, Any]], at: datetime, **fields: Any
) -> DbHealth:
    """Store a good collection of ``database`` with ``findings`` (as the service would)."""
    row = db.get(DbHealth, database) or DbHealth(database=database)
    row.type, row.collected_at, row.last_ok_at, row.ok = "sqlite", at, at, True
    row.error, row.failures, row.duration_s, row.queries = "", 0, 0.1, 3
    row.size_bytes, row.details, row.findings, row.score = 1000, {}, findings, 100
    for key, value in fields.items():
        setattr(row, key, value)
    db.add(row)
    db.commit()
    return row
