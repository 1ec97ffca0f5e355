"""Hardening runs in the store (SQLite and PostgreSQL): the plan's endpoints, the posture
checks that read the store (audit chain, sealed secrets), recording and reading runs, the
gauges, pruning, and the hardening service's pass."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import JSON, select, type_coerce, update
from sqlalchemy.orm import Session

from tests.security.hardening.support import profile
from tests.security.hardening.tls_servers import HttpsServer, self_signed
from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.hardening import audits, runs
from watchkeeper.security.hardening.audits import server_host
from watchkeeper.security.hardening.endpoints import plan_endpoints
from watchkeeper.security.hardening.interface import AuditContext
from watchkeeper.security.hardening.posture import audit_chain, secrets_sealed
from watchkeeper.security.hardening.service import HardeningService
from watchkeeper.store.tables import AuditEntry, HardeningRun, StoredObject, utcnow
from watchkeeper.telemetry import REGISTRY


def _apply(ctx: AppContext, text: str) -> None:
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(textwrap.dedent(text), env={}))
        db.commit()


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    cert, key = self_signed(tmp_path_factory.mktemp("https"), "ec")
    with HttpsServer(cert, key, hsts="max-age=63072000") as server:
        yield server


def _plan(port: int, paths: Path) -> str:
    return f"""\
    checks:
      - name: shop
        type: http
        url: https://user:pw@127.0.0.1:{port}/health?x=1
      - name: shop-api
        type: http
        url: https://127.0.0.1:{port}/api
        bearer_token: a-token-to-seal
      - name: shop-cert
        type: tls
        host: 127.0.0.1
        port: {port}
      - name: plain
        type: http
        url: http://127.0.0.1:{port}/
    security:
      hardening:
        - name: everywhere
          hosts: ["*"]
          system_paths: ["{paths}"]
          allowed_ports: ["1-65535", "udp/1-65535"]
    """


def test_endpoints_merge_checks_of_one_site(ctx: AppContext, tmp_path: Path) -> None:
    _apply(ctx, _plan(8443, tmp_path))
    with ctx.sessions() as db:
        found = plan_endpoints(db)
    assert len(found) == 1
    endpoint = found[0]
    assert endpoint.name == "tls://127.0.0.1:8443"
    assert endpoint.checks == ("shop", "shop-api", "shop-cert")
    assert endpoint.url == "https://127.0.0.1:8443/health"  # no credentials, no query


def test_posture_checks_on_the_store(ctx: AppContext, tmp_path: Path) -> None:
    _apply(ctx, _plan(8443, tmp_path))
    check = AuditContext(profile=profile(), settings=ctx.settings, sessions=ctx.sessions)
    with ctx.sessions() as db:
        audit.record(db, Actor("test"), "thing.change", "x", {"a": 1})
        db.commit()
    # The compliance evidence's own verdicts: the hardening page cannot say otherwise.
    chain = audit_chain(check)
    assert chain.status == "pass" and chain.detail.endswith("is intact: its hash chain verifies.")
    sealed = secrets_sealed(check)
    assert (sealed.status, sealed.detail) == (
        "pass",
        "Stored secrets sealed: 1 of 1 plan secret values in 1 objects, 0 of 0 TOTP secrets.",
    )

    with ctx.sessions() as db:
        obj = db.scalars(select(StoredObject).where(StoredObject.name == "shop-api")).one()
        raw = db.execute(
            select(type_coerce(StoredObject.spec, JSON)).where(StoredObject.id == obj.id)
        ).scalar_one()
        raw["bearer_token"] = "in-clear"
        db.execute(
            update(StoredObject)
            .where(StoredObject.id == obj.id)
            .values(spec=type_coerce(raw, JSON))
        )
        entry = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
        db.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(target="y"))
        db.commit()
    sealed = secrets_sealed(check)
    assert sealed.status == "fail"
    assert "checks/shop-api: bearer_token is stored in clear" in sealed.detail
    chain = audit_chain(check)
    assert chain.status == "fail"
    assert f"entry {entry.id} content does not match its hash" in chain.detail


def _gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_service_audits_server_and_endpoints_once_per_interval(
    ctx: AppContext, https: HttpsServer, tmp_path: Path
) -> None:
    _apply(ctx, _plan(https.port, tmp_path))
    service = HardeningService(ctx.sessions, ctx.settings)
    reports = asyncio.run(service.run_once())
    endpoint = f"tls://127.0.0.1:{https.port}"
    assert [r.host for r in reports] == [server_host(), endpoint]
    assert reports[1].index == 100.0
    assert {o.id for o in reports[0].outcomes} >= {
        "WK-AUDIT-CHAIN",
        "WK-SECRETS-SEALED",
        "SSH-ROOT-LOGIN",
    }
    assert reports[0].profile == "everywhere"
    assert _gauge("watchkeeper_hardening_index", host=endpoint) == 100.0
    assert _gauge("watchkeeper_hardening_checks", host=endpoint, status="pass") == 4.0
    # Nothing is due again within the interval (read from the store: a new service too).
    assert asyncio.run(HardeningService(ctx.sessions, ctx.settings).run_once()) == []
    # An admin's "audit now" is queued in the store: the next pass runs it, once.
    with ctx.sessions() as db:
        assert audits.audit_now(db, ctx.settings, Actor("admin"), endpoint).requested == [endpoint]
    again = asyncio.run(HardeningService(ctx.sessions, ctx.settings).run_once())
    assert [r.host for r in again] == [endpoint]
    assert asyncio.run(service.run_once()) == []

    with ctx.sessions() as db:
        summaries = runs.summaries(db)
        assert [s.run.host for s in summaries] == sorted([server_host(), endpoint])
        mine = next(s for s in summaries if s.run.host == endpoint)
        assert mine.kind == "endpoint" and mine.trend == [100.0, 100.0]
        assert mine.counts == {"fail": 0, "error": 0, "pass": 4, "skip": 0}


def test_history_prune_and_gauges_follow_the_store(ctx: AppContext) -> None:
    now = utcnow()
    with ctx.sessions() as db:
        for days, index in ((500, 10.0), (450, 20.0), (10, 50.0), (1, 75.0)):
            db.add(
                HardeningRun(
                    host="db-1",
                    profile="p",
                    ran_at=now - timedelta(days=days),
                    points=int(index),
                    possible=100,
                    index=index,
                    results=[{"id": "SSH-ROOT-LOGIN", "status": "fail", "detail": "", "weight": 5}],
                )
            )
        db.add(
            HardeningRun(host="old-1", profile="p", ran_at=now - timedelta(days=900), results=[])
        )
        db.commit()
        assert [p.index for p in runs.history(db, "db-1")] == [10.0, 20.0, 50.0, 75.0]
        assert runs.prune(db, timedelta(days=400)) == 2  # old-1's only run stays: its latest
        db.commit()
        assert [p.index for p in runs.history(db, "db-1")] == [50.0, 75.0]
        runs.refresh_gauges(db)
        assert _gauge("watchkeeper_hardening_index", host="db-1") == 75.0
        assert _gauge("watchkeeper_hardening_index", host="old-1") is None  # nothing judged
        assert _gauge("watchkeeper_hardening_checks", host="old-1", status="skip") == 0.0
        db.execute(update(HardeningRun).where(HardeningRun.host == "db-1").values(host="db-2"))
        db.commit()
        runs.refresh_gauges(db)
        assert _gauge("watchkeeper_hardening_index", host="db-1") is None
        assert _gauge("watchkeeper_hardening_index", host="db-2") == 75.0


def test_agent_results_are_scored_here(db: Session) -> None:
    run = runs.record_results(
        db,
        "web-1",
        "base",
        utcnow(),
        [
            {"id": "SSH-ROOT-LOGIN", "status": "pass", "detail": "no", "weight": 5},
            {"id": "SSH-PASSWORD-AUTH", "status": "fail", "detail": "yes", "weight": 0},
            {"id": "CUSTOM-NEW", "status": "fail", "detail": "from a newer agent", "weight": 2},
            {"id": "NET-FIREWALL", "status": "skip", "detail": "needs root", "weight": 100},
        ],
        pushed_by="agents (token wk_0123abcd)",
    )
    db.commit()
    # The weights are this server's (an unknown check weighs 1), not the ones sent.
    assert [r["weight"] for r in run.results] == [5, 4, 1, 4]
    assert (run.points, run.possible, run.index) == (5, 10, 50.0)
    assert run.results[3]["title"]  # from the registry
    found = runs.latest_run(db, "web-1")
    assert found is not None and found.pushed_by == "agents (token wk_0123abcd)"
