"""Watchkeeper's own metrics, exposed on ``/metrics`` in Prometheus text format.

Each domain adds its metrics to :data:`REGISTRY` so that Watchkeeper can be monitored like
any other service.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from watchkeeper import __version__

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

BUILD_INFO = Gauge(
    "watchkeeper_build_info", "Version of this Watchkeeper process.", ["version"], registry=REGISTRY
)
BUILD_INFO.labels(__version__).set(1)

HTTP_REQUESTS = Counter(
    "watchkeeper_http_requests_total",
    "HTTP requests served, by route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "watchkeeper_http_request_duration_seconds",
    "Time to serve an HTTP request.",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STORE_ERRORS = Counter(
    "watchkeeper_store_errors_total",
    "Store operations that failed.",
    ["operation"],
    registry=REGISTRY,
)
SCHEDULER_LAG = Histogram(
    "watchkeeper_scheduler_lag_seconds",
    "Delay between a job's due time and its start.",
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
JOB_RUNS = Counter(
    "watchkeeper_job_runs_total",
    "Scheduled job runs, by job and outcome.",
    ["job", "status"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "watchkeeper_job_duration_seconds",
    "Run time of scheduled jobs.",
    ["job"],
    registry=REGISTRY,
)
JOBS_RUNNING = Gauge(
    "watchkeeper_jobs_running",
    "Scheduled jobs running now.",
    registry=REGISTRY,
)
CHECK_RUNS = Counter(
    "watchkeeper_check_runs_total",
    "Check runs by type and result (ok, fail, skipped).",
    ["type", "result"],
    registry=REGISTRY,
)
CHECK_DURATION = Histogram(
    "watchkeeper_check_duration_seconds",
    "Time a check run took.",
    ["type"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CHECK_LAG = Histogram(
    "watchkeeper_check_start_lag_seconds",
    "Delay between a check's due time and its start.",
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
CHECKS_BY_STATUS = Gauge(
    "watchkeeper_checks",
    "Checks by current status.",
    ["status"],
    registry=REGISTRY,
)
INGEST_SAMPLES = Counter(
    "watchkeeper_ingest_samples_total",
    "Metric samples received, by source (remote_write, otlp, scrape) and result (accepted, "
    "duplicate, rejected, ignored: native histograms; OTLP rejections count data points).",
    ["source", "result"],
    registry=REGISTRY,
)
SCRAPES = Counter(
    "watchkeeper_scrapes_total",
    "Scrapes of configured targets, by job and result (ok, fail).",
    ["job", "result"],
    registry=REGISTRY,
)

ALERTS_ACTIVE = Gauge(
    "watchkeeper_alerts",
    "Alerts of the plan's rules by state (pending, firing).",
    ["state"],
    registry=REGISTRY,
)
RULE_EVALUATIONS = Counter(
    "watchkeeper_rule_evaluations_total",
    "Alert rule evaluations, by kind (promql, check, logs, errors) and result (ok, error).",
    ["kind", "result"],
    registry=REGISTRY,
)
RULE_EVALUATION_DURATION = Histogram(
    "watchkeeper_rule_evaluation_seconds",
    "Time one alert rule evaluation took (PromQL rules) or one pass over check rules took.",
    ["kind"],
    registry=REGISTRY,
)
NOTIFICATIONS_QUEUED_BY_DISPATCH = Counter(
    "watchkeeper_alert_group_flushes_total",
    "Notifications the dispatcher wrote to the outbox (one per group flush and receiver).",
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "watchkeeper_notifications_total",
    "Notification delivery outcomes by channel type and result (delivered, retried, failed).",
    ["channel_type", "result"],
    registry=REGISTRY,
)
NOTIFICATION_ATTEMPT = Histogram(
    "watchkeeper_notification_attempt_seconds",
    "Time one delivery attempt took.",
    ["channel_type"],
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
NOTIFICATIONS_QUEUED = Gauge(
    "watchkeeper_notifications_queued",
    "Notifications not yet delivered or failed (pending and sending).",
    registry=REGISTRY,
)
NOTIFICATION_OLDEST_PENDING = Gauge(
    "watchkeeper_notification_oldest_pending_seconds",
    "Age of the oldest notification not yet delivered or failed (0 when none).",
    registry=REGISTRY,
)

INCIDENTS_OPEN = Gauge(
    "watchkeeper_incidents_open",
    "Open incidents by status (triggered, acknowledged), drills included.",
    ["status"],
    registry=REGISTRY,
)
INCIDENT_PAGES = Counter(
    "watchkeeper_incident_pages_total",
    "Pages the escalation engine wrote to the outbox (one per contact rule of each person "
    "and per channel target).",
    registry=REGISTRY,
)
INCIDENT_ENGINE_PASSES = Counter(
    "watchkeeper_incident_engine_passes_total",
    "Passes of the incident engine, by result (ok, error).",
    ["result"],
    registry=REGISTRY,
)

LOG_LINES = Counter(
    "watchkeeper_log_lines_total",
    "Log lines received, by receiver (syslog_udp, syslog_tcp, http, loki, otlp, agent...) "
    "and outcome (accepted, dropped_queue_full, dropped_pipeline, rejected).",
    ["source", "outcome"],
    registry=REGISTRY,
)
LOG_BYTES = Counter(
    "watchkeeper_log_received_bytes_total",
    "Bytes of log messages accepted, by receiver.",
    ["source"],
    registry=REGISTRY,
)
LOG_QUEUE = Gauge(
    "watchkeeper_log_queue_lines",
    "Lines waiting in the ingest queue for the store.",
    registry=REGISTRY,
)
LOG_STORED_BYTES = Gauge(
    "watchkeeper_log_stored_bytes",
    "Bytes the log store holds on disk (chunks, index and write-ahead log).",
    registry=REGISTRY,
)
LOG_STREAMS = Gauge(
    "watchkeeper_log_streams",
    "Log streams the store holds (per-stream disk use is on the log explorer's streams page).",
    registry=REGISTRY,
)
LOG_CHUNKS_FLUSHED = Counter(
    "watchkeeper_log_chunks_flushed_total",
    "Compressed chunks written by the log store.",
    registry=REGISTRY,
)
LOG_FORWARDED = Counter(
    "watchkeeper_log_forwarded_lines_total",
    "Log lines forwarded, by forwarder and outcome (sent, dropped, failed).",
    ["forwarder", "outcome"],
    registry=REGISTRY,
)
LOG_FORWARD_BUFFER = Gauge(
    "watchkeeper_log_forward_buffer_lines",
    "Log lines waiting to be forwarded, by forwarder.",
    ["forwarder"],
    registry=REGISTRY,
)
LOG_PIPELINE_DROPPED = Counter(
    "watchkeeper_log_pipeline_dropped_total",
    "Log lines dropped by a `drop` or `keep` stage, by pipeline.",
    ["pipeline"],
    registry=REGISTRY,
)
LOG_PIPELINE_ERRORS = Counter(
    "watchkeeper_log_pipeline_errors_total",
    "Log lines a pipeline stage could not parse (the line is kept unchanged), by pipeline "
    "and stage (timestamp, json, logfmt, labels).",
    ["pipeline", "stage"],
    registry=REGISTRY,
)
LOG_REPAIRED = Counter(
    "watchkeeper_log_lines_repaired_total",
    "Log lines accepted after a repair, by receiver and reason (invalid_utf8: bad bytes "
    "replaced by U+FFFD; truncated: cut at the maximum message size).",
    ["source", "reason"],
    registry=REGISTRY,
)

BACKUP_RUNS = Counter(
    "watchkeeper_backup_runs_total",
    "Backup policy runs per repository, by policy, kind (backup, copy, forget, check, drill) "
    "and status (succeeded, failed).",
    ["policy", "kind", "status"],
    registry=REGISTRY,
)
BACKUP_LAST_SUCCESS = Gauge(
    "watchkeeper_backup_last_success_timestamp_seconds",
    "Unix time the latest successful backup of a policy into a repository finished.",
    ["policy", "repository"],
    registry=REGISTRY,
)
BACKUP_LAST_SIZE = Gauge(
    "watchkeeper_backup_last_size_bytes",
    "Bytes the latest successful backup of a policy into a repository read from its source.",
    ["policy", "repository"],
    registry=REGISTRY,
)
BACKUP_AGE_LIMIT = Gauge(
    "watchkeeper_backup_max_age_seconds",
    "How old a policy's latest successful backup may be before it alerts (freshness.max_age, "
    "default twice the schedule's interval, at least 1 h).",
    ["policy"],
    registry=REGISTRY,
)

DBMAINT_COLLECTIONS = Counter(
    "watchkeeper_dbmaint_collections_total",
    "Health collections of the plan's databases, by database and status (ok, failed).",
    ["database", "status"],
    registry=REGISTRY,
)
DBMAINT_COLLECTION_DURATION = Histogram(
    "watchkeeper_dbmaint_collection_duration_seconds",
    "Time one health collection of a database took (failed ones included).",
    ["database"],
    registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
DBMAINT_MAINTENANCE_RUNS = Counter(
    "watchkeeper_dbmaint_maintenance_runs_total",
    "Maintenance task runs the database service started, by database, task and status "
    "(succeeded, failed, skipped).",
    ["database", "task", "status"],
    registry=REGISTRY,
)

COMPLIANCE_CONTROLS = Gauge(
    "watchkeeper_compliance_controls",
    "Compliance controls that apply, by status (pass, fail, unknown) at their last "
    "evaluation and framework (soc2, iso27001, gdpr, plan: the plan's own controls).",
    ["status", "framework"],
    registry=REGISTRY,
)
PLAN_COMPLIANCE_SCORE = Gauge(
    "watchkeeper_plan_compliance_score",
    "How much of the plan is being followed (0-100): the mean score of the plan's sections "
    "that could be judged at the last evaluation (NaN when none could).",
    registry=REGISTRY,
)
PLAN_SECTION_COMPLIANT = Gauge(
    "watchkeeper_plan_section_compliant",
    "1 when a section of the plan is being followed, 0 when not, at the last evaluation "
    "(sections not in the plan, or whose state cannot be read, have no series).",
    ["section"],
    registry=REGISTRY,
)

OSV_RECORDS = Gauge(
    "watchkeeper_osv_records",
    "Vulnerability records in the offline OSV database that affect packages of an ecosystem "
    "(as OSV names it: PyPI, npm, Debian:12, ...).",
    ["ecosystem"],
    registry=REGISTRY,
)
OSV_IMPORT_AGE = Gauge(
    "watchkeeper_osv_import_age_seconds",
    "Seconds since a vulnerability source's last good import (succeeded or unchanged) finished.",
    ["source"],
    registry=REGISTRY,
)
OSV_IMPORTS = Counter(
    "watchkeeper_osv_imports_total",
    "Imports of vulnerability sources (OSV dumps), by source and status (succeeded, "
    "unchanged, failed).",
    ["source", "status"],
    registry=REGISTRY,
)

SECURITY_FINDINGS = Gauge(
    "watchkeeper_security_findings",
    "Vulnerability findings not resolved, by severity (critical, high, medium, low, unknown), "
    "fix_available (true, false) and suppressed (true, false).",
    ["severity", "fix_available", "suppressed"],
    registry=REGISTRY,
)
SECURITY_FINDINGS_OVERDUE = Gauge(
    "watchkeeper_security_findings_overdue",
    "Open, unsuppressed findings whose fix has been available longer than security.fix_age, "
    "by severity.",
    ["severity"],
    registry=REGISTRY,
)
PATCH_ACTIONS = Gauge(
    "watchkeeper_patch_actions",
    "Patch actions of the patch plan by status (planned, applied, verified, obsolete).",
    ["status"],
    registry=REGISTRY,
)

SECURITY_INVENTORIES_RECEIVED = Counter(
    "watchkeeper_security_inventories_received_total",
    "Inventories of installed software received from agents and `watchkeeper security "
    "inventory`, by result (stored: changed, a new row; unchanged; failed: the location could "
    "not be read; gone: no longer on the host; resend: asked again in full).",
    ["result"],
    registry=REGISTRY,
)

HARDENING_INDEX = Gauge(
    "watchkeeper_hardening_index",
    "Hardening index of a host's latest audit (0-100: points earned over points possible of "
    "the checks that ran); hosts are agents' host names, watchkeeper://NAME for the server "
    "and tls://HOST:PORT for monitored TLS endpoints.",
    ["host"],
    registry=REGISTRY,
)
HARDENING_CHECKS = Gauge(
    "watchkeeper_hardening_checks",
    "Checks of a host's latest hardening audit by status (pass, fail, skip, error).",
    ["host", "status"],
    registry=REGISTRY,
)

DORA_DEPLOYS_PER_DAY = Gauge(
    "watchkeeper_dora_deploys_per_day",
    "DORA deployment frequency of a service: production deploys per day over the last 90 "
    "days (from its first deploy when later); recomputed every 10 minutes.",
    ["service"],
    registry=REGISTRY,
)
DORA_LEAD_TIME = Gauge(
    "watchkeeper_dora_lead_time_seconds",
    "DORA lead time for changes of a service: median seconds from commit to production "
    "deploy over the last 90 days (no series without commit times).",
    ["service"],
    registry=REGISTRY,
)
DORA_CHANGE_FAILURE = Gauge(
    "watchkeeper_dora_change_failure_ratio",
    "DORA change failure rate of a service (0-1): failed production deploys over finished "
    "ones in the last 90 days (no series without deploys).",
    ["service"],
    registry=REGISTRY,
)
DORA_TIME_TO_RESTORE = Gauge(
    "watchkeeper_dora_time_to_restore_seconds",
    "DORA time to restore of a service: median seconds from open to resolved of its "
    "incidents opened in the last 90 days, drills left out (no series without one resolved).",
    ["service"],
    registry=REGISTRY,
)
DORA_LEVEL = Gauge(
    "watchkeeper_dora_level",
    "DORA performance band of a service per key (deployment_frequency, lead_time, "
    "change_failure_rate, time_to_restore): 4 elite, 3 high, 2 medium, 1 low.",
    ["service", "key"],
    registry=REGISTRY,
)
DEPLOYS = Counter(
    "watchkeeper_deploys_total",
    "Deploys recorded (API and CLI) by this process, by service and environment.",
    ["service", "environment"],
    registry=REGISTRY,
)
RELEASE_GATE_VERDICTS = Counter(
    "watchkeeper_release_gate_verdicts_total",
    "Release-gate verdicts reached (healthy, regressed, skipped), by service.",
    ["service", "verdict"],
    registry=REGISTRY,
)
RELEASE_GATE_PASSES = Counter(
    "watchkeeper_release_gate_passes_total",
    "Passes of the release-gate service (ok, or error when a pass failed).",
    ["result"],
    registry=REGISTRY,
)
RELEASE_GATE_PENDING = Gauge(
    "watchkeeper_release_gate_pending",
    "Deploys whose release gate has not judged them yet (as of the last pass).",
    registry=REGISTRY,
)
RELEASE_GATE_LAST_PASS = Gauge(
    "watchkeeper_release_gate_last_pass_timestamp_seconds",
    "When the release-gate service last finished a pass (Unix time; 0 before the first).",
    registry=REGISTRY,
)

CAPACITY_DAYS_LEFT = Gauge(
    "watchkeeper_capacity_days_left",
    "Days until a capacity forecast's fitted trend reaches its limit (0: at or past it; +Inf: "
    "not within capacity.horizon), by kind (host, target, database), host, resource (cpu, "
    "memory, disk, network; the target's or database's name) and subject (mountpoint, network "
    "direction, target series, size or disk).",
    ["kind", "host", "resource", "subject"],
    registry=REGISTRY,
)
CAPACITY_FORECASTS = Gauge(
    "watchkeeper_capacity_forecasts",
    "Capacity items at the last refresh by status (over, soon: within alert_within, later, "
    "never, insufficient: too little history, error).",
    ["status"],
    registry=REGISTRY,
)
CAPACITY_REFRESH_SECONDS = Gauge(
    "watchkeeper_capacity_refresh_duration_seconds",
    "How long the last refresh of every capacity forecast took.",
    registry=REGISTRY,
)
CAPACITY_LAST_REFRESH = Gauge(
    "watchkeeper_capacity_last_refresh_timestamp_seconds",
    "When the capacity forecasts were last refreshed (Unix time; 0 before the first).",
    registry=REGISTRY,
)
