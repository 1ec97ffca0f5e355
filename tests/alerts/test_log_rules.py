"""Log rules (``logs:``): a metric query over the log store fires alerts through the same
path as PromQL rules, and a bad query is a plan error at its line."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.alerts.config import AlertRule
from watchkeeper.alerts.evaluator import AlertEvaluator
from watchkeeper.alerts.log_rules import LogRuleError, log_results
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.store import ChunkStore
from watchkeeper.metrics.source import MemorySource
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.store.tables import Alert, AlertEvent

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
NS = 1_000_000_000

PLAN = """
alerts:
  evaluation_interval: 1s
  rules:
    - name: ErrorBurst
      logs: 'sum by (app) (count_over_time({level="error"}[5m])) > 2'
      annotations: {summary: "{{ $labels.app }}: {{ $value }} errors in 5m"}
    - name: BackupMissing
      logs: 'absent_over_time({app="backup"} |= "backup done" [25h])'
      severity: critical
"""


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def ns(at: datetime) -> int:
    return int(at.timestamp()) * NS


def line(at: datetime, message: str, **labels: str) -> LogLine:
    return LogLine(ns(at), ns(at), make_labels(labels), message)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChunkStore]:
    s = ChunkStore(tmp_path / "logs")
    yield s
    s.close()


def states(db: Session) -> dict[str, str]:
    return {a.rule: a.state for a in db.scalars(select(Alert))}


def evaluator(sessions: sessionmaker[Session], store: ChunkStore, clock: Clock) -> AlertEvaluator:
    with sessions() as db:
        apply_plan(db, load_plan_text(textwrap.dedent(PLAN)))
        db.commit()
    ev = AlertEvaluator(sessions, MemorySource(), clock=clock, logs=store)
    ev._start()
    return ev


def test_count_rule_fires_after_errors_and_resolves_when_they_stop(
    sessions: sessionmaker[Session], store: ChunkStore
) -> None:
    clock = Clock(T0)
    store.append([line(T0 - timedelta(hours=1), "backup done", app="backup")])
    ev = evaluator(sessions, store, clock)
    ev.promql_pass()
    with sessions() as db:
        assert states(db) == {}
    errors = [
        line(T0 + timedelta(seconds=i), f"boom {i}", app="api", level="error") for i in range(3)
    ]
    errors.append(line(T0, "also bad", app="web", level="error"))  # 1 < 2: no alert
    errors.append(line(T0, "fine", app="api", level="info"))
    store.append(errors)
    clock.at = T0 + timedelta(seconds=10)
    ev._due.clear()
    ev.promql_pass()
    with sessions() as db:
        (alert,) = db.scalars(select(Alert))
        assert (alert.rule, alert.state) == ("ErrorBurst", "firing")
        assert alert.labels == {"alertname": "ErrorBurst", "app": "api", "severity": "warning"}
        assert alert.annotations == {"summary": "api: 3 errors in 5m"}
    store.flush()  # the lines now come from a chunk; still within the window
    clock.at = T0 + timedelta(minutes=4)
    ev._due.clear()
    ev.promql_pass()
    with sessions() as db:
        assert states(db) == {"ErrorBurst": "firing"}
    clock.at = T0 + timedelta(minutes=6)  # the errors left the 5m window
    ev._due.clear()
    ev.promql_pass()
    with sessions() as db:
        assert states(db) == {"ErrorBurst": "resolved"}
        events = [e.event for e in db.scalars(select(AlertEvent).order_by(AlertEvent.id))]
        assert events == ["pending", "firing", "resolved"]


def test_absence_rule_fires_when_the_expected_line_is_missing_and_resolves_when_it_comes(
    sessions: sessionmaker[Session], store: ChunkStore
) -> None:
    clock = Clock(T0)
    store.append(
        [
            line(T0 - timedelta(hours=26), "backup done", app="backup"),  # outside 25h
            line(T0 - timedelta(hours=2), "backup started", app="backup"),
        ]
    )
    store.flush()
    ev = evaluator(sessions, store, clock)
    ev.promql_pass()
    with sessions() as db:
        (alert,) = db.scalars(select(Alert))
        assert (alert.rule, alert.state) == ("BackupMissing", "firing")
        assert alert.labels["app"] == "backup" and alert.severity == "critical"
    store.append([line(T0 + timedelta(seconds=30), "backup done in 12m", app="backup")])
    clock.at = T0 + timedelta(minutes=1)
    ev._due.clear()
    ev.promql_pass()
    with sessions() as db:
        assert states(db) == {"BackupMissing": "resolved"}


def test_log_rule_without_a_store_is_an_error_not_a_crash(store: ChunkStore) -> None:
    with pytest.raises(LogRuleError, match="no log store"):
        log_results(None, 'count_over_time({app="x"}[5m])', T0)
    assert log_results(store, 'count_over_time({app="x"}[5m])', T0) == []


def problems(text: str) -> list[str]:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(textwrap.dedent(text), file="plan.yaml")
    return str(info.value).splitlines()


def test_invalid_log_query_is_reported_at_its_line() -> None:
    found = problems(
        """
        alerts:
          rules:
            - name: Fine
              logs: 'count_over_time({app="api"}[5m]) > 1'
            - name: Broken
              logs: 'count_over_time({app="api"}[5x])'
            - name: NotAMetric
              logs: '{app="api"} |= "error"'
        """
    )
    assert any(
        p.startswith("plan.yaml:7:") and "not a valid log metric query" in p and "5x" in p
        for p in found
    ), found
    assert any(p.startswith("plan.yaml:9:") and "expected a metric query" in p for p in found)


def test_rule_kind_error_lists_logs() -> None:
    (found,) = problems(
        """
        alerts:
          rules:
            - {name: Nothing}
        """
    )
    assert found.startswith("plan.yaml:4:") and "`forecast`, `logs` or `errors`" in found
    rule = AlertRule.model_validate({"name": "L", "logs": 'rate({a="b"}[1m]) > 1'})
    assert rule.kind == "logs" and rule.on_interval and not rule.is_promql
