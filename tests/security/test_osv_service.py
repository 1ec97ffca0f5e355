"""The vulnerability-database service, on both store databases, with a clock: a source is
imported when its cron schedule fires (once; a replica taking over runs a missed one
once), queued imports are claimed and run (forced ones with force), the scan follows an
import that changed records, imports left running by a stopped process are closed, the
gauges are set, and nothing runs while the stored section does not validate."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import remember_secret
from tests.security.osv_dumps import OPENSSL_DSA, REQUESTS_GHSA, write_dump
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.security.config import SecuritySection
from watchkeeper.security.osv import imports
from watchkeeper.security.osv.service import OsvService, due_sources
from watchkeeper.security.section import SectionUnreadable, load_section
from watchkeeper.store.tables import HostPackages, OsvImport, SecurityFinding, StoredObject
from watchkeeper.telemetry import OSV_IMPORT_AGE, OSV_RECORDS

T0 = datetime(2026, 3, 2, 3, 59, tzinfo=UTC)  # a minute before the 04:00 schedule


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _plan(db: Session, dump: Path) -> None:
    text = f"""
security:
  sources:
    - name: osv-all
      ecosystem: PyPI
      path: "{dump}"
      schedule: "0 4 * * *"
      timeout: 1m
"""
    apply_plan(db, load_plan_text(text, env={}))
    db.commit()


def _pass(service: OsvService) -> str | None:
    async def go() -> str | None:
        started = await service.run_once()
        await service.wait_idle()
        return started

    return asyncio.run(go())


def _imports(db: Session) -> list[tuple[str, str]]:
    db.expire_all()
    return [(r.status, r.trigger) for r in db.scalars(select(OsvImport).order_by(OsvImport.id))]


def test_due_sources() -> None:
    section = SecuritySection.model_validate(
        {"sources": [{"name": "a", "ecosystem": "npm", "path": "/x", "schedule": "0 4 * * *"}]}
    )
    at = datetime(2026, 3, 2, 4, 0, 30, tzinfo=UTC)
    assert [s.name for s in due_sources(section, {}, at, at - timedelta(hours=1))] == ["a"]
    assert due_sources(section, {}, at, at - timedelta(seconds=10)) == []  # new: waits
    assert due_sources(section, {"a": at - timedelta(seconds=20)}, at, T0) == []


@pytest.fixture
def dump(sessions: sessionmaker[Session], tmp_path: Path) -> Path:
    path = write_dump(tmp_path / "all.zip", REQUESTS_GHSA, OPENSSL_DSA)
    with sessions() as db:
        _plan(db, path)
        db.add(
            HostPackages(
                host="web-1",
                ecosystem="PyPI",
                location="venv",
                collected_at=T0,
                received_at=T0,
                packages=[["requests", "2.31.0"]],
            )
        )
        db.commit()
    return path


def test_scheduled_import_then_scan(sessions: sessionmaker[Session], dump: Path) -> None:
    clock = Clock(T0)
    service = OsvService(sessions, clock=clock)
    assert _pass(service) is None  # before 04:00
    clock.at = T0 + timedelta(minutes=1, seconds=30)
    assert _pass(service) == "osv-all"
    with sessions() as db:
        assert _imports(db) == [("succeeded", "schedule")]
        finding = db.scalars(select(SecurityFinding)).one()  # the scan followed the import
        assert (finding.host, finding.vuln_id) == ("web-1", "GHSA-9wx4-h78v-vm56")
    assert OSV_RECORDS.labels("PyPI")._value.get() == 1
    assert OSV_RECORDS.labels("Debian:12")._value.get() == 1
    assert OSV_IMPORT_AGE.labels("osv-all")._value.get() == 0
    clock.at += timedelta(minutes=10)
    assert _pass(service) is None  # imported on this schedule already
    assert OSV_IMPORT_AGE.labels("osv-all")._value.get() == 600
    # a replica taking over decides from the rows: nothing to catch up
    assert _pass(OsvService(sessions, clock=clock)) is None
    # the next day's run is missed (no leader at 04:00); the next leader runs it, once
    clock.at = T0 + timedelta(days=1, hours=2)
    replica = OsvService(sessions, clock=clock)
    assert _pass(replica) == "osv-all"
    assert _pass(replica) is None
    with sessions() as db:
        assert _imports(db) == [("succeeded", "schedule"), ("unchanged", "schedule")]


def test_queued_import_is_claimed(sessions: sessionmaker[Session], dump: Path) -> None:
    clock = Clock(T0)
    with sessions() as db:
        row = imports.queue_import(db, "osv-all", "PyPI", "alice", timedelta(minutes=1), T0)
        db.commit()
        queued_id = row.id
    assert _pass(OsvService(sessions, clock=clock)) == "osv-all"
    with sessions() as db:
        done = db.get(OsvImport, queued_id)
        assert done is not None and (done.status, done.trigger) == ("succeeded", "alice")
        assert done.records_added == 2
    write_dump(dump)  # a dump without records: refused, unless the import is forced
    for force, status in ((False, "failed"), (True, "succeeded")):
        with sessions() as db:
            row = imports.queue_import(
                db, "osv-all", "PyPI", "bob", timedelta(minutes=1), T0, force=force
            )
            db.commit()
            queued_id = row.id
        assert _pass(OsvService(sessions, clock=clock)) == "osv-all"
        with sessions() as db:
            done = db.get(OsvImport, queued_id)
            assert done is not None and (done.status, done.forced) == (status, force)
    assert done.records_removed == 2


def test_an_unreadable_section_stops_the_service(
    sessions: sessionmaker[Session], dump: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored section that does not validate is an error naming where, never the values
    (the mirror URL is a secret), and never the defaults; the service imports nothing."""
    token = remember_secret("mirror-token-0c4e9d21")
    with sessions() as db:
        db.add(
            StoredObject(
                kind="security.sources",
                name="bad",
                spec={"name": "bad", "ecosystem": "Cobol", "url": f"https://m.example/?t={token}"},
            )
        )
        db.commit()
        with pytest.raises(SectionUnreadable) as caught:
            load_section(db)
    assert str(caught.value) == (
        "the stored security section does not validate (1 problem(s) at "
        "security.sources[1].ecosystem); re-apply the plan (`watchkeeper plan check` shows where)"
    )
    service = OsvService(sessions, clock=Clock(T0 + timedelta(minutes=2)))

    async def passes() -> None:
        task = asyncio.create_task(service.run())
        for _ in range(3):
            service.wake()
            await asyncio.sleep(0.05)
        await service.stop()
        await task

    with caplog.at_level(logging.ERROR, logger="watchkeeper.security.osv.service"):
        asyncio.run(passes())
    assert [r.getMessage() for r in caplog.records] == [f"osv: no import: {caught.value}"]
    with sessions() as db:
        assert _imports(db) == []


def test_stale_and_orphaned_imports_are_closed(sessions: sessionmaker[Session], dump: Path) -> None:
    with sessions() as db:
        db.add(
            OsvImport(
                source="osv-all",
                ecosystem="PyPI",
                status="running",
                started_at=T0 - timedelta(hours=1),
            )
        )
        db.add(OsvImport(source="gone", ecosystem="npm", status="queued", started_at=T0))
        db.commit()
    _pass(OsvService(sessions, clock=Clock(T0)))
    with sessions() as db:
        rows = {r.source: r for r in db.scalars(select(OsvImport))}
        assert rows["osv-all"].status == "failed"
        assert rows["osv-all"].error == "the import stopped without finishing (its process ended)"
        assert rows["gone"].status == "failed"
        assert rows["gone"].error == 'the plan has no vulnerability source "gone" any more'
