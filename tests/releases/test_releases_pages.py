"""The releases pages over HTTP: services with current versions and gates, the recent
deploys, a service's deploys with the gate's figures and its changelog (Markdown rendered
safely), the calendar's month grid; an unknown service is a 404, an empty plan says what to
declare."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import update

from tests.releases.support import apply
from watchkeeper.auth.audit import Actor
from watchkeeper.releases import deploys
from watchkeeper.releases.section import load_section
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Deploy, utcnow

GATE_DETAIL = {
    "verdict": "regressed",
    "reason": "regressed: error_rate",
    "metrics": [
        {
            "name": "error_rate",
            "before": 0.1,
            "after": 0.5,
            "change": 0.4,
            "relative": 4.0,
            "verdict": "regressed",
            "reason": "rose by 400.0%, beyond the threshold 20%",
        },
        {
            "name": "p95_latency",
            "before": None,
            "after": None,
            "change": None,
            "relative": None,
            "verdict": "skipped",
            "reason": "no data before nor after the deploy",
        },
    ],
}


def seed(ctx: AppContext) -> int:
    """Two api deploys (the second regressed, with an XSS attempt in its changes) and one of
    billing; return the regressed one's id."""
    apply(ctx.sessions)
    now = utcnow()
    with ctx.sessions() as db:
        section = load_section(db)
        for service, version, ago, changes in [
            ("api", "1.4.0", 3, "- Faster **search**"),
            ("api", "1.5.0", 1, "<script>alert('x')</script> [bad](javascript:alert(1))"),
            ("billing", f"{now:%Y.%m}.0", 2, ""),
        ]:
            deploy = deploys.record(
                db,
                section,
                deploys.DeployInput(
                    service=service,
                    version=version,
                    commit_sha="abcd1234",
                    author="alice",
                    changes=changes,
                    deployed_at=now - timedelta(hours=ago),
                ),
                Actor("ci"),
                now,
            )
        db.flush()
        regressed = db.scalar(
            update(Deploy)
            .where(Deploy.version == "1.5.0")
            .values(gate="regressed", gate_detail=GATE_DETAIL)
            .returning(Deploy.id)
        )
        db.commit()
    assert regressed is not None and deploy is not None
    return int(regressed)


def test_releases_page(ctx: AppContext, sign_in: Callable[..., httpx.Client]) -> None:
    seed(ctx)
    viewer = sign_in("vera", "viewer")
    page = viewer.get("/releases")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/releases/services/api">api</a>' in html
    assert '<span class="k">production</span> 1.5.0' in html
    assert '<span class="k">staging</span> <span class="muted">–</span>' in html
    assert "gate-regressed" in html and "regressed in 30 days" in html
    # the slots the other parts fill
    assert 'href="/releases/dora"' in html and 'href="/capacity"' in html
    assert 'href="/releases/calendar"' in html


def test_service_page(ctx: AppContext, sign_in: Callable[..., httpx.Client]) -> None:
    regressed = seed(ctx)
    viewer = sign_in("vera", "viewer")
    html = viewer.get("/releases/services/api").text
    assert f'id="deploy-{regressed}"' in html
    assert "rose by 400.0%, beyond the threshold 20%" in html
    assert "+400.0%" in html
    assert "<strong>search</strong>" in html  # the changelog's Markdown, rendered
    assert "<script>alert" not in html and "&lt;script&gt;" in html  # raw HTML shown as text
    assert 'href="javascript:' not in html
    assert (
        'data-release-chart data-query="sum(rate(http_errors_total{service=&#34;api&#34;}' in html
    )
    assert 'href="/releases/services/billing">billing</a>' in html  # calls billing
    assert "← 1.4.0" in html
    assert viewer.get("/releases/services/nope").status_code == 404


def test_calendar_page(ctx: AppContext, sign_in: Callable[..., httpx.Client]) -> None:
    apply(ctx.sessions)
    viewer = sign_in("vera", "viewer")
    html = viewer.get("/releases/calendar", params={"month": "2025-12"}).text
    assert "<h2>December 2025</h2>" in html
    assert 'href="?month=2025-11"' in html and 'href="?month=2026-01"' in html
    assert html.count(' frozen"') == 15  # 20 December to 3 January, as the grid shows them
    assert "Freeze year-end (api)" in html
    assert "Patch window patching" in html and "Maintenance window nightly" in html
    december = viewer.get("/releases/calendar", params={"month": "2026-12"}).text
    assert "api 2.0.0 to production: the new pricing" in december
    # a bad month falls back to this month rather than failing
    assert viewer.get("/releases/calendar", params={"month": "banana"}).status_code == 200


def test_empty_plan(ctx: AppContext, sign_in: Callable[..., httpx.Client]) -> None:
    viewer = sign_in("vera", "viewer")
    html = viewer.get("/releases").text
    assert "No services in the plan yet" in html
    assert viewer.get("/releases/calendar").status_code == 200
