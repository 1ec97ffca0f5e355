"""Incident figures on known rows: MTTA/MTTR means, medians and p90s, grouping by team,
service and severity, drills left out, open incidents not counted as zero, day and week
buckets; the API (roles, defaults, bad parameters) and the figures and drills pages in a
real browser."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_or_skip
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.incidents import figures
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import DrillRun, Incident

T0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
END = T0 + timedelta(days=14)
MIN = timedelta(minutes=1)


def add_incident(
    db: Session,
    opened: datetime,
    *,
    ack: timedelta | None = None,
    resolve: timedelta | None = None,
    team: str = "",
    services: list[str] | None = None,
    severity: str = "SEV2",
    drill: str = "",
) -> Incident:
    row = Incident(
        title=f"incident at {opened:%Y-%m-%d %H:%M}",
        severity=severity,
        status="resolved" if resolve else "acknowledged" if ack else "triggered",
        team=team,
        services=list(services or []),
        drill=drill,
        opened_at=opened,
        opened_by="test",
        acknowledged_at=opened + ack if ack is not None else None,
        resolved_at=opened + resolve if resolve is not None else None,
    )
    db.add(row)
    db.flush()
    return row


def add_run(
    db: Session, name: str, started: datetime, ack: timedelta | None, result: str
) -> DrillRun:
    run = DrillRun(
        name=name,
        started_at=started,
        started_by="scheduler",
        acknowledged_at=started + ack if ack is not None else None,
        closed_at=started + (ack or timedelta(minutes=30)) if result != "running" else None,
        result=result,
    )
    db.add(run)
    db.flush()
    return run


def seed_known(db: Session) -> None:
    """Four counted incidents in two weeks, a drill, and two just outside the range."""
    add_incident(
        db,
        T0 + timedelta(hours=1),
        ack=5 * MIN,
        resolve=60 * MIN,
        team="payments",
        services=["api", "db"],
        severity="SEV1",
    )
    add_incident(
        db,
        T0 + timedelta(days=2),
        ack=15 * MIN,
        resolve=120 * MIN,
        team="payments",
        services=["api"],
    )
    add_incident(
        db, T0 + timedelta(days=8), ack=MIN, team="search", services=["db"], severity="SEV1"
    )
    add_incident(db, T0 + timedelta(days=9), team="search", severity="SEV3")  # still open
    add_incident(
        db,
        T0 + timedelta(days=3),
        ack=timedelta(seconds=10),
        resolve=timedelta(seconds=20),
        team="payments",
        drill="gameday",
    )
    add_incident(db, T0 - timedelta(seconds=1), ack=MIN, resolve=MIN, team="payments")
    add_incident(db, END, ack=MIN, resolve=MIN, team="platform")
    db.commit()


def by_key(stats: list[figures.Stats]) -> dict[str, figures.Stats]:
    return {s.key: s for s in stats}


# -- the domain ------------------------------------------------------------------------------


def test_overall_means_medians_and_p90(db: Session) -> None:
    seed_known(db)
    result = figures.summary(db, T0, END)
    o = result.overall
    assert (o.count, o.acknowledged, o.resolved) == (4, 3, 2)
    assert (o.unacknowledged, o.unresolved) == (1, 2)
    assert o.mtta == pytest.approx((300 + 900 + 60) / 3)
    assert o.median_tta == 300
    assert o.p90_tta == pytest.approx(300 + 0.8 * 600)  # between the 2nd and 3rd of 3
    assert o.mttr == 5400
    assert o.median_ttr == 5400
    assert o.p90_ttr == pytest.approx(3600 + 0.9 * 3600)
    assert [g.key for g in result.groups] == ["all"]


def test_open_incidents_are_counted_but_not_timed_as_zero(db: Session) -> None:
    add_incident(db, T0, ack=10 * MIN, resolve=30 * MIN, team="ops")
    add_incident(db, T0 + MIN, team="ops")  # neither acknowledged nor resolved
    add_incident(db, T0 + 2 * MIN, ack=20 * MIN, team="ops")  # not resolved
    db.commit()
    o = figures.summary(db, T0, END).overall
    assert o.count == 3
    assert o.mtta == 15 * 60  # (10 + 20) / 2, not (10 + 20 + 0) / 3
    assert o.mttr == 30 * 60
    assert o.median_ttr == 30 * 60


def test_drill_incidents_are_left_out(db: Session) -> None:
    add_incident(db, T0, ack=MIN, resolve=MIN, drill="gameday")
    db.commit()
    assert figures.summary(db, T0, END).overall.count == 0
    assert figures.series(db, T0, END).groups == []


def test_grouping_by_team(db: Session) -> None:
    seed_known(db)
    groups = figures.summary(db, T0, END, "team").groups
    assert [g.key for g in groups] == ["payments", "search"]
    payments, search = groups
    assert (payments.count, payments.mtta, payments.mttr) == (2, 600, 5400)
    assert (search.count, search.acknowledged, search.mtta) == (2, 1, 60)
    assert (search.resolved, search.mttr, search.median_ttr) == (0, None, None)
    assert search.p90_ttr is None


def test_an_incident_counts_for_each_of_its_services(db: Session) -> None:
    seed_known(db)
    groups = by_key(figures.summary(db, T0, END, "service").groups)
    assert list(groups) == ["api", "db", ""]  # without a service last
    assert (groups["api"].count, groups["api"].mtta) == (2, 600)
    assert (groups["db"].count, groups["db"].mtta, groups["db"].mttr) == (2, 180, 3600)
    assert (groups[""].count, groups[""].mtta) == (1, None)
    # The overall figures still count the two-service incident once.
    assert figures.summary(db, T0, END, "service").overall.count == 4


def test_grouping_by_severity(db: Session) -> None:
    seed_known(db)
    groups = by_key(figures.summary(db, T0, END, "severity").groups)
    assert {k: g.count for k, g in groups.items()} == {"SEV1": 2, "SEV2": 1, "SEV3": 1}
    assert groups["SEV1"].mtta == 180
    assert groups["SEV1"].mttr == 3600
    assert groups["SEV2"].median_tta == 900


def test_weekly_series(db: Session) -> None:
    seed_known(db)
    result = figures.series(db, T0, END, "week")
    assert result.buckets == [T0, T0 + timedelta(days=7)]
    (line,) = result.groups
    assert line.count == [2, 2]
    assert line.mtta == [600, 60]
    assert line.mttr == [5400, None]  # the second week resolved nothing: no MTTR, not 0


def test_daily_series_per_team(db: Session) -> None:
    seed_known(db)
    result = figures.series(db, T0, END, "day", "team")
    assert len(result.buckets) == 14
    lines = {g.key: g for g in result.groups}
    assert lines["payments"].mtta[0] == 300
    assert lines["payments"].mtta[2] == 900
    assert lines["payments"].mtta[3] is None  # the drill of day 3 is not counted
    assert lines["search"].count[8:10] == [1, 1]
    assert lines["search"].mtta[8:10] == [60, None]
    assert sum(lines["search"].count) == 2


def test_bucket_boundaries(db: Session) -> None:
    """Sunday 23:59:59 UTC belongs to its week, Monday 00:00 to the next; a range that
    starts mid-week begins with that week's Monday."""
    monday = T0 + timedelta(days=7)
    add_incident(db, monday - timedelta(seconds=1), ack=MIN)
    add_incident(db, monday, ack=3 * MIN)
    db.commit()
    weeks = figures.series(db, T0, END, "week")
    assert weeks.groups[0].mtta == [60, 180]
    days = figures.series(db, monday - timedelta(days=1), monday + timedelta(days=1), "day")
    assert days.buckets == [monday - timedelta(days=1), monday]
    assert days.groups[0].count == [1, 1]
    wednesday = T0 + timedelta(days=2, hours=5)
    assert figures.bucket_starts(wednesday, wednesday + timedelta(days=8), "week") == [
        T0,
        T0 + timedelta(days=7),
    ]
    assert figures.bucket_start(datetime(2025, 3, 9, 23, 59, tzinfo=UTC), "week") == T0


def test_drill_report(db: Session) -> None:
    add_run(db, "gameday", T0 + timedelta(days=1), timedelta(seconds=90), "acknowledged")
    add_run(db, "gameday", T0 + timedelta(days=4), timedelta(seconds=30), "acknowledged")
    add_run(db, "gameday", T0 + timedelta(days=8), None, "missed")
    add_run(db, "db-failover", T0 + timedelta(days=5), 4 * MIN, "acknowledged")
    add_run(db, "db-failover", T0 + timedelta(days=13), None, "running")
    add_run(db, "db-failover", END, MIN, "acknowledged")  # outside the range
    db.commit()
    report = figures.drill_report(db, T0, END)
    assert [(r.name, r.time_to_ack, r.result) for r in report.runs] == [
        ("gameday", 90, "acknowledged"),
        ("gameday", 30, "acknowledged"),
        ("db-failover", 240, "acknowledged"),
        ("gameday", None, "missed"),
        ("db-failover", None, "running"),
    ]
    drills = {d.name: d for d in report.drills}
    assert list(drills) == ["db-failover", "gameday"]
    gameday = drills["gameday"]
    assert (gameday.runs, gameday.acknowledged, gameday.missed, gameday.running) == (3, 2, 1, 0)
    assert (gameday.mean_tta, gameday.median_tta) == (60, 60)
    failover = drills["db-failover"]
    assert (failover.runs, failover.running, failover.mean_tta) == (2, 1, 240)


def test_percentile_and_median_edges() -> None:
    assert figures.percentile([], 0.9) is None
    assert figures.percentile([42.0], 0.9) == 42
    assert figures.percentile([float(i) for i in range(1, 11)], 0.9) == pytest.approx(9.1)
    assert figures.median([1.0, 2.0, 3.0, 10.0]) == 2.5


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("yesterday", None, "start"),
        (None, "2025-13-01", "end"),
        ("2025-03-10", "2025-03-01", "end"),
        ("2022-01-01", "2025-01-01", "end"),
    ],
)
def test_bad_ranges_name_the_parameter(start: str | None, end: str | None, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        figures.window(
            figures.parse_when("start", start), figures.parse_when("end", end, end=True), T0
        )
    assert caught.value.errors[0][0] == field


def test_range_defaults_and_dates() -> None:
    assert figures.window(None, None, END) == (END - timedelta(days=90), END)
    first, last = figures.window(
        figures.parse_when("start", "2025-03-03"),
        figures.parse_when("end", "2025-03-16", end=True),
        T0,
    )
    assert (first, last) == (T0, END)  # a date as the end includes that day
    assert figures.parse_when("start", "2025-03-03T08:00:00+02:00") == T0 + timedelta(hours=6)
    assert figures.parse_when("start", "2025-03-03T06:00:00") == T0 + timedelta(hours=6)


# -- the API ---------------------------------------------------------------------------------


def test_api_figures(ctx: AppContext, sign_in: Callable[..., httpx.Client]) -> None:
    with ctx.sessions() as db:
        seed_known(db)
    viewer = sign_in("vera", "viewer")
    resp = viewer.get(
        "/api/v1/incidents/figures",
        params={"start": "2025-03-03", "end": "2025-03-16", "by": "team"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["by"] == "team"
    assert body["overall"]["count"] == 4
    assert body["overall"]["unacknowledged"] == 1
    assert body["overall"]["mtta"] == 420
    groups = {g["key"]: g for g in body["groups"]}
    assert groups["payments"]["mttr"] == 5400
    assert groups["search"]["mttr"] is None
    series = body["series"]
    assert series["bucket"] == "week"
    assert [b[:10] for b in series["buckets"]] == ["2025-03-03", "2025-03-10"]
    lines = {g["key"]: g for g in series["groups"]}
    assert lines["search"]["mtta"] == [None, 60]
    assert lines["search"]["count"] == [0, 2]

    daily = viewer.get(
        "/api/v1/incidents/figures",
        params={"start": "2025-03-03T00:00:00Z", "end": "2025-03-10T00:00:00Z", "bucket": "day"},
    ).json()
    assert len(daily["series"]["buckets"]) == 7
    assert daily["groups"][0]["key"] == "all"


def test_api_defaults_to_the_last_90_days_per_week(
    ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    body = sign_in("vera", "viewer").get("/api/v1/incidents/figures").json()
    start = datetime.fromisoformat(body["start"])
    end = datetime.fromisoformat(body["end"])
    assert end - start == timedelta(days=90)
    assert body["series"]["bucket"] == "week"
    assert body["overall"]["count"] == 0
    assert body["overall"]["mtta"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "colour"}, "by"),
        ({"bucket": "month"}, "bucket"),
        ({"start": "last tuesday"}, "start"),
        ({"end": "2025-02-30"}, "end"),
        ({"start": "2025-03-10", "end": "2025-03-01"}, "end"),
        ({"start": "2020-01-01", "end": "2025-01-01"}, "end"),
    ],
)
def test_api_bad_parameters_are_400_problems(
    ctx: AppContext, sign_in: Callable[..., httpx.Client], params: dict[str, str], field: str
) -> None:
    resp = sign_in("vera", "viewer").get("/api/v1/incidents/figures", params=params)
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["errors"][0]["field"] == field
    assert field in body["detail"]


def test_api_drills_report(ctx: AppContext, sign_in: Callable[..., httpx.Client]) -> None:
    with ctx.sessions() as db:
        incident = add_incident(db, T0 + timedelta(days=1), drill="gameday")
        run = add_run(db, "gameday", T0 + timedelta(days=1), timedelta(seconds=45), "acknowledged")
        run.incident_id = incident.id
        add_run(db, "gameday", T0 + timedelta(days=2), None, "missed")
        db.commit()
        incident_id = incident.id
    viewer = sign_in("vera", "viewer")
    body = viewer.get(
        "/api/v1/drills/report", params={"start": "2025-03-01", "end": "2025-03-31"}
    ).json()
    assert [(r["time_to_ack"], r["result"]) for r in body["runs"]] == [
        (45, "acknowledged"),
        (None, "missed"),
    ]
    assert body["runs"][0]["incident_id"] == incident_id
    assert body["drills"] == [
        {
            "name": "gameday",
            "runs": 2,
            "acknowledged": 1,
            "missed": 1,
            "running": 0,
            "mean_tta": 45,
            "median_tta": 45,
        }
    ]
    bad = viewer.get("/api/v1/drills/report", params={"start": "soon"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "start"


@pytest.mark.parametrize("path", ["/api/v1/incidents/figures", "/api/v1/drills/report"])
def test_api_needs_a_signed_in_viewer(
    server: LiveServer, sign_in: Callable[..., httpx.Client], path: str
) -> None:
    assert httpx.get(server.url + path, timeout=10).status_code == 401
    assert sign_in("vera", "viewer").get(path).status_code == 200


# -- the pages -------------------------------------------------------------------------------


def test_pages_render_with_and_without_data(
    ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    viewer = sign_in("vera", "viewer")
    empty = viewer.get("/incidents/figures")
    assert empty.status_code == 200
    assert "No incidents were opened in this range." in empty.text
    assert "No drills were run" in viewer.get("/incidents/drills").text
    with ctx.sessions() as db:
        seed_history(db, datetime.now(UTC))
    page = viewer.get("/incidents/figures", params={"by": "team", "days": "90"})
    assert page.status_code == 200
    for team in ("payments", "search", "platform"):
        assert f'<td data-label="Team">{team}</td>' in page.text
    bad = viewer.get("/incidents/figures", params={"start": "nope", "by": "colour"})
    assert bad.status_code == 200
    assert "showing the last 90 days instead" in bad.text
    drills = viewer.get("/incidents/drills", params={"days": "90"})
    assert "db-failover" in drills.text


def test_pages_need_a_signed_in_user(server: LiveServer) -> None:
    for path in ("/incidents/figures", "/incidents/drills"):
        resp = httpx.get(server.url + path, timeout=10, follow_redirects=False)
        assert resp.status_code == 303
        assert resp.headers["location"].startswith("/login")


def seed_history(db: Session, now: datetime, count: int = 30, weeks: int = 10) -> None:
    """``count`` incidents over the last ``weeks`` weeks in three teams (a few still open),
    a drill incident, and drill runs of two drills."""
    rng = random.Random(6)
    teams = {
        "payments": (["api", "checkout"], 4, 60),
        "search": (["search", "api"], 12, 180),
        "platform": (["db", "queue", "dns"], 25, 300),
    }
    names = list(teams)
    for i in range(count):
        team = names[i % 3]
        services, ack_minutes, fix_minutes = teams[team]
        opened = now - timedelta(days=weeks * 7 * (i + 0.5) / count, hours=rng.uniform(0, 8))
        is_open = i < 2
        add_incident(
            db,
            opened,
            ack=None if i == 0 else timedelta(minutes=ack_minutes * rng.uniform(0.3, 2.2)),
            resolve=None if is_open else timedelta(minutes=fix_minutes * rng.uniform(0.4, 2.5)),
            team=team,
            services=rng.sample(services, k=rng.choice([1, 1, 2])),
            severity=rng.choice(["SEV1", "SEV2", "SEV2", "SEV3", "SEV3", "SEV4"]),
        )
    add_incident(db, now - timedelta(days=3), ack=MIN, resolve=MIN, team="payments", drill="x")
    for week in range(weeks):
        started = now - timedelta(days=7 * week + 2, hours=3)
        missed = week == 4
        ack = None if missed else timedelta(seconds=rng.uniform(40, 600))
        add_run(db, "gameday", started, ack, "missed" if missed else "acknowledged")
        if week % 3 == 0:
            ack = timedelta(seconds=rng.uniform(120, 900))
            add_run(db, "db-failover", started + timedelta(days=1), ack, "acknowledged")
    add_run(db, "db-failover", now - timedelta(minutes=5), None, "running")
    db.commit()


@pytest.mark.browser
def test_figures_page_draws_its_charts(ctx: AppContext, server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_or_skip()
    with ctx.sessions() as db:
        seed_history(db, datetime.now(UTC))
    make_user(ctx, "vera", "viewer")
    problems: list[str] = []

    def bad_response(resp: Any) -> None:
        if resp.status >= 400 and not resp.url.endswith("/favicon.ico"):
            problems.append(f"{resp.status} {resp.url}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", bad_response)
        page.goto(f"{server.url}/login?next=/incidents/figures")
        page.get_by_label("User name").fill("vera")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Incident figures")
        expect(page.locator(".figure-count .num")).to_have_text("30")
        expect(page.locator(".figure-charts .uplot canvas")).to_have_count(2)
        page.get_by_role("link", name="Team", exact=True).click()
        expect(page.locator(".figure-charts .uplot canvas")).to_have_count(2)
        legend = page.locator(".figure-charts .u-legend").first
        for team in ("payments", "search", "platform"):
            expect(legend).to_contain_text(team)
        expect(page.locator("table.figures tbody tr")).to_have_count(3)
        page.screenshot(path=str(ARTIFACTS / "incident-figures.png"), full_page=True)

        page.get_by_role("link", name="the drills report").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Drills")
        expect(page.locator(".uplot canvas")).to_have_count(1)
        expect(page.locator("table.drills tbody tr.drill-missed")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "incident-drills.png"), full_page=True)
        browser.close()
    assert problems == []
