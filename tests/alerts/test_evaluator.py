"""The evaluator: check-state and PromQL rules recorded in the store and dispatched, and the
whole path from a check failing to a webhook receiving the page."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.helpers import free_port
from watchkeeper.alerts.evaluator import AlertEvaluator, check_labels
from watchkeeper.checks.events import EventBus
from watchkeeper.checks.runner import CheckRunner
from watchkeeper.metrics.labels import make_labels
from watchkeeper.metrics.source import MemorySource
from watchkeeper.notify.worker import DeliveryWorker
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import Alert, AlertEvent, CheckStatus, OutboxNotification

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def setup(sessions: sessionmaker[Session], text: str) -> None:
    with sessions() as db:
        apply_plan(db, load_plan_text(textwrap.dedent(text)))
        db.commit()


CHECK_PLAN = """
checks:
  - {name: api, type: tcp, host: 127.0.0.1, port: 9, team: web, tags: ["host:web-1", prod]}
  - {name: site-cert, type: tls, host: example.com}
notifications:
  channels:
    - {name: pager, type: webhook, url: "http://127.0.0.1:9/"}
alerts:
  route: {receiver: pager}
  rules:
    - name: ApiDown
      check: api
      severity: critical
      annotations: {summary: "{{ $labels.check }} is down"}
      runbook_url: https://runbooks.example/api
    - name: ApiSlow
      check: api
      when: latency
      latency_above: 500ms
    - name: CertExpiring
      check: site-cert
      when: tls_expiry
      tls_expires_within: 14d
"""


def set_status(db: Session, name: str, **values: Any) -> None:
    row = db.get(CheckStatus, name) or CheckStatus(name=name)
    for key, value in {"status": "up", "failures": 0, "successes": 1, **values}.items():
        setattr(row, key, value)
    db.add(row)
    db.commit()


def alerts(db: Session) -> list[tuple[str, str]]:
    return sorted((a.rule, a.state) for a in db.scalars(select(Alert)))


def test_check_labels_turn_key_value_tags_into_labels() -> None:
    spec = {"type": "tcp", "team": "web", "tags": ["host:web-1", "env=prod", "plain"]}
    assert check_labels("api", spec) == {
        "check": "api",
        "check_type": "tcp",
        "team": "web",
        "host": "web-1",
        "env": "prod",
    }


def test_check_rules_fire_resolve_and_page(sessions: sessionmaker[Session]) -> None:
    setup(sessions, CHECK_PLAN)
    clock = Clock(T0)
    ev = AlertEvaluator(sessions, MemorySource(), base_url="http://wk", clock=clock)
    with sessions() as db:
        set_status(db, "api", status="down", failures=3, last_ok=False)
    assert ev.check_pass() == 1  # critical: paged at once
    with sessions() as db:
        assert alerts(db) == [("ApiDown", "firing")]
        (alert,) = db.scalars(select(Alert))
        assert alert.labels == {
            "alertname": "ApiDown",
            "check": "api",
            "check_type": "tcp",
            "team": "web",
            "host": "web-1",
            "severity": "critical",
        }
        assert alert.annotations == {"summary": "api is down"}
        (row,) = db.scalars(select(OutboxNotification))
        assert row.payload["alerts"][0]["runbook_url"] == "https://runbooks.example/api"
        set_status(db, "api", status="up", last_ok=True, last_response_ms=900.0)
    clock.at = T0 + timedelta(seconds=1)
    ev.check_pass()
    with sessions() as db:
        assert alerts(db) == [("ApiDown", "resolved"), ("ApiSlow", "firing")]
        events = [e.event for e in db.scalars(select(AlertEvent).order_by(AlertEvent.id))]
        assert events == ["pending", "firing", "resolved", "pending", "firing"]


def test_tls_expiry_rule(sessions: sessionmaker[Session]) -> None:
    setup(sessions, CHECK_PLAN)
    clock = Clock(T0)
    ev = AlertEvaluator(sessions, MemorySource(), clock=clock)
    with sessions() as db:
        set_status(db, "site-cert", cert_expires_at=T0 + timedelta(days=30))
    ev.check_pass()
    with sessions() as db:
        assert alerts(db) == []
        set_status(db, "site-cert", cert_expires_at=T0 + timedelta(days=10))
    ev.check_pass()
    with sessions() as db:
        (alert,) = db.scalars(select(Alert))
        assert (alert.rule, alert.state) == ("CertExpiring", "firing")
        assert alert.value == timedelta(days=10).total_seconds()


PROMQL_PLAN = """
alerts:
  evaluation_interval: 1s
  rules:
    - name: HighErrorRate
      expr: errors > 5
      for: 2s
      annotations: {summary: "{{ $labels.job }} at {{ $value }}"}
"""


def test_promql_rule_pending_firing_and_restart_resume(sessions: sessionmaker[Session]) -> None:
    setup(sessions, PROMQL_PLAN)
    source = MemorySource()
    t0_ms = int(T0.timestamp() * 1000)
    source.add(make_labels({"__name__": "errors", "job": "api"}), [t0_ms - 1000], [9.0])
    clock = Clock(T0)
    ev = AlertEvaluator(sessions, source, clock=clock)
    ev._start()
    ev.promql_pass()
    with sessions() as db:
        assert alerts(db) == [("HighErrorRate", "pending")]
    # a new evaluator (a restart) carries on from the stored pending alert
    ev2 = AlertEvaluator(sessions, source, clock=clock)
    ev2._start()
    clock.at = T0 + timedelta(seconds=3)
    ev2.promql_pass()
    with sessions() as db:
        (alert,) = db.scalars(select(Alert))
        assert alert.state == "firing" and alert.active_at == T0
        assert alert.annotations == {"summary": "api at 9"}


def test_a_removed_rule_resolves_its_alerts(sessions: sessionmaker[Session]) -> None:
    setup(sessions, CHECK_PLAN)
    ev = AlertEvaluator(sessions, MemorySource(), clock=Clock(T0), reload_interval=0)
    with sessions() as db:
        set_status(db, "api", status="down", failures=1)
    ev.check_pass()
    setup(sessions, CHECK_PLAN.replace("    - name: ApiDown", "    - name: ApiDown2"))
    with sessions() as db:
        set_status(db, "api", status="up")
    ev.check_pass()
    with sessions() as db:
        assert alerts(db) == [("ApiDown", "resolved")]


def test_a_failing_check_reaches_the_webhook(sessions: sessionmaker[Session]) -> None:
    """The real path: check runner -> event bus -> evaluator -> outbox -> worker -> HTTP."""
    received: list[dict[str, Any]] = []
    got = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        got.set()
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        closed = free_port()  # nothing listens: the check fails
        setup(
            sessions,
            f"""
            checks:
              - {{name: api, type: tcp, host: 127.0.0.1, port: {closed}, interval: 1s}}
            notifications:
              channels:
                - {{name: hook, type: webhook, url: "http://127.0.0.1:{port}/hook"}}
            alerts:
              route: {{receiver: hook}}
              rules:
                - {{name: ApiDown, check: api, severity: critical}}
            """,
        )
        bus = EventBus()
        worker = DeliveryWorker(sessions)
        services = [
            CheckRunner(sessions, bus=bus),
            AlertEvaluator(sessions, MemorySource(), bus=bus, on_queued=worker.wake),
            worker,
        ]
        tasks = [asyncio.create_task(s.run()) for s in services]
        try:
            await asyncio.wait_for(got.wait(), 20)
        finally:
            for s in services:
                await s.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()

    asyncio.run(main())
    (body,) = received
    assert body["status"] == "firing"
    assert body["alerts"][0]["labels"]["alertname"] == "ApiDown"


def test_history_is_pruned_after_the_plans_window(sessions: sessionmaker[Session]) -> None:
    from watchkeeper.alerts.history import prune_history

    setup(sessions, "alerts:\n  history: 7d\n")
    with sessions() as db:
        for days, state in ((10, "resolved"), (3, "resolved"), (10, "firing")):
            at = T0 - timedelta(days=days)
            alert = Alert(
                rule="r",
                fingerprint=f"{days}{state}",
                labels={},
                annotations={},
                severity="info",
                state=state,
                active_at=at,
                last_true_at=at,
                resolved_at=at if state == "resolved" else None,
                muted="",
                muted_by=[],
            )
            db.add(alert)
            db.flush()
            db.add(AlertEvent(alert_id=alert.id, at=at, event=state))
        db.commit()
        assert prune_history(db, now=T0) == 1
        db.commit()
        assert sorted(a.fingerprint for a in db.scalars(select(Alert))) == ["10firing", "3resolved"]
        assert len(list(db.scalars(select(AlertEvent)))) == 2


def test_an_unknown_severity_label_does_not_break_the_rule(
    sessions: sessionmaker[Session],
) -> None:
    setup(sessions, PROMQL_PLAN)
    source = MemorySource()
    t0_ms = int(T0.timestamp() * 1000)
    labels = {"__name__": "errors", "job": "api", "severity": "informational-long"}
    source.add(make_labels(labels), [t0_ms - 1000], [9.0])
    ev = AlertEvaluator(sessions, source, clock=Clock(T0))
    ev._start()
    ev.promql_pass()
    with sessions() as db:
        (alert,) = db.scalars(select(Alert))
        assert alert.severity == "warning"  # the rule's; the label is kept as it is
        assert alert.labels["severity"] == "informational-long"


def test_a_rule_failing_at_run_time_does_not_stop_the_others(
    sessions: sessionmaker[Session],
) -> None:
    setup(
        sessions,
        """
        alerts:
          rules:
            - {name: Bad, expr: "errors[5m]", interval: 1s}
            - {name: Good, expr: "errors > 5", interval: 1s}
        """,
    )
    source = MemorySource()
    t0_ms = int(T0.timestamp() * 1000)
    source.add(make_labels({"__name__": "errors", "job": "api"}), [t0_ms - 1000], [9.0])
    ev = AlertEvaluator(sessions, source, clock=Clock(T0))
    ev._start()
    ev.promql_pass()
    with sessions() as db:
        assert alerts(db) == [("Good", "firing")]


def test_a_failed_pass_leaves_memory_and_store_in_step(sessions: sessionmaker[Session]) -> None:
    """Fault injection: the store fails once while the pass is being written."""
    from sqlalchemy.exc import OperationalError

    setup(sessions, CHECK_PLAN)
    ev = AlertEvaluator(sessions, MemorySource(), clock=Clock(T0))
    with sessions() as db:
        set_status(db, "api", status="down", failures=1)
    real = ev._dispatcher.tick
    calls = {"n": 0}

    def failing_once(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    ev._dispatcher.tick = failing_once  # type: ignore[method-assign]
    try:
        ev.check_pass()
    except OperationalError:
        pass
    assert ev.check_pass() == 1  # the alert fires now, and the page goes out
    with sessions() as db:
        assert alerts(db) == [("ApiDown", "firing")]


def test_a_failed_tls_run_keeps_the_certificate_expiry(sessions: sessionmaker[Session]) -> None:
    from watchkeeper.checks.history import Result, write_batch
    from watchkeeper.checks.state import CheckState

    expiry = T0 + timedelta(days=3)
    with sessions() as db:
        write_batch(db, [Result("c", T0, True, 5.0, "", expiry)], {"c": CheckState("up")}, [])
        db.commit()
        later = T0 + timedelta(minutes=1)
        write_batch(db, [Result("c", later, False, None, "x")], {"c": CheckState("up")}, [])
        db.commit()
        row = db.get(CheckStatus, "c")
        assert row is not None and row.cert_expires_at == expiry
