"""The error-tracking ingest's own metrics on ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from watchkeeper.telemetry import REGISTRY

EVENTS = Counter(
    "watchkeeper_error_events_total",
    "Error events sent by SDKs, by project and outcome (accepted: stored; duplicate: an "
    "event id the project already has; filtered: an environment the project does not keep; "
    "rate_limited: refused with 429; too_large: refused with 413; invalid: refused with 400).",
    ["project", "outcome"],
    registry=REGISTRY,
)
ITEMS_IGNORED = Counter(
    "watchkeeper_error_items_ignored_total",
    "Envelope items accepted and not stored, by type (transaction, session, attachment, other...).",
    ["type"],
    registry=REGISTRY,
)
SDK_DISCARDED = Counter(
    "watchkeeper_error_sdk_discarded_total",
    "Events SDKs report having dropped themselves (client reports), by project, reason "
    "(queue_overflow, ratelimit_backoff, network_error, sample_rate, ...) and category.",
    ["project", "reason", "category"],
    registry=REGISTRY,
)
ISSUES_CREATED = Counter(
    "watchkeeper_error_issues_created_total",
    "Issues created by new fingerprints, by project.",
    ["project"],
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "watchkeeper_error_write_batch_seconds",
    "Time to store one batch of error events (one transaction).",
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
