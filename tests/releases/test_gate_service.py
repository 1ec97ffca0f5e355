"""The release-gate service end to end: samples pushed into the real metric store before and
after deploys, the service run once on a controllable clock, verdicts and figures stored,
and a regression opening an incident that links to the diff and the deploy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.releases.support import apply
from watchkeeper.auth.audit import Actor
from watchkeeper.incidents import views
from watchkeeper.metrics.labels import make_labels
from watchkeeper.releases import deploys
from watchkeeper.releases.gate_service import ReleaseGateService
from watchkeeper.releases.section import load_section
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Deploy, Incident, TaskInstance

T = datetime(2025, 11, 3, 10, 0, tzinfo=UTC)
STEP = timedelta(seconds=15)
CI = Actor("ci")


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def push(ctx: AppContext, name: str, start: datetime, end: datetime, value: float) -> None:
    """Samples of ``name`` for service api every 15 s over [start, end)."""
    samples = []
    moment = start
    while moment < end:
        samples.append((int(moment.timestamp() * 1000), value))
        moment += STEP
    ctx.metrics.write([(make_labels({"__name__": name, "service": "api"}), samples)])


def counter(
    ctx: AppContext,
    start: datetime,
    end: datetime,
    rate_before: float,
    rate_after: float,
    switch: datetime,
) -> None:
    """http_errors_total rising at one rate before ``switch`` and another after."""
    samples, total, moment = [], 0.0, start
    while moment < end:
        samples.append((int(moment.timestamp() * 1000), total))
        total += (rate_before if moment < switch else rate_after) * STEP.total_seconds()
        moment += STEP
    ctx.metrics.write([(make_labels({"__name__": "http_errors_total", "service": "api"}), samples)])


def record(ctx: AppContext, version: str, at: datetime, sha: str) -> int:
    with ctx.sessions() as db:
        deploy = deploys.record(
            db,
            load_section(db),
            deploys.DeployInput(
                service="api", version=version, commit_sha=sha, deployed_at=at, author="alice"
            ),
            CI,
            at + timedelta(seconds=5),
        )
        db.commit()
        return deploy.id


def test_regressed_deploy_opens_an_incident(ctx: AppContext) -> None:
    apply(ctx.sessions)
    older = record(ctx, "1.3.0", T - timedelta(days=2), "aaaa1111")
    deploy_id = record(ctx, "1.4.0", T, "bbbb2222")
    # errors: 0.1/s before, 0.5/s after; latency unchanged
    counter(ctx, T - timedelta(hours=1), T + timedelta(hours=1), 0.1, 0.5, T)
    push(ctx, "http_latency_p95_seconds", T - timedelta(hours=1), T + timedelta(hours=1), 0.25)
    clock = Clock(T + timedelta(minutes=20))
    gate = ReleaseGateService(ctx.sessions, ctx.metrics, base_url="https://wk.example", clock=clock)

    # 1.4.0's window after the deploy has not passed; 1.3.0 has no data around it
    assert [(j.deploy_id, j.verdict) for j in gate.run_once()] == [(older, "skipped")]
    with ctx.sessions() as db:
        assert db.get(Deploy, deploy_id).gate == "pending"  # type: ignore[union-attr]

    clock.at = T + timedelta(minutes=31)
    judged = gate.run_once()
    assert [(j.deploy_id, j.verdict) for j in judged] == [(deploy_id, "regressed")]
    assert gate.run_once() == []  # judged once
    with ctx.sessions() as db:
        deploy = db.get(Deploy, deploy_id)
        assert deploy is not None and deploy.gate == "regressed"
        assert deploy.gate_checked_at == T + timedelta(minutes=31)
        metrics = {m["name"]: m for m in deploy.gate_detail["metrics"]}
        errors = metrics["error_rate"]
        assert errors["verdict"] == "regressed"
        assert abs(errors["before"] - 0.1) < 0.02 and abs(errors["after"] - 0.5) < 0.1
        assert metrics["p95_latency"]["verdict"] == "healthy"
        assert deploy.gate_detail["reason"] == "regressed: error_rate"
        assert deploy.incident_id is not None
        incident = db.get(Incident, deploy.incident_id)
        assert incident is not None
        assert incident.title == "api 1.4.0 regressed in production"
        assert (incident.severity, incident.team, incident.services) == ("SEV2", "web", ["api"])
        assert incident.opened_by == "release-gate"
        diff = "https://git.example.com/web/api/compare/aaaa1111...bbbb2222"
        assert f"Diff: {diff}" in incident.summary
        assert (
            "replacing 1.3.0" in incident.summary
            and "**error_rate** (regressed)" in incident.summary
        )
        link = f"https://wk.example/releases/services/api#deploy-{deploy_id}"
        assert f"Deploy: {link}" in incident.summary
        timeline = views.incident_view(db, incident.id, clock.at).timeline
        urls = [e.data.get("url") for e in timeline if e.kind == "link"]
        assert urls == [diff, link]


def test_healthy_skipped_and_failed(ctx: AppContext) -> None:
    apply(ctx.sessions)
    healthy = record(ctx, "1.4.0", T, "bbbb2222")
    counter(ctx, T - timedelta(hours=1), T + timedelta(hours=1), 0.1, 0.11, T)
    push(ctx, "http_latency_p95_seconds", T - timedelta(hours=1), T + timedelta(hours=1), 0.25)
    later = T + timedelta(days=1)  # no data around it
    skipped = record(ctx, "1.4.1", later, "cccc3333")
    started = record(ctx, "1.4.2", later + timedelta(hours=1), "dddd4444")
    with ctx.sessions() as db:
        deploys.update(db, started, deploys.DeployChange(status="started"), CI)
        db.commit()
    gate = ReleaseGateService(ctx.sessions, ctx.metrics, clock=Clock(later + timedelta(hours=2)))
    verdicts = {j.deploy_id: j.verdict for j in gate.run_once()}
    assert verdicts == {healthy: "healthy", skipped: "skipped"}  # `started` waits
    with ctx.sessions() as db:
        row = db.get(Deploy, skipped)
        assert row is not None
        assert row.gate_detail["reason"].startswith(
            "no metric could be judged (error_rate: no data"
        )
        assert db.scalars(select(Incident)).first() is None
        assert db.get(Deploy, started).gate == "pending"  # type: ignore[union-attr]
    much_later = ReleaseGateService(
        ctx.sessions, ctx.metrics, clock=Clock(later + timedelta(days=2))
    )
    assert [(j.deploy_id, j.verdict) for j in much_later.run_once()] == [(started, "skipped")]
    with ctx.sessions() as db:
        assert db.get(Deploy, started).gate_detail == {  # type: ignore[union-attr]
            "reason": "the deploy never reported success"
        }


ACCEPTANCE_PLAN = """
releases:
  services:
    - name: api
      team: web
      gate:
        window: 30m
        require_acceptance: true
        metrics:
          - name: error_rate
            expr: sum(rate(http_errors_total{service="api"}[5m]))
            threshold: 0.2
            min_change: 0.05
    - name: billing
      gate: {window: 30m, require_acceptance: true}
  planned:
    - {name: api-1-4, service: api, version: 1.4.0, at: 2025-11-03T09:00:00Z}
    - {name: api-1-5, service: api, version: 1.5.0, at: 2025-11-03T09:00:00Z}
    - {name: billing-nov, service: billing, at: 2025-11-02T09:00:00Z}
"""


def sign_off(ctx: AppContext, release: str, decision: str, at: datetime) -> None:
    """A completed release-acceptance task with ``release`` marked ``decision``."""
    with ctx.sessions() as db:
        db.add(
            TaskInstance(
                task=f"uat-{release}",
                kind="release_acceptance",
                title="UAT sign-off",
                occurrence_at=at,
                due_at=at,
                status="done",
                decisions={f"release:{release}": decision},
                completed_at=at,
                completed_by="rita",
            )
        )
        db.commit()


def test_a_gate_requiring_acceptance_needs_the_uat_sign_off(ctx: AppContext) -> None:
    apply(ctx.sessions, ACCEPTANCE_PLAN)
    sign_off(ctx, "api-1-4", "accepted", T - timedelta(hours=2))
    sign_off(ctx, "api-1-5", "not-accepted", T - timedelta(hours=2))
    sign_off(ctx, "billing-nov", "accepted", T - timedelta(hours=1))
    accepted = record(ctx, "1.4.0", T, "bbbb2222")
    refused = record(ctx, "1.5.0", T + timedelta(minutes=1), "cccc3333")
    unplanned = record(ctx, "1.6.0", T + timedelta(minutes=2), "dddd4444")
    with ctx.sessions() as db:
        billing = deploys.record(
            db,
            load_section(db),
            deploys.DeployInput(service="billing", version="2025.11.1", deployed_at=T),
            CI,
            T,
        )
        db.commit()
        billing_id = billing.id
    counter(ctx, T - timedelta(hours=1), T + timedelta(hours=1), 0.1, 0.1, T)
    gate = ReleaseGateService(ctx.sessions, ctx.metrics, clock=Clock(T + timedelta(hours=1)))
    verdicts = {j.deploy_id: j.verdict for j in gate.run_once()}
    assert verdicts == {
        accepted: "healthy",
        refused: "unaccepted",
        unplanned: "unaccepted",
        billing_id: "healthy",
    }
    with ctx.sessions() as db:
        row = db.get(Deploy, accepted)
        assert row is not None and row.gate_detail["acceptance"] == {
            "release": "api-1-4",
            "by": "rita",
            "at": (T - timedelta(hours=2)).isoformat(),
        }
        row = db.get(Deploy, refused)
        assert row is not None and row.gate_detail == {
            "reason": "no accepted release acceptance (UAT) sign-off of a planned release of "
            "api 1.5.0 to production"
        }
        row = db.get(Deploy, billing_id)  # no metrics: the sign-off is the whole gate
        assert row is not None
        assert row.gate_detail["reason"] == "accepted by rita (planned release billing-nov)"
