"""The database service end to end against the machine's real PostgreSQL and MariaDB (on
both store databases): a pass collects them, keeps their health, statement texts and series,
the detail view shows queries with their texts, and a queued VACUUM removes the dead tuples
of a churned table."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.dbmaint.maint_fixtures import churned, dead_tuples, my, pg
from tests.dbmaint.service_support import apply, plan_text
from watchkeeper.dbmaint import views
from watchkeeper.dbmaint.service import QUEUED, DbMaintService
from watchkeeper.metrics.labels import Matcher
from watchkeeper.metrics.store import MetricStore
from watchkeeper.store.tables import DbHealth, DbMaintenanceRun, DbQueryText, utcnow

PG_TARGET = """
- name: pg
  type: postgres
  url: "{url}"
  collect_timeout: 10s
  thresholds: {{vacuum_min_dead: 100}}
  maintenance:
    - {{name: vacuum, action: vacuum, windows: [always]}}
"""
MY_TARGET = """
- name: my
  type: mariadb
  url: "mysql://root@127.0.0.1:3306/{schema}"
  collect_timeout: 10s
"""


def _names(engine: Engine, database: str) -> set[str]:
    store = MetricStore(engine)
    found = store.matching([Matcher("database", "=", database)])
    return {dict(labels)["__name__"] for labels in found.values()}


async def _pass(svc: DbMaintService) -> None:
    await svc.run_once()
    await svc.wait_idle()


def test_postgres_and_mariadb_are_collected_and_a_queued_vacuum_runs(
    sessions: sessionmaker[Session], engine: Engine, maint_pg: str, maint_my: str
) -> None:
    pg(maint_pg, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    churned(maint_pg, "orders", 5000)  # 5,000 dead tuples, autovacuum off
    pg(maint_pg, "SELECT count(*) FROM orders WHERE v > 10")
    my(maint_my, "CREATE TABLE t (id INT PRIMARY KEY, pad TEXT)", "INSERT INTO t VALUES (1, 'x')")
    with sessions() as db:
        apply(
            db,
            plan_text(PG_TARGET.format(url=maint_pg), MY_TARGET.format(schema=maint_my)),
        )
    svc = DbMaintService(sessions, MetricStore(engine))
    asyncio.run(_pass(svc))
    with sessions() as db:
        for name in ("pg", "my"):
            row = db.get(DbHealth, name)
            assert row is not None and row.ok, (name, row.error if row else None)
            assert row.size_bytes > 0 and row.queries > 0
        pg_row = db.get(DbHealth, "pg")
        assert pg_row is not None
        assert any(f["object"].endswith("orders") for f in pg_row.findings), pg_row.findings
        texts = db.scalar(
            select(func.count()).select_from(DbQueryText).where(DbQueryText.database == "pg")
        )
        assert texts and texts > 0
        detail = views.database_detail(db, MetricStore(engine), "pg")
        assert any("orders" in q.query for q in detail.queries)
        assert any(t.get("name", "").endswith("orders") for t in detail.tables)
    for name in ("pg", "my"):
        assert {"watchkeeper_db_size_bytes", "watchkeeper_db_up"} <= _names(engine, name)
    assert "watchkeeper_db_table_size_bytes" in _names(engine, "pg")

    with sessions() as db:
        queued = DbMaintenanceRun(
            database="pg",
            task="vacuum",
            action="vacuum",
            status=QUEUED,
            trigger="alice",
            dry_run=False,
            started_at=utcnow(),
            error="",
            steps=[],
        )
        db.add(queued)
        db.commit()
        run_id = queued.id
    asyncio.run(_pass(svc))
    with sessions() as db:
        run = db.get(DbMaintenanceRun, run_id)
        assert run is not None and run.status == "succeeded", (run.status, run.error)
        targets = [s["target"] for s in run.steps]
        assert targets == ["public.orders"]
        assert run.steps[0]["before"]["dead_tuples"] >= 5000
        assert run.steps[0]["after"]["dead_tuples"] == 0
    assert dead_tuples(maint_pg, "orders") == 0
