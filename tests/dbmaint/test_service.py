"""The database service: collections on their interval (one hanging database holds up no
other), what is kept of them (health row, statement texts, samples), scheduled and queued
maintenance runs, the built-in alerts, abandoned runs and pruning. On both store databases,
with the real SQLite collector and maintenance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests.dbmaint.service_support import apply, plan_text, sqlite_target, sqlite_with_freelist
from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.auth.audit import Actor
from watchkeeper.dbmaint import advisor, claims, collection, service
from watchkeeper.dbmaint.config import DatabaseConfig
from watchkeeper.dbmaint.interface import Collection, Finding, Sample
from watchkeeper.dbmaint.section import load_section
from watchkeeper.dbmaint.service import DbMaintService, due_tasks
from watchkeeper.metrics.labels import Matcher
from watchkeeper.metrics.store import MetricStore
from watchkeeper.store.tables import Alert, DbHealth, DbMaintenanceRun, DbQueryText
from watchkeeper.telemetry import DBMAINT_COLLECTIONS, DBMAINT_MAINTENANCE_RUNS

T0 = datetime(2026, 3, 2, 2, 59, tzinfo=UTC)  # a Monday, a minute before 03:00
SMALL = "thresholds: {bloat_min_size: 1KiB}"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


def _service(sessions: sessionmaker[Session], engine: Engine, clock: Clock) -> DbMaintService:
    return DbMaintService(sessions, MetricStore(engine), clock=clock)


def _latest(engine: Engine, name: str, **labels: str) -> float | None:
    matchers = [Matcher("__name__", "=", name)]
    matchers += [Matcher(k, "=", v) for k, v in labels.items()]
    found = MetricStore(engine).select(matchers, 0, 2**62)
    return float(found[0].values[-1]) if found else None


def _firing(db: Session) -> set[tuple[str, str]]:
    return {
        (a.labels["alertname"], a.labels.get("finding") or a.labels.get("task") or "")
        for a in db.scalars(select(Alert).where(Alert.rule == INTERNAL_RULE))
        if a.state == "firing"
    }


def test_due_tasks_follow_cron_and_the_last_scheduled_run(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as db:
        apply(db, plan_text(sqlite_target("app", tmp_path / "app.db")))
        section = load_section(db)
    assert due_tasks(section, {}, T0, T0) == []
    at_3 = T0 + timedelta(minutes=1, seconds=5)
    assert due_tasks(section, {}, at_3, T0) == [("app", "nightly-vacuum"), ("app", "closed")]
    ran = {("app", "nightly-vacuum"): at_3, ("app", "closed"): at_3}
    assert due_tasks(section, ran, at_3 + timedelta(hours=5), T0) == []
    assert len(due_tasks(section, ran, at_3 + timedelta(days=1), T0)) == 2


def test_collects_on_its_interval_and_keeps_health_and_samples(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    path = sqlite_with_freelist(tmp_path / "app.db")
    with sessions() as db:
        apply(db, plan_text(sqlite_target("app", path, extra=SMALL)))
    clock = Clock(T0 + timedelta(hours=2))  # no maintenance task fires in this test
    svc = _service(sessions, engine, clock)
    ok_before = DBMAINT_COLLECTIONS.labels("app", "ok")._value.get()

    async def main() -> None:
        assert (await svc.run_once()).collections == ["app"]
        await svc.wait_idle()
        assert (await svc.run_once()).collections == []  # within collect_interval (1m)
        clock.advance(seconds=61)
        assert (await svc.run_once()).collections == ["app"]
        await svc.wait_idle()

    asyncio.run(main())
    with sessions() as db:
        row = db.get(DbHealth, "app")
        assert row is not None and row.ok and row.failures == 0
        assert row.collected_at == clock.at and row.last_ok_at == clock.at
        keys = [f["key"] for f in row.findings]
        assert "freelist:main" in keys
        assert row.score == advisor.score(row.findings, {}, clock.at) < 100
        assert row.size_bytes == path.stat().st_size
        assert row.details  # what the collector read, for the pages
    assert DBMAINT_COLLECTIONS.labels("app", "ok")._value.get() == ok_before + 2
    assert _latest(engine, "watchkeeper_db_size_bytes", database="app") == path.stat().st_size
    assert _latest(engine, "watchkeeper_db_up", database="app") == 1.0
    assert _latest(engine, "watchkeeper_db_health_score", database="app") == row.score
    warnings = _latest(engine, "watchkeeper_db_findings", database="app", severity="warning")
    assert warnings == sum(1 for f in row.findings if f["severity"] == "warning")


class _FakeType:
    """A database type whose collection the test controls (by target name)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.collection = Collection(size_bytes=123)

    async def collect(self, target: DatabaseConfig) -> Collection:
        if target.name == "stuck":
            await self.release.wait()
        return self.collection


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> _FakeType:
    found = _FakeType()
    monkeypatch.setattr(collection, "database_type", lambda target: found)
    return found


def test_a_hanging_database_holds_up_no_other(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path, fake: _FakeType
) -> None:
    with sessions() as db:
        apply(
            db,
            plan_text(
                sqlite_target("stuck", tmp_path / "a.db"), sqlite_target("fast", tmp_path / "b.db")
            ),
        )
    svc = _service(sessions, engine, Clock(T0))

    async def main() -> None:
        fake.release = asyncio.Event()
        assert sorted((await svc.run_once()).collections) == ["fast", "stuck"]
        for _ in range(500):  # until the fast one is kept (not a timing assertion)
            with sessions() as db:
                if db.get(DbHealth, "fast") is not None:
                    break
            await asyncio.sleep(0.02)
        with sessions() as db:
            assert db.get(DbHealth, "fast") is not None
            assert db.get(DbHealth, "stuck") is None  # still collecting
        fake.release.set()
        await svc.wait_idle()

    asyncio.run(main())
    with sessions() as db:
        stuck = db.get(DbHealth, "stuck")
        assert stuck is not None and stuck.ok and stuck.size_bytes == 123


def test_a_collection_past_its_time_limit_fails_and_three_make_an_alert(
    sessions: sessionmaker[Session],
    engine: Engine,
    tmp_path: Path,
    fake: _FakeType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collection, "time_limit", lambda target: 0.05)
    with sessions() as db:
        apply(db, plan_text(sqlite_target("stuck", tmp_path / "a.db")))
    clock = Clock(T0)
    svc = _service(sessions, engine, clock)

    async def passes(n: int) -> None:
        fake.release = asyncio.Event()  # never set: every collection hangs
        for _ in range(n):
            await svc.run_once()
            await svc.wait_idle()
            clock.advance(seconds=61)
        await svc.run_once()  # evaluates the alerts after the last collection
        await svc.wait_idle()

    asyncio.run(passes(2))
    with sessions() as db:
        row = db.get(DbHealth, "stuck")
        assert row is not None and not row.ok and row.failures == 3  # the 3rd pass collected
        assert row.error == "the collection did not finish within 0.05 s"
        assert row.last_ok_at is None
    asyncio.run(passes(0))
    with sessions() as db:
        assert ("DatabaseUnreachable", "") in _firing(db)
    assert _latest(engine, "watchkeeper_db_up", database="stuck") == 0.0
    # it answers again: the alert resolves
    fake.release = asyncio.Event()
    fake.release.set()
    monkeypatch.setattr(fake, "collect", _answering(fake.collection))
    clock.advance(seconds=61)
    asyncio.run(_two_passes(svc))
    with sessions() as db:
        row = db.get(DbHealth, "stuck")
        assert row is not None and row.ok and row.failures == 0
        assert ("DatabaseUnreachable", "") not in _firing(db)


def _answering(found: Collection) -> Callable[[DatabaseConfig], Any]:
    async def collect(target: DatabaseConfig) -> Collection:
        return found

    return collect


async def _two_passes(svc: DbMaintService) -> None:
    await svc.run_once()
    await svc.wait_idle()
    await svc.run_once()
    await svc.wait_idle()


def test_a_missing_sqlite_file_is_a_failed_collection(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    with sessions() as db:
        apply(db, plan_text(sqlite_target("gone", tmp_path / "nowhere.db")))
    svc = _service(sessions, engine, Clock(T0))
    asyncio.run(_two_passes(svc))
    with sessions() as db:
        row = db.get(DbHealth, "gone")
        assert row is not None and not row.ok and row.failures == 1
        assert "does not exist" in row.error


def test_critical_findings_alert_until_dismissed_and_texts_are_kept(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path, fake: _FakeType
) -> None:
    fake.collection = Collection(
        size_bytes=10,
        findings=[
            Finding("xid_wraparound:app", "xid_wraparound", "critical", "Wraparound in 5M", "age"),
            Finding("unused_index:public.i", "unused_index", "warning", "Unused index", "0 scans"),
        ],
        samples=[Sample("statement_calls_total", 7, {"queryid": "42"}), Sample("bad-name", 1)],
        statements={"42": "SELECT * FROM orders WHERE id = $1"},
    )
    with sessions() as db:
        apply(db, plan_text(sqlite_target("app", tmp_path / "a.db")))
    clock = Clock(T0)
    svc = _service(sessions, engine, clock)
    asyncio.run(_two_passes(svc))
    with sessions() as db:
        assert _firing(db) == {("DatabaseCriticalFinding", "xid_wraparound:app")}
        text = db.get(DbQueryText, ("app", "42"))
        assert text is not None and text.query.startswith("SELECT * FROM orders")
        row = db.get(DbHealth, "app")
        assert row is not None and row.score == 100 - 25 - 10
        advisor.dismiss(db, Actor("alice"), "app", "xid_wraparound:app", "vacuum freeze tonight")
        db.commit()
    assert _latest(engine, "watchkeeper_db_statement_calls_total", queryid="42") == 7.0
    assert _latest(engine, "watchkeeper_db_bad-name") is None  # invalid names are dropped
    clock.advance(seconds=10)
    asyncio.run(_two_passes(svc))
    with sessions() as db:
        assert _firing(db) == set()


def test_scheduled_tasks_run_once_per_fire_one_at_a_time_per_database(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    path = sqlite_with_freelist(tmp_path / "app.db")
    with sessions() as db:
        apply(db, plan_text(sqlite_target("app", path, extra=SMALL)))
    clock = Clock(T0)
    svc = _service(sessions, engine, clock)
    before = DBMAINT_MAINTENANCE_RUNS.labels("app", "nightly-vacuum", "succeeded")._value.get()
    size_before = path.stat().st_size

    async def main() -> list[Any]:
        started = [(await svc.run_once()).tasks]  # 02:59: nothing fired yet
        await svc.wait_idle()
        clock.advance(minutes=1, seconds=30)  # 03:00:30: both fired
        for _ in range(3):
            started.append((await svc.run_once()).tasks)
            await svc.wait_idle()
        return started

    started = asyncio.run(main())
    assert started == [[], [("app", "nightly-vacuum")], [("app", "closed")], []]
    with sessions() as db:
        runs = {r.task: r for r in db.scalars(select(DbMaintenanceRun))}
    assert runs["nightly-vacuum"].status == "succeeded"
    assert runs["nightly-vacuum"].trigger == "schedule"
    (step,) = runs["nightly-vacuum"].steps
    assert step["sql"].startswith("VACUUM") and step["status"] == "succeeded"
    assert step["after"]["bloat_bytes"] < step["before"]["bloat_bytes"]
    assert path.stat().st_size < size_before
    assert runs["closed"].status == "skipped" and "outside its maintenance windows" in (
        runs["closed"].error
    )
    assert (
        DBMAINT_MAINTENANCE_RUNS.labels("app", "nightly-vacuum", "succeeded")._value.get()
        == before + 1
    )


def _queued(db: Session, database: str, task: str, action: str = "analyze") -> int:
    row = DbMaintenanceRun(
        database=database,
        task=task,
        action=action,
        status=service.QUEUED,
        trigger="alice",
        dry_run=False,
        started_at=T0,
        error="",
        steps=[],
    )
    db.add(row)
    db.commit()
    return row.id


def test_a_queued_run_is_claimed_once_and_runs_in_its_row(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    path = sqlite_with_freelist(tmp_path / "app.db")
    with sessions() as db:
        apply(db, plan_text(sqlite_target("app", path)))
        wanted = _queued(db, "app", "closed")  # its window is closed: queued runs are forced
        orphan = _queued(db, "app", "no-such-task")
    svc = _service(sessions, engine, Clock(T0))
    other = _service(sessions, engine, Clock(T0))

    async def main() -> list[int]:
        started = (await svc.run_once()).queued
        await svc.wait_idle()
        return started

    assert asyncio.run(main()) == [wanted]
    with sessions() as db:
        target = load_section(db).targets[0]
    assert not other._claim(target, wanted, T0)  # already taken: a second replica cannot
    with sessions() as db:
        row = db.get(DbMaintenanceRun, wanted)
        assert row is not None
        assert (row.status, row.trigger, row.action) == ("succeeded", "alice", "analyze")
        assert [s["sql"] for s in row.steps] == ["ANALYZE"]
        assert (
            db.scalar(
                select(DbMaintenanceRun.id)
                .where(DbMaintenanceRun.id != wanted)
                .where(DbMaintenanceRun.id != orphan)
            )
            is None
        )  # no second row
        gone = db.get(DbMaintenanceRun, orphan)
        assert gone is not None and gone.status == "failed"
        assert "no maintenance task" in gone.error


def _running(db: Session, task: str, started_at: datetime, trigger: str = "cli:bob") -> int:
    row = DbMaintenanceRun(
        database="app",
        task=task,
        action="vacuum",
        status="running",
        trigger=trigger,
        dry_run=False,
        started_at=started_at,
        error="",
        steps=[],
    )
    db.add(row)
    db.commit()
    return row.id


def test_runs_wait_while_another_process_maintains_the_database(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    path = sqlite_with_freelist(tmp_path / "app.db")
    with sessions() as db:
        apply(db, plan_text(sqlite_target("app", path, extra=SMALL)))
        other = _running(db, "nightly-vacuum", T0)  # e.g. `watchkeeper db maintain`
        queued = _queued(db, "app", "closed")
    clock = Clock(T0)
    svc = _service(sessions, engine, clock)
    clock.advance(minutes=1, seconds=30)  # 03:00:30: both tasks fired

    async def main() -> list[service.Pass]:
        passes = []
        for _ in range(2):
            passes.append(await svc.run_once())
            await svc.wait_idle()
        with sessions() as db:
            row = db.get(DbMaintenanceRun, other)
            assert row is not None
            row.status = "succeeded"
            db.commit()
        for _ in range(4):
            passes.append(await svc.run_once())
            await svc.wait_idle()
        return passes

    passes = asyncio.run(main())
    assert [(p.tasks, p.queued) for p in passes[:2]] == [([], []), ([], [])]
    started = [t for p in passes[2:] for t in p.tasks]
    assert sorted(started) == [("app", "closed"), ("app", "nightly-vacuum")]
    assert [q for p in passes[2:] for q in p.queued] == [queued]
    with sessions() as db:
        row = db.get(DbMaintenanceRun, queued)
        assert row is not None and row.status == "succeeded"
        runs = db.scalars(select(DbMaintenanceRun).where(DbMaintenanceRun.trigger == "schedule"))
        assert {r.task: r.status for r in runs} == {
            "nightly-vacuum": "succeeded",
            "closed": "skipped",  # outside its windows, as ever
        }


def test_a_stale_running_row_does_not_hold_the_database(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    path = sqlite_with_freelist(tmp_path / "app.db")
    with sessions() as db:
        apply(db, plan_text(sqlite_target("app", path, extra=SMALL)))
        # max_runtime 2h + statement_timeout 30m + 10m grace have passed
        stale = _running(db, "nightly-vacuum", T0 - timedelta(hours=3))
        queued = _queued(db, "app", "closed")
    svc = _service(sessions, engine, Clock(T0))

    async def main() -> list[int]:
        started = (await svc.run_once()).queued
        await svc.wait_idle()
        return started

    assert asyncio.run(main()) == [queued]
    with sessions() as db:
        row = db.get(DbMaintenanceRun, stale)
        assert row is not None and row.status == "failed" and row.error == claims.ABANDONED


def test_failed_maintenance_alerts_until_a_run_succeeds(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    with sessions() as db:
        apply(db, plan_text(sqlite_target("app", tmp_path / "app.db")))
    clock = Clock(T0)
    svc = _service(sessions, engine, clock)

    def add(status: str, minutes: int, dry_run: bool = False) -> None:
        with sessions() as db:
            db.add(
                DbMaintenanceRun(
                    database="app",
                    task="nightly-vacuum",
                    action="vacuum",
                    status=status,
                    trigger="schedule",
                    dry_run=dry_run,
                    started_at=T0 - timedelta(minutes=minutes),
                    finished_at=T0 - timedelta(minutes=minutes - 1),
                    error="lock on main not granted" if status == "failed" else "",
                    steps=[],
                )
            )
            db.commit()

    add("failed", 30)
    add("succeeded", 20, dry_run=True)  # a dry run says nothing about the task
    asyncio.run(_two_passes(svc))
    with sessions() as db:
        assert ("DatabaseMaintenanceFailed", "nightly-vacuum") in _firing(db)
    add("succeeded", 10)
    asyncio.run(_two_passes(svc))
    with sessions() as db:
        assert ("DatabaseMaintenanceFailed", "nightly-vacuum") not in _firing(db)


def test_abandoned_runs_fail_and_old_history_is_pruned(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    with sessions() as db:
        apply(
            db,
            plan_text(sqlite_target("app", tmp_path / "app.db")).replace(
                "databases:\n", "databases:\n  history: 30d\n"
            ),
        )
        old = DbMaintenanceRun(
            database="app",
            task="closed",
            action="analyze",
            status="succeeded",
            trigger="schedule",
            dry_run=False,
            started_at=T0 - timedelta(days=31),
            error="",
            steps=[],
        )
        stuck = DbMaintenanceRun(
            database="app",
            task="nightly-vacuum",
            action="vacuum",
            status="running",
            trigger="schedule",
            dry_run=False,
            started_at=T0 - timedelta(hours=3),
            error="",
            steps=[],
        )
        fresh = DbMaintenanceRun(
            database="app",
            task="nightly-vacuum",
            action="vacuum",
            status="running",
            trigger="schedule",
            dry_run=False,
            started_at=T0 - timedelta(minutes=5),
            error="",
            steps=[],
        )
        db.add_all([old, stuck, fresh])
        db.add(
            DbQueryText(
                database="app",
                queryid="1",
                query="SELECT 1",
                first_seen=T0 - timedelta(days=40),
                last_seen=T0 - timedelta(days=40),
            )
        )
        db.commit()
        ids = (old.id, stuck.id, fresh.id)
    svc = _service(sessions, engine, Clock(T0))
    asyncio.run(_two_passes(svc))
    with sessions() as db:
        assert db.get(DbMaintenanceRun, ids[0]) is None
        abandoned = db.get(DbMaintenanceRun, ids[1])
        assert abandoned is not None and abandoned.status == "failed"
        assert abandoned.error == claims.ABANDONED
        live = db.get(DbMaintenanceRun, ids[2])
        assert live is not None and live.status == "running"  # within its max_runtime
        assert db.get(DbQueryText, ("app", "1")) is None


def test_alerts_carry_the_team_and_follow_it_when_it_changes(
    sessions: sessionmaker[Session], engine: Engine, tmp_path: Path, fake: _FakeType
) -> None:
    fake.collection = Collection(
        size_bytes=10,
        findings=[Finding("xid_wraparound:app", "xid_wraparound", "critical", "Wrap", "age")],
    )
    path = tmp_path / "a.db"

    def teams(db: Session) -> list[str]:
        alerts = db.scalars(select(Alert).where(Alert.rule == INTERNAL_RULE))
        return sorted(
            a.labels.get("team", "")
            for a in alerts
            if a.state == "firing" and a.labels["alertname"] == "DatabaseCriticalFinding"
        )

    with sessions() as db:
        apply(db, plan_text(sqlite_target("app", path, extra="team: payments")))
    clock = Clock(T0)
    svc = _service(sessions, engine, clock)
    asyncio.run(_two_passes(svc))
    with sessions() as db:
        assert teams(db) == ["payments"]  # routes and silences can match on team
        apply(db, plan_text(sqlite_target("app", path, extra="team: storage")))
    clock.advance(seconds=10)
    asyncio.run(_two_passes(svc))
    with sessions() as db:
        assert teams(db) == ["storage"]  # the payments one is resolved, not left behind
