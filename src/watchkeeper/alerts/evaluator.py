"""Evaluate the plan's alert rules and hand the results to the dispatcher.

Check-state rules are judged on every check state change (the check runner's event bus
wakes the evaluator at once) and at least every second (latency and certificate rules, and
changes made by another replica). PromQL rules, log rules (``logs:``, over the log
store) and error rules (``errors:``, over the error issues) run on their own interval. Alert
state lives in memory and in the store (``alerts``, ``alert_events``), so a restart resumes where it
stopped; one evaluator runs per cluster (see ``runtime/leader.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.alerts.config import AlertRule, AlertsSection
from watchkeeper.alerts.dispatch import Dispatcher, RoutingConfig, load_config
from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.alerts.log_rules import LogRuleError, log_results
from watchkeeper.alerts.rules import Active, Transition, query_results, step
from watchkeeper.checks.events import EventBus
from watchkeeper.errors.alerting import error_results
from watchkeeper.logs.store import LogStore
from watchkeeper.metrics.promql.engine import Engine
from watchkeeper.metrics.promql.errors import EvaluationError, PromQLError
from watchkeeper.metrics.source import SeriesSource
from watchkeeper.plan.objects import SETTINGS_KIND
from watchkeeper.store.kind_version import KindCache
from watchkeeper.store.tables import Alert, AlertEvent, CheckStatus, StoredObject, utcnow
from watchkeeper.telemetry import (
    ALERTS_ACTIVE,
    NOTIFICATIONS_QUEUED_BY_DISPATCH,
    RULE_EVALUATION_DURATION,
    RULE_EVALUATIONS,
    STORE_ERRORS,
)

log = logging.getLogger(__name__)
VALUE_WRITE_EVERY = timedelta(seconds=60)  # an alert's value in the store lags this much
Results = list[tuple[Mapping[str, str], float | None]]
SEVERITIES = ("critical", "warning", "info")


def _load(db: Session, ids: list[int]) -> list[Alert]:
    return [
        row
        for i in range(0, len(ids), 500)
        for row in db.scalars(select(Alert).where(Alert.id.in_(ids[i : i + 500])))
    ]


_LABEL_FIELDS = ("type", "team", "tags")
"""The fields of a check's spec that :func:`check_labels` reads."""


def check_labels(name: str, spec: Mapping[str, Any]) -> dict[str, str]:
    """Labels of a check's alerts: ``check``, ``check_type``, ``team``, and each
    ``key:value`` (or ``key=value``) tag as a label (``host:db-1`` -> ``host="db-1"``)."""
    labels = {"check": name, "check_type": str(spec.get("type", ""))}
    if spec.get("team"):
        labels["team"] = str(spec["team"])
    for tag in spec.get("tags") or []:
        key, sep, value = str(tag).replace("=", ":", 1).partition(":")
        if sep and key.isidentifier() and key not in labels and value:
            labels[key] = value
    return labels


def check_results(
    rule: AlertRule,
    checks: Mapping[str, Mapping[str, Any]],
    status: Mapping[str, CheckStatus],
    now: datetime,
) -> Results:
    """The (labels, value) pairs for which a check-state rule's condition holds."""
    pattern = rule.heartbeat if rule.heartbeat is not None else rule.check
    assert pattern is not None
    out: Results = []
    for name, spec in checks.items():
        if not fnmatchcase(name, pattern):
            continue
        row = status.get(name)
        if row is None:
            continue
        labels = check_labels(name, spec)
        if rule.when == "down":
            if row.status == "down":
                out.append((labels, float(row.failures)))
        elif rule.when == "latency":
            assert rule.latency_above is not None
            ms = row.last_response_ms
            if row.last_ok and ms is not None and ms > rule.latency_above.total_seconds() * 1000:
                out.append((labels, ms / 1000))
        elif rule.when == "tls_expiry":
            assert rule.tls_expires_within is not None
            expires = row.cert_expires_at
            if expires is not None and expires - now < rule.tls_expires_within:
                out.append((labels, (expires - now).total_seconds()))
    return out


def _check_labels(db: Session) -> dict[str, dict[str, Any]]:
    """Each check's label fields: only what check_labels reads (whole specs weigh tens of MB)."""
    rows = db.execute(
        select(StoredObject.name, StoredObject.spec)
        .where(StoredObject.kind == "checks")
        .execution_options(yield_per=500)
    )
    return {name: {k: spec.get(k) for k in _LABEL_FIELDS} for name, spec in rows}


class AlertEvaluator:
    """A service: evaluates rules, records alert states, runs the dispatcher."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        source: SeriesSource,
        *,
        bus: EventBus | None = None,
        base_url: str = "",
        on_queued: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        tick: float = 1.0,
        reload_interval: float = 5.0,
        logs: LogStore | None = None,
    ) -> None:
        self._sessions = sessions
        self._engine = Engine(source)
        self._logs = logs  # for `logs:` rules; without it they report an error each pass
        self._bus = bus
        self._base_url = base_url
        self._on_queued = on_queued
        self._clock = clock
        self._tick = tick
        self._reload_interval = reload_interval
        self._lock = threading.Lock()  # state and dispatcher: one writer at a time
        self._dispatcher = Dispatcher(base_url)
        self._rules: dict[str, AlertRule] = {}
        self._default_interval = timedelta(seconds=15)
        self._checks: dict[str, dict[str, Any]] = {}
        self._check_labels = KindCache("checks", _check_labels)
        self._active: dict[str, dict[str, Active]] = {}
        self._ids: dict[tuple[str, str], int] = {}
        self._written: dict[tuple[str, str], datetime] = {}
        self._due: dict[str, float] = {}
        self._loaded_at = -1e9
        self._routing: RoutingConfig | None = None
        self._needs_resync = False
        self._changed = True  # alerts changed since the last dispatch
        self._stopping = asyncio.Event()

    # -- configuration and state ------------------------------------------------------------

    def _reload(self, db: Session) -> None:
        rules: dict[str, AlertRule] = {}
        for obj in db.scalars(select(StoredObject).where(StoredObject.kind == "alerts.rules")):
            try:
                rules[obj.name] = AlertRule.model_validate(obj.spec)
            except ValidationError as exc:
                log.error("alert rule %s: stored configuration is invalid: %s", obj.name, exc)
        settings = db.scalar(
            select(StoredObject.spec).where(
                StoredObject.kind == SETTINGS_KIND, StoredObject.name == "alerts"
            )
        )
        with contextlib.suppress(ValidationError):
            section = AlertsSection.model_validate(
                {k: v for k, v in (settings or {}).items() if k == "evaluation_interval"}
            )
            self._default_interval = section.evaluation_interval
        self._checks = self._check_labels.get(db)  # ten thousand specs: read on change
        for name, rule in rules.items():
            old = self._rules.get(name)
            if rule.on_interval and (old is None or old.condition() != rule.condition()):
                self._due.pop(name, None)  # new or changed: evaluate at once
        self._rules = rules
        self._routing = load_config(db)
        self._loaded_at = time.monotonic()

    def _load_active(self, db: Session) -> None:
        rows = db.scalars(
            # not Watchkeeper's own alerts ("watchkeeper:internal", drills): no plan rule owns them
            select(Alert).where(
                Alert.state.in_(("pending", "firing")),
                ~Alert.rule.startswith(INTERNAL_RULE.split(":")[0] + ":"),
            )
        )
        for row in rows:
            self._active.setdefault(row.rule, {})[row.fingerprint] = Active(
                fingerprint=row.fingerprint,
                labels=dict(row.labels),
                annotations=dict(row.annotations or {}),
                state="firing" if row.state == "firing" else "pending",
                value=row.value,
                active_at=row.active_at,
                last_true_at=row.last_true_at,
                fired_at=row.fired_at,
            )
            self._ids[(row.rule, row.fingerprint)] = row.id
            self._written[(row.rule, row.fingerprint)] = row.updated_at

    # -- persistence ---------------------------------------------------------------------------

    def _record(
        self,
        db: Session,
        rule_name: str,
        severity: str,
        now_active: dict[str, Active],
        transitions: list[Transition],
        now: datetime,
    ) -> None:
        """Store the transitions and refresh stale values: a few statements per pass, not
        one per alert (a rule may return 10,000 series)."""
        known = [
            self._ids[(rule_name, t.alert.fingerprint)]
            for t in transitions
            if (rule_name, t.alert.fingerprint) in self._ids
        ]
        rows = {r.id: r for r in _load(db, known)}
        gone: list[int] = []
        created: dict[tuple[str, str], Alert] = {}
        events: list[tuple[Alert, Transition]] = []
        for t in transitions:
            key = (rule_name, t.alert.fingerprint)
            known_id = self._ids.get(key)
            row = rows.get(known_id) if known_id is not None else created.get(key)
            a = t.alert
            if t.event == "inactive":
                if row is not None:
                    gone.append(row.id)
                self._ids.pop(key, None)
                self._written.pop(key, None)
                continue
            if row is None:
                if t.event == "resolved":
                    continue
                sev = a.labels.get("severity", severity)
                row = Alert(
                    rule=rule_name,
                    fingerprint=a.fingerprint,
                    labels=a.labels,
                    annotations=a.annotations,
                    severity=sev if sev in SEVERITIES else severity,
                    state=a.state,
                    value=a.value,
                    active_at=a.active_at,
                    last_true_at=a.last_true_at,
                    muted="",
                    muted_by=[],
                )
                db.add(row)
                created[key] = row
            if t.event == "firing":
                row.state, row.fired_at = "firing", a.fired_at
            elif t.event == "resolved":
                row.state, row.resolved_at = "resolved", now
                row.muted, row.muted_by = "", []
            row.value, row.annotations, row.labels = a.value, a.annotations, a.labels
            row.last_true_at = a.last_true_at
            events.append((row, t))
        if gone:
            for i in range(0, len(gone), 500):
                chunk = gone[i : i + 500]
                db.execute(delete(AlertEvent).where(AlertEvent.alert_id.in_(chunk)))
                db.execute(delete(Alert).where(Alert.id.in_(chunk)))
        db.flush()  # ids of new rows, in one batch
        for row, t in events:
            key = (rule_name, t.alert.fingerprint)
            if t.event == "resolved":
                self._ids.pop(key, None)
                self._written.pop(key, None)
            else:
                self._ids[key] = row.id
                self._written[key] = now
        db.add_all(
            AlertEvent(alert_id=row.id, at=now, event=t.event, value=t.alert.value)
            for row, t in events
        )
        moved = {t.alert.fingerprint for t in transitions}
        stale = []
        for fp, a in now_active.items():
            key = (rule_name, fp)
            if fp in moved or key not in self._ids:
                continue
            if now - self._written.get(key, now) >= VALUE_WRITE_EVERY:
                stale.append(
                    {
                        "id": self._ids[key],
                        "value": a.value,
                        "annotations": a.annotations,
                        "last_true_at": a.last_true_at,
                    }
                )
                self._written[key] = now
        if stale:
            db.execute(update(Alert), stale)

    def _apply(self, db: Session, rule_name: str, results: Results | None, now: datetime) -> None:
        """Step one rule (``results`` None: the rule is gone, resolve its alerts)."""
        rule = self._rules.get(rule_name)
        active = self._active.get(rule_name, {})
        if rule is None or results is None:
            transitions = [
                Transition(a, "resolved" if a.state == "firing" else "inactive", now)
                for a in active.values()
            ]
            self._record(db, rule_name, "warning", {}, transitions, now)
            self._changed = True
            self._active.pop(rule_name, None)
            return
        new, transitions = step(rule, active, results, now, self._base_url)
        self._record(db, rule_name, rule.severity, new, transitions, now)
        self._changed = self._changed or bool(transitions)
        for t in transitions:
            if t.event in ("firing", "resolved"):
                log.info("alert %s %s: %s", rule_name, t.event, t.alert.labels)
        self._active[rule_name] = new

    def _dispatch(self, db: Session, now: datetime) -> int:
        routing = self._routing or load_config(db)
        queued = self._dispatcher.tick(db, now, routing, force=self._changed)
        self._changed = False
        NOTIFICATIONS_QUEUED_BY_DISPATCH.inc(queued)
        states = [a.state for rule in self._active.values() for a in rule.values()]
        ALERTS_ACTIVE.labels("pending").set(states.count("pending"))
        ALERTS_ACTIVE.labels("firing").set(states.count("firing"))
        return queued

    def _resync(self) -> None:
        """After a failed pass (its transaction rolled back), forget what memory holds and
        read the alerts back from the store, so memory and store agree again."""
        self._active.clear()
        self._ids.clear()
        self._written.clear()
        self._loaded_at = -1e9
        self._changed = True
        try:
            with self._sessions() as db:
                self._load_active(db)
        except SQLAlchemyError as exc:  # the next pass tries again
            log.error("alerts: cannot re-read alert state: %s", type(exc).__name__)
            self._needs_resync = True
        else:
            self._needs_resync = False

    # -- one pass ------------------------------------------------------------------------------

    def check_pass(self) -> int:
        """Evaluate the check-state rules and dispatch; return notifications queued."""
        started = time.perf_counter()
        with self._lock:
            if self._needs_resync:
                self._resync()
            try:
                with self._sessions() as db:
                    now = self._clock()
                    if time.monotonic() - self._loaded_at >= self._reload_interval:
                        self._reload(db)
                        for gone in set(self._active) - set(self._rules):
                            self._apply(db, gone, None, now)
                    check_rules = [r for r in self._rules.values() if not r.on_interval]
                    if check_rules:
                        status = {row.name: row for row in db.scalars(select(CheckStatus))}
                        for rule in check_rules:
                            results = check_results(rule, self._checks, status, now)
                            self._apply(db, rule.name, results, now)
                    queued = self._dispatch(db, now)
                    db.commit()
            except BaseException:
                RULE_EVALUATIONS.labels("check", "error").inc()
                self._resync()
                raise
        RULE_EVALUATION_DURATION.labels("check").observe(time.perf_counter() - started)
        RULE_EVALUATIONS.labels("check", "ok").inc()
        return queued

    def promql_pass(self) -> tuple[int, float]:
        """Evaluate the PromQL and log rules that are due, record them and dispatch once; return
        (notifications queued, seconds until the next rule is due)."""
        now_mono = time.monotonic()
        due = [
            r
            for r in self._rules.values()
            if r.on_interval and self._due.get(r.name, 0.0) <= now_mono
        ]
        evaluated: list[tuple[AlertRule, Results, datetime]] = []
        for rule in due:
            interval = (rule.interval or self._default_interval).total_seconds()
            self._due[rule.name] = max(self._due.get(rule.name, now_mono) + interval, now_mono)
            started = time.perf_counter()
            now = self._clock()
            kind = rule.kind if rule.kind in ("logs", "errors") else "promql"
            try:
                if rule.logs is not None:
                    results = log_results(self._logs, rule.logs, now)
                elif rule.errors is not None:
                    with self._sessions() as db:
                        results = error_results(db, rule.errors, now)
                else:
                    at_ms = int(now.timestamp() * 1000)
                    results = query_results(self._engine, rule.promql(), at_ms)
            except (PromQLError, EvaluationError, LogRuleError) as exc:
                RULE_EVALUATIONS.labels(kind, "error").inc()
                log.warning("alert rule %s: %s", rule.name, exc)
                continue
            RULE_EVALUATION_DURATION.labels(kind).observe(time.perf_counter() - started)
            RULE_EVALUATIONS.labels(kind, "ok").inc()
            evaluated.append((rule, results, now))
        queued = 0
        if evaluated:
            with self._lock:
                if self._needs_resync:
                    self._resync()
                try:
                    with self._sessions() as db:
                        for rule, results, now in evaluated:
                            if rule.name in self._rules:
                                self._apply(db, rule.name, results, now)
                        queued = self._dispatch(db, self._clock())
                        db.commit()
                except BaseException:
                    self._resync()
                    raise
        upcoming = [self._due.get(r.name, now_mono) for r in self._rules.values() if r.on_interval]
        return queued, max(0.0, min(upcoming) - time.monotonic()) if upcoming else 5.0

    # -- service -------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock, self._sessions() as db:
            self._reload(db)
            self._load_active(db)

    async def _checks_loop(self) -> None:
        queue = self._bus.subscribe() if self._bus is not None else None
        try:
            while not self._stopping.is_set():
                await self._guarded(self.check_pass)
                waiter = asyncio.ensure_future(queue.get()) if queue is not None else None
                stop = asyncio.ensure_future(self._stopping.wait())
                pending = {stop} | ({waiter} if waiter else set())
                await asyncio.wait(pending, timeout=self._tick, return_when="FIRST_COMPLETED")
                for fut in pending:
                    fut.cancel()
                if queue is not None:
                    while not queue.empty():  # one pass handles every change so far
                        queue.get_nowait()
        finally:
            if queue is not None and self._bus is not None:
                self._bus.unsubscribe(queue)

    async def _promql_loop(self) -> None:
        while not self._stopping.is_set():
            wait = await self._guarded(self.promql_pass)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), min(max(wait, 0.05), 1.0))

    async def _guarded(self, work: Callable[[], Any]) -> float:
        try:
            result = await asyncio.to_thread(work)
        except SQLAlchemyError as exc:
            STORE_ERRORS.labels("alerts").inc()
            log.error("alert evaluation: store error %s; retrying", type(exc).__name__)
            return 1.0
        except Exception:  # a bug must not stop alerting
            log.exception("alert evaluation failed; retrying")
            return 1.0
        queued, wait = result if isinstance(result, tuple) else (result, 1.0)
        if queued and self._on_queued is not None:
            self._on_queued()
        return float(wait)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self._start)
                break
            except SQLAlchemyError as exc:
                STORE_ERRORS.labels("alerts").inc()
                log.error("alerts: cannot read the store: %s; retrying", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 2.0)
        await asyncio.gather(self._checks_loop(), self._promql_loop())

    async def stop(self) -> None:
        self._stopping.set()
