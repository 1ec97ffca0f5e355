"""The ``watchkeeper up`` process: migrate, apply the plan, serve, schedule, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import httpx
import uvicorn

from watchkeeper.alerts.evaluator import AlertEvaluator
from watchkeeper.alerts.history import prune_history
from watchkeeper.auth import throttle
from watchkeeper.auth.sessions import purge_expired_sessions
from watchkeeper.auth.setup import issue_setup_token
from watchkeeper.backups.restic import Restic
from watchkeeper.backups.schedule import BackupScheduler
from watchkeeper.checks.events import EventBus
from watchkeeper.checks.history import rollup_and_prune
from watchkeeper.checks.pings import prune_pings
from watchkeeper.checks.runner import CheckRunner
from watchkeeper.dbmaint.service import DbMaintService
from watchkeeper.errors import activity as error_activity_
from watchkeeper.errors import retention as error_retention
from watchkeeper.errors.from_logs import LogErrorFeed
from watchkeeper.incidents import tracking
from watchkeeper.incidents.engine import IncidentEngine
from watchkeeper.incidents.escalation import Pager
from watchkeeper.knowledge.runbook_review import RunbookReviewService
from watchkeeper.logs.anomalies.service import TemplateMining
from watchkeeper.logs.audit_stream import AuditStream
from watchkeeper.metrics.compaction import Retention, compact, enforce_retention
from watchkeeper.metrics.scrape import Scraper
from watchkeeper.notify import outbox
from watchkeeper.notify.worker import DeliveryWorker
from watchkeeper.plan.loader import PlanInvalid
from watchkeeper.releases.capacity.service import CapacityService
from watchkeeper.releases.dora_query import update_gauges as update_dora_gauges
from watchkeeper.releases.gate_service import ReleaseGateService
from watchkeeper.runtime import gc_tuning
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.runtime.leader import Leadership
from watchkeeper.runtime.scheduler import Scheduler
from watchkeeper.runtime.schedules import Every
from watchkeeper.runtime.tls import check_files
from watchkeeper.security.compliance.evaluator_probe import EvaluatorProbe
from watchkeeper.security.compliance.plan_service import PlanComplianceService
from watchkeeper.security.compliance.service import ComplianceService
from watchkeeper.security.hardening.service import HardeningService
from watchkeeper.security.osv.service import OsvService
from watchkeeper.security.service import SecurityService
from watchkeeper.store.engine import display_url
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import utcnow
from watchkeeper.tasks.service import TasksService

log = logging.getLogger(__name__)


def prepare(ctx: AppContext, announce: Callable[[str], None]) -> None:
    """Migrate the store, apply the plan (raise PlanInvalid), announce URL and setup link."""
    before, after = upgrade(ctx.engine)
    if before != after:
        log.info("store migrated from %s to %s", before or "empty", after)
    ctx.apply_plan_file(actor="plan")
    with ctx.sessions() as db:
        token = issue_setup_token(db)
        db.commit()
    base = ctx.settings.base_url
    announce(
        f"Watchkeeper is running at {base}/  (store: {display_url(ctx.settings.database_url)})"
    )
    if token:
        announce(
            "No user exists yet. Create the first admin with this one-time link "
            f"(valid 24 h):\n    {base}/setup?token={token}"
        )


def register_housekeeping(scheduler: Scheduler, ctx: AppContext) -> None:
    """Register the jobs Watchkeeper runs on its own store (each in a worker thread)."""

    def purge_sessions() -> None:
        with ctx.sessions() as db:
            removed = purge_expired_sessions(db)
            failures = throttle.purge_old(db)
            db.commit()
        if removed or failures:
            log.info("removed %d expired session(s), %d old sign-in failure(s)", removed, failures)

    def rollup_checks() -> None:
        with ctx.sessions() as db:
            hours, pruned = rollup_and_prune(db)
            db.commit()
        log.debug("check results: %d hour(s) rolled up, %d raw result(s) pruned", hours, pruned)

    def prune_heartbeat_pings() -> None:
        with ctx.sessions() as db:
            pruned = prune_pings(db)
            db.commit()
        log.debug("heartbeat pings: %d old ping(s) pruned", pruned)

    def prune_notifications() -> None:
        with ctx.sessions() as db:
            pruned = outbox.prune(db)
            db.commit()
        log.debug("notifications: %d old delivered/failed notification(s) pruned", pruned)

    def prune_alerts() -> None:
        with ctx.sessions() as db:
            pruned = prune_history(db)
            db.commit()
        log.debug("alerts: %d resolved alert(s) past the history window pruned", pruned)

    def prune_errors() -> None:
        with ctx.sessions() as db:
            gone = error_retention.prune(db)
        if gone.events or gone.issues:
            log.info("errors: %d old event(s), %d old issue(s) removed", gone.events, gone.issues)

    def error_activity() -> None:
        with ctx.sessions() as db:
            done = error_activity_.advance(db, utcnow())
        if done.regressed:
            log.info("errors: issue(s) %s regressed", ", ".join(map(str, done.regressed)))

    def compact_metrics() -> None:
        report = compact(ctx.metrics, int(utcnow().timestamp() * 1000))
        if report.chunks:
            log.info(
                "metrics: %d sample(s) of %d series compacted into %d chunk(s)",
                report.samples,
                report.series,
                report.chunks,
            )

    def expire_metrics() -> None:
        with ctx.sessions() as db:
            retention = Retention.from_plan(db)
        removed = enforce_retention(ctx.metrics, int(utcnow().timestamp() * 1000), retention)
        if removed.chunks or removed.rollups or removed.series:
            log.info(
                "metrics retention: removed %d chunk(s), %d rollup(s), %d series",
                removed.chunks,
                removed.rollups,
                removed.series,
            )

    def dora_gauges() -> None:
        with ctx.sessions() as db:
            update_dora_gauges(db, utcnow())

    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    jobs: list[tuple[str, Callable[[], None], timedelta, timedelta, timedelta]] = [
        # name, function, every, jitter, timeout
        ("checks.rollup", rollup_checks, 10 * minute, minute, 10 * minute),
        ("metrics.compact", compact_metrics, 5 * minute, minute / 2, 30 * minute),
        ("metrics.retention", expire_metrics, hour, 5 * minute, 30 * minute),
        ("heartbeats.prune", prune_heartbeat_pings, hour, 5 * minute, 10 * minute),
        ("notifications.prune", prune_notifications, hour, 5 * minute, 10 * minute),
        ("alerts.prune", prune_alerts, hour, 5 * minute, 10 * minute),
        ("errors.prune", prune_errors, hour, 5 * minute, 30 * minute),
        ("errors.activity", error_activity, minute / 2, timedelta(seconds=5), 5 * minute),
        ("housekeeping.purge_sessions", purge_sessions, hour, 5 * minute, 5 * minute),
        ("releases.dora_gauges", dora_gauges, 10 * minute, minute, 5 * minute),
    ]
    for name, work, every, jitter, timeout in jobs:
        scheduler.register(name, _in_thread(work), Every(every), jitter=jitter, timeout=timeout)

    async def sync_tracker_issues() -> None:
        async with httpx.AsyncClient(headers={"User-Agent": "Watchkeeper"}) as http:
            with ctx.sessions() as db:
                done = await tracking.sync_all(db, http)
        if done.changed or done.failed:
            log.info(
                "tracker issues: %d changed, %d could not be checked", done.changed, done.failed
            )

    scheduler.register(
        "incidents.tracker_sync",
        sync_tracker_issues,
        Every(10 * minute),
        jitter=minute,
        timeout=5 * minute,
    )


def _in_thread(work: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await asyncio.to_thread(work)

    return job


def _call_all(hooks: list[Callable[[], None]]) -> None:
    for hook in hooks:
        hook()


def _reload(ctx: AppContext) -> None:
    try:
        ctx.apply_plan_file(actor="SIGHUP")
    except PlanInvalid as exc:
        log.error("plan not applied; the last good plan stays in force:\n%s", exc)


class _Server(uvicorn.Server):
    """Uvicorn server that tells us once it is really listening."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # serve() installs its own handlers: uvicorn's would re-raise SIGTERM after a clean
        # shutdown and turn exit status 0 into "killed by signal".
        yield

    def request_exit(self) -> None:
        if self.should_exit:  # second Ctrl-C: stop waiting for open connections
            self.force_exit = True
        self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()


async def serve(ctx: AppContext, announce: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM; SIGHUP re-applies the plan file.

    Raise PlanInvalid if the plan file is invalid at start, OSError if the port is taken,
    ConfigError if the TLS certificate or key cannot be used.
    """
    if ctx.settings.tls_certfile and ctx.settings.tls_keyfile:
        check_files(ctx.settings.tls_certfile, ctx.settings.tls_keyfile)  # before anything
    pending: list[str] = []
    prepare(ctx, pending.append)
    scheduler = Scheduler(ctx.sessions)
    register_housekeeping(scheduler, ctx)
    # One active check runner, scraper and alert evaluator per cluster (replicas on one
    # PostgreSQL store). Check state changes reach the evaluator at once through the bus.
    bus = EventBus()
    queued_hooks: list[Callable[[], None]] = []  # told when the dispatcher queued notifications
    checks = Leadership(ctx.engine, "checks", lambda: CheckRunner(ctx.sessions, bus=bus))
    scraper = Leadership(ctx.engine, "scrape", lambda: Scraper(ctx.sessions, ctx.metrics))
    alerts = Leadership(
        ctx.engine,
        "alerts",
        lambda: AlertEvaluator(
            ctx.sessions,
            ctx.metrics,
            bus=bus,
            base_url=ctx.settings.base_url,
            on_queued=lambda: _call_all(queued_hooks),
            logs=ctx.logs.store,
        ),
    )
    # Incidents from alert groups, escalation timers and drills: one engine per cluster.
    incidents = Leadership(
        ctx.engine,
        "incidents",
        lambda: IncidentEngine(
            ctx.sessions,
            Pager(ctx.settings.base_url, ctx.settings.secret_key()),
            on_queued=lambda: _call_all(queued_hooks),
        ),
    )
    # The plan's backups, retention passes, checks and drills: one scheduler per cluster.
    backups = Leadership(
        ctx.engine,
        "backups",
        lambda: BackupScheduler(
            ctx.sessions,
            Restic(cache_dir=ctx.settings.home / "cache" / "restic"),
            settings=ctx.settings,
        ),
    )
    # The plan's databases: health collections, maintenance tasks and the runs queued through
    # the API, one service per cluster.
    dbmaint = Leadership(ctx.engine, "dbmaint", lambda: DbMaintService(ctx.sessions, ctx.metrics))
    # The offline vulnerability database: the plan's OSV sources imported on schedule and
    # those queued through the API, then the scan; one service per cluster.
    osv = Leadership(ctx.engine, "osv", lambda: OsvService(ctx.sessions))
    # The server's own hardening audit and the TLS endpoints': one service per cluster.
    hardening = Leadership(
        ctx.engine,
        "hardening",
        lambda: HardeningService(ctx.sessions, ctx.settings, start_delay=30.0),
    )
    # The release gate: deploys' key metrics after the deploy against before, verdicts and
    # incidents for regressions; one service per cluster.
    releases = Leadership(
        ctx.engine,
        "releases",
        lambda: ReleaseGateService(ctx.sessions, ctx.metrics, base_url=ctx.settings.base_url),
    )
    # Capacity forecasts of hosts, databases and the plan's targets, redone every
    # `capacity.refresh`, and their CapacityForecast alerts: one service per cluster.
    capacity = Leadership(
        ctx.engine, "capacity", lambda: CapacityService(ctx.sessions, ctx.metrics)
    )
    # The patch plan's verification, the overdue-fix alerts and the findings gauges: one
    # service per cluster.
    security = Leadership(ctx.engine, "security", lambda: SecurityService(ctx.sessions))
    # RunbookReviewDue for runbooks past their review period, and the runbook gauges: one
    # service per cluster.
    runbooks = Leadership(ctx.engine, "runbooks", lambda: RunbookReviewService(ctx.sessions))
    # Recurring tasks: instances for their occurrences, reminders before they are due and
    # TaskOverdue past it; one service per cluster.
    tasks = Leadership(
        ctx.engine,
        "tasks",
        lambda: TasksService(
            ctx.sessions,
            base_url=ctx.settings.base_url,
            on_queued=lambda: _call_all(queued_hooks),
        ),
    )
    # The compliance controls' evidence, gathered every `compliance.interval`: one service
    # per cluster.
    compliance = Leadership(ctx.engine, "compliance", lambda: ComplianceService(ctx.sessions))
    # Whether each section of the plan is followed (the home page), every minute: one service
    # per cluster. It judges the alert evaluator by its pass counter where this process runs it.
    plan_compliance = Leadership(
        ctx.engine,
        "plan-compliance",
        lambda: PlanComplianceService(
            ctx.sessions,
            metrics=ctx.metrics,
            logs=lambda: ctx.logs.store,
            evaluator=EvaluatorProbe(lambda: alerts.current is not None),
        ),
    )
    # Every replica delivers notifications; rows are claimed in the store, never twice.
    notify_worker = DeliveryWorker(ctx.sessions)
    queued_hooks.append(notify_worker.wake)
    # Every replica receives logs into its own store (see docs/logs-storage.md), and copies
    # the audit trail into it (stopped before the log system, which closes the store).
    audit_stream = AuditStream(ctx.sessions, ctx.logs)
    # Every replica turns the exceptions in the logs it receives into error events.
    log_errors = LogErrorFeed(ctx.sessions, ctx.logs.subscribe)
    # One template miner per cluster, reading the leader's own log store.
    log_templates = Leadership(
        ctx.engine, "log-anomalies", lambda: TemplateMining(ctx.sessions, lambda: ctx.logs.store)
    )
    app = create_app(
        ctx,
        services=[
            scheduler,
            checks,
            scraper,
            alerts,
            incidents,
            backups,
            dbmaint,
            osv,
            compliance,
            security,
            plan_compliance,
            runbooks,
            tasks,
            hardening,
            releases,
            capacity,
            notify_worker,
            audit_stream,
            log_errors,
            log_templates,
            ctx.logs,
        ],
    )
    app.state.error_ingest = log_errors.ingest  # one ingest (writer, rate limits) per process
    app.state.notify_worker = notify_worker

    def nudge_check(name: str) -> bool:
        """Judge a heartbeat at once after a ping (api/pings.py) when this process runs the
        checks; on another replica it is judged at its next run."""
        return checks.current.run_now(name) if checks.current is not None else False

    app.state.nudge_check = nudge_check

    def wake_dbmaint() -> None:
        """Start queued maintenance runs at once when this process runs the service; on
        another replica the leader claims them at its next pass."""
        if dbmaint.current is not None:
            dbmaint.current.wake()

    app.state.wake_dbmaint = wake_dbmaint

    def wake_osv() -> None:
        """Start queued imports at once when this process runs the vulnerability-database
        service; on another replica the leader claims them at its next pass."""
        if osv.current is not None:
            osv.current.wake()

    app.state.wake_osv = wake_osv

    def wake_hardening() -> None:
        """Run an audit asked for now at once when this process runs the hardening service;
        on another replica the leader runs it at its next pass (within a minute)."""
        if hardening.current is not None:
            hardening.current.wake()

    app.state.wake_hardening = wake_hardening

    def wake_capacity() -> bool:
        """Refresh the capacity forecasts now when this process runs the service (True);
        on another replica the leader refreshes them on its schedule."""
        if capacity.current is None:
            return False
        capacity.current.wake()
        return True

    app.state.wake_capacity = wake_capacity
    config = uvicorn.Config(
        app,
        host=ctx.settings.listen_host,
        port=ctx.settings.listen_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
        # X-Forwarded-For/-Proto are believed only from the proxies the operator names.
        proxy_headers=bool(ctx.settings.trusted_proxies),
        forwarded_allow_ips=list(ctx.settings.trusted_proxies) or None,
        ssl_certfile=ctx.settings.tls_certfile,
        ssl_keyfile=ctx.settings.tls_keyfile,
    )

    def announce_pending() -> None:
        for line in pending:
            announce(line)

    server = _Server(config, announce_pending)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, _reload, ctx))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_exit)
    gc_tuning.settle()  # everything made so far lives as long as the process
    try:
        await server.serve()
    except SystemExit:  # uvicorn exits when it cannot bind
        raise OSError(
            f"could not listen on {ctx.settings.listen_host}:"
            f"{ctx.settings.listen_port} (is another server using it?)"
        ) from None
    finally:
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        ctx.close()
    log.info("stopped cleanly")
