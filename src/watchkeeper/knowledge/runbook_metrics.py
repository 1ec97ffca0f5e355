"""The runbooks' own metrics on ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from watchkeeper.telemetry import REGISTRY

RUNBOOKS = Gauge(
    "watchkeeper_runbooks",
    "Runbooks in the knowledge base, by source (store: made in the UI or API; folder: read "
    "from the plan's runbooks folder).",
    ["source"],
    registry=REGISTRY,
)
RUNBOOKS_REVIEW_DUE = Gauge(
    "watchkeeper_runbooks_review_due",
    "Runbooks past their review period (RunbookReviewDue fires for each).",
    registry=REGISTRY,
)
RUNBOOK_REVISIONS = Counter(
    "watchkeeper_runbook_revisions_total",
    "Runbook revisions recorded by this process, by source (an edit in the UI or API, or a "
    "changed file in the folder).",
    ["source"],
    registry=REGISTRY,
)
RUNBOOK_REVIEWS = Counter(
    "watchkeeper_runbook_reviews_total",
    "Runbooks confirmed still correct through this process.",
    registry=REGISTRY,
)
