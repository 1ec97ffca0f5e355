"""The home page's plan-compliance view: the overall score with its trend, then one row per
section (failing ones first and open, followed ones folded to one line) with its evidence
and failing objects as links. Built from the latest snapshot of the plan-compliance
service; before it stored one, evaluated for the page (and said so)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from watchkeeper.api.status import section_summaries
from watchkeeper.knowledge.onboarding import first_run_tour
from watchkeeper.plan import catalog
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.compliance import plan_status
from watchkeeper.security.compliance.evaluator_probe import EvaluatorProbe
from watchkeeper.security.compliance.plan_sections import PAGES, TITLES
from watchkeeper.security.compliance.plan_sections.base import (
    STATUSES,
    Live,
    SectionResult,
    Status,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import utcnow

TREND_SPAN = timedelta(days=30)
TREND_STEP = timedelta(hours=1)
STRIP_SPAN = timedelta(days=7)
STRIP_STEP = timedelta(hours=4)
BAR_W, BAR_GAP, BAR_H = 4, 1, 14
LABELS = {
    "ok": "followed",
    "failing": "not followed",
    "unknown": "unknown",
    "empty": "nothing to judge",
}


@dataclass(frozen=True)
class SectionRow:
    """One section as the home page shows it."""

    result: SectionResult
    title: str
    page: str
    strip: Markup  # its status over the last week

    @property
    def open(self) -> bool:
        return self.result.status in ("failing", "unknown")


def ago(moment: datetime | None, now: datetime) -> str:
    """``moment`` relative to ``now``: "just now", "5 min ago", "never"."""
    if moment is None:
        return "never"
    if abs((now - moment).total_seconds()) < 45:
        return "just now"
    return f"{span(now - moment)} ago"


def status_strip(slots: list[Status | None], start: datetime, step: timedelta) -> Markup:
    """One bar per ``step`` from ``start``: green followed, red not, amber unknown, grey no
    evaluation (or not in the plan)."""
    rects = []
    for i, status in enumerate(slots):
        moment = start + i * step
        label = LABELS.get(status or "", "no evaluation")
        title = escape(f"{moment:%a %d %b %H:%M} UTC, {span(step)}: {label}")
        rects.append(
            f'<rect x="{i * (BAR_W + BAR_GAP)}" y="0" width="{BAR_W}" height="{BAR_H}" rx="1" '
            f'class="s-{status or "none"}"><title>{title}</title></rect>'
        )
    width = len(slots) * (BAR_W + BAR_GAP)
    failing = sum(1 for s in slots if s == "failing")
    summary = f"last {span(len(slots) * step)}: not followed in {failing} of {len(slots)} periods"
    return Markup(
        f'<svg class="status-strip" width="{width}" height="{BAR_H}" '
        f'viewBox="0 0 {width} {BAR_H}" role="img" aria-label="{escape(summary)}">'
        f"{''.join(rects)}</svg>"
    )


def _strips(points: list[plan_status.HistoryPoint], now: datetime) -> dict[str, Markup]:
    """Each section's status strip over :data:`STRIP_SPAN` (every section, even without
    evaluations yet)."""
    count = int(STRIP_SPAN / STRIP_STEP)
    start = plan_status.bucket_of(now, STRIP_STEP) - (count - 1) * STRIP_STEP
    slots: dict[str, list[Status | None]] = {name: [None] * count for name in TITLES}
    for point in points:
        index = int((point.at - start) / STRIP_STEP)
        if not 0 <= index < count:
            continue
        for name, (status, _) in point.sections.items():
            row = slots.setdefault(name, [None] * count)
            old = row[index]
            row[index] = status if old is None else min(old, status, key=STATUSES.index)
    return {name: status_strip(row, start, STRIP_STEP) for name, row in slots.items()}


def home_context(ctx: AppContext, db: Session) -> dict[str, Any]:
    """What home.html shows besides the plan's name and file."""
    now = utcnow()
    status = plan_status.latest(db)
    if status is None:
        live = Live(
            now,
            plan_status.plan_settings(db),
            metrics=ctx.metrics,
            logs=ctx.logs.store,
            evaluator=EvaluatorProbe(),
        )
        status = plan_status.evaluate_plan(db, live)
        db.rollback()  # evaluated for this page only
    points = plan_status.history(db, now - TREND_SPAN, step=TREND_STEP)
    strips = _strips(points, now)
    summaries = section_summaries(catalog.count_by_kind(db))
    rows = [
        SectionRow(
            result=s,
            title=TITLES.get(s.section, s.section),
            page=PAGES.get(s.section, "/"),
            strip=strips.get(s.section, Markup()),
        )
        for s in status.worst_first()
    ]
    counted = [r for r in rows if r.result.counted]
    trend = {
        "from": int((now - TREND_SPAN).timestamp()),
        "to": int(now.timestamp()),
        "t": [int(p.at.timestamp()) for p in points],
        "score": [p.score for p in points],
    }
    return {
        "compliance": status,
        "now": now,
        "ago": ago,
        "rows": [r for r in rows if r.result.status != "empty"],
        "empty_rows": [r for r in rows if r.result.status == "empty"],
        "followed_count": sum(1 for r in counted if r.result.status == "ok"),
        "counted_count": len(counted),
        "status_labels": LABELS,
        "trend_json": Markup(json.dumps(trend).replace("</", "<\\/")),
        "declared_sections": sum(1 for s in summaries if s.total),
        "total_objects": sum(s.total for s in summaries),
        "managed_objects": sum(s.managed for s in summaries),
        "tour": first_run_tour(db),  # the first-run card (_onboarding_tour.html)
    }
