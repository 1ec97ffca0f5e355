"""Small inline SVG pictures for tables: a check's hourly uptime bar and response sparkline.

Drawn on the server: a list of fifty checks needs no script and no extra requests.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from watchkeeper.checks.history import HourBucket

BAR_W, BAR_GAP, BAR_H = 4, 1, 16
SPARK_W, SPARK_H = 96, 20


def _bucket_class(bucket: HourBucket) -> str:
    if not bucket.runs:
        return "none"
    if bucket.ok_runs == bucket.runs:
        return "ok"
    return "down" if bucket.ok_runs == 0 else "partial"


def uptime_bar(buckets: Sequence[HourBucket]) -> Markup:
    """One bar per hour: green all runs passed, amber some failed, red all failed."""
    width = len(buckets) * (BAR_W + BAR_GAP)
    rects = []
    for i, b in enumerate(buckets):
        share = f"{100 * b.ok_runs / b.runs:.1f}% of {b.runs} runs" if b.runs else "no runs"
        title = escape(f"{b.hour:%Y-%m-%d %H}:00 UTC: {share}")
        rects.append(
            f'<rect x="{i * (BAR_W + BAR_GAP)}" y="0" width="{BAR_W}" height="{BAR_H}" rx="1" '
            f'class="{_bucket_class(b)}"><title>{title}</title></rect>'
        )
    failed = sum(1 for b in buckets if b.runs and b.ok_runs < b.runs)
    label = f"last {len(buckets)} hours: {failed} hour(s) with failures"
    return Markup(
        f'<svg class="uptime-bar" width="{width}" height="{BAR_H}" viewBox="0 0 {width} {BAR_H}" '
        f'role="img" aria-label="{escape(label)}">{"".join(rects)}</svg>'
    )


def sparkline(buckets: Sequence[HourBucket]) -> Markup:
    """The mean response time per hour as a line; gaps where a check did not run."""
    values = [b.mean_ms for b in buckets]
    known = [v for v in values if v is not None]
    if not known:
        return Markup('<span class="muted">–</span>')
    top = max(known) or 1.0
    step = SPARK_W / max(len(values) - 1, 1)
    runs: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
            continue
        y = SPARK_H - 1 - (SPARK_H - 2) * v / top
        runs[-1].append(f"{i * step:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline points="{" ".join(r)}"/>'
        if len(r) > 1
        else f'<circle cx="{r[0].split(",")[0]}" cy="{r[0].split(",")[1]}" r="1.2"/>'
        for r in runs
        if r
    )
    label = f"mean response time per hour, at most {top:.0f} ms"
    return Markup(
        f'<svg class="sparkline" width="{SPARK_W}" height="{SPARK_H}" '
        f'viewBox="0 0 {SPARK_W} {SPARK_H}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{lines}</svg>"
    )
