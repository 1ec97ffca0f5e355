"""Metrics: every target of the plan's scrape jobs answered its last scrape (``up`` is 1)
within three times the job's interval, and the metrics retention job ran within the last
three hours (``scheduled_jobs``)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import numpy as np
from sqlalchemy.orm import Session

from watchkeeper.metrics.config import MetricsSection
from watchkeeper.metrics.labels import METRIC_NAME, STALE_NAN_BITS, Matcher
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    declared,
    every,
    load_section,
    not_in_plan,
    plural,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import ScheduledJob

LATE_FACTOR = 3
RETENTION_JOB = "metrics.retention"
RETENTION_LATE = timedelta(hours=3)
"""The retention job runs hourly (with up to 5 minutes of jitter)."""


def evaluate(db: Session, live: Live) -> SectionResult:
    if not declared(db, "metrics"):
        return not_in_plan("metrics")
    section = load_section(db, "metrics", MetricsSection)
    tally = Tally("metrics")
    targets = sum(len(job.targets) for job in section.scrape)
    if targets and live.metrics is None:
        for job in section.scrape:
            for target in job.targets:
                tally.cannot_tell(
                    "scrape target", f"{job.job}/{target}", "the metric store is not open here"
                )
    elif targets:
        assert live.metrics is not None
        answered = 0
        for job in section.scrape:
            answered += _judge_job(tally, live, job.job, job.targets, job.interval)
        tally.say(
            f"{plural(targets, 'scrape target')} in {plural(len(section.scrape), 'job')}; "
            f"{answered} answered their last scrape."
        )
    _judge_retention(db, live, tally)
    return tally.result()


def _judge_job(tally: Tally, live: Live, job: str, targets: list[str], interval: timedelta) -> int:
    """Judge each target of ``job`` by its newest ``up`` sample; return how many are up."""
    assert live.metrics is not None
    allowed = LATE_FACTOR * interval + timedelta(seconds=30)
    end_ms = int(live.now.timestamp() * 1000)
    start_ms = int((live.now - allowed).timestamp() * 1000)
    newest: dict[str, tuple[int, float]] = {}
    for series in live.metrics.select(
        [Matcher(METRIC_NAME, "=", "up"), Matcher("job", "=", job)], start_ms, end_ms
    ):
        keep = series.values.view(np.uint64) != STALE_NAN_BITS
        if not keep.any():
            continue
        ts, value = int(series.ts[keep][-1]), float(series.values[keep][-1])
        instance = dict(series.labels).get("instance", "")
        if instance not in newest or newest[instance][0] < ts:
            newest[instance] = (ts, value)
    up = 0
    link = "/query?" + urlencode({"q": f'up{{job="{job}"}}'})
    for target in targets:
        found = newest.get(target)
        if found is None:
            tally.failed(
                "scrape target",
                f"{job}/{target}",
                f"not scraped in the last {span(allowed)} (every {every(interval)})",
                link,
            )
        elif found[1] != 1.0:
            tally.failed(
                "scrape target", f"{job}/{target}", "does not answer scrapes (up is 0)", link
            )
        else:
            up += 1
            tally.passed()
    return up


def _judge_retention(db: Session, live: Live, tally: Tally) -> None:
    name = "metrics retention"
    row = db.get(ScheduledJob, RETENTION_JOB)
    if row is None:
        tally.cannot_tell(
            "retention", name, "the server's scheduler has not scheduled it (never started?)"
        )
        return
    if row.last_finished_at is None:
        if live.now - row.next_run_at > RETENTION_LATE:
            tally.failed(
                "retention", name, f"never ran; it was due {at(row.next_run_at)}", "/query"
            )
        else:
            tally.passed()
            tally.say(f"Retention first runs at {at(row.next_run_at)}.")
        return
    age = live.now - row.last_finished_at
    if row.last_status != "ok":
        tally.failed(
            "retention",
            name,
            f"its last run at {at(row.last_finished_at)} ended {row.last_status}: {row.last_error}",
            "/query",
        )
    elif age > RETENTION_LATE:
        tally.failed("retention", name, f"last ran {span(age)} ago (hourly)", "/query")
    else:
        tally.passed()
        tally.say(f"Retention last applied {span(age)} ago.")
