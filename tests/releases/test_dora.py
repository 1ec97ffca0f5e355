"""DORA's four keys on a hand-computed history (per service, per team, all services), the
weekly trend, the bands' cut-offs, "no data" as no band rather than a zero, drills and
non-production deploys left out, the scope's errors, and the /metrics gauges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.releases.dora_history import END, EXPECTED, WINDOW, H, at, deploy, seed
from tests.releases.dora_history import apply as apply_plan
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.releases import dora, dora_query
from watchkeeper.telemetry import REGISTRY

NOW = datetime(2025, 6, 10, tzinfo=UTC)  # the clock, after END: END is what counts
RANGE = (END - WINDOW, END)


def _report(db: Session, scope: str) -> dora_query.Report:
    kind, _, name = scope.partition(":")
    return dora_query.report(
        db,
        NOW,
        service=name if kind == "service" else None,
        team=name if kind == "team" else None,
        window=WINDOW,
        end=END,
    )


@pytest.mark.parametrize("scope", sorted(EXPECTED))
def test_the_four_keys_match_the_hand_computed_figures(db: Session, scope: str) -> None:
    seed(db)
    (per_day, f_band), (lead, l_band), (failed, finished, c_band), (ttr, r_band) = EXPECTED[scope]
    keys = _report(db, scope).keys
    assert keys.frequency.per_day == (pytest.approx(per_day) if per_day is not None else None)
    assert keys.frequency.band == f_band
    assert keys.lead_time.median == (pytest.approx(lead) if lead else None)
    assert keys.lead_time.band == l_band
    if finished is None:
        assert (keys.change_failure.deploys, keys.change_failure.rate) == (0, None)
    else:
        assert (keys.change_failure.failed, keys.change_failure.deploys) == (failed, finished)
        assert keys.change_failure.rate == pytest.approx(failed / finished)
    assert keys.change_failure.band == c_band
    assert keys.restore.median == (pytest.approx(ttr) if ttr else None)
    assert keys.restore.band == r_band


def test_the_details_behind_the_figures_of_one_service(db: Session) -> None:
    seed(db)
    keys = _report(db, "service:api").keys
    f = keys.frequency
    assert (f.deploys, f.days, f.weeks, f.weeks_deployed) == (11, 28.0, 4, 4)
    assert (f.median_days_per_week, f.months, f.months_deployed) == (2.5, 1, 1)
    # Nine deploys named commit times; the one whose commit is after it adds none.
    assert (keys.lead_time.deploys, keys.lead_time.commits) == (9, 10)
    # I1, I2, I3 and I8 (resolved only after END); not the drill, not I5 (before the window).
    assert (keys.restore.incidents, keys.restore.resolved) == (4, 2)


def test_a_new_service_is_measured_from_its_first_deploy(db: Session) -> None:
    seed(db)
    f = _report(db, "service:web").keys.frequency
    assert (f.deploys, f.days, f.weeks, f.weeks_deployed) == (2, 14.0, 2, 2)


def test_the_weekly_trend_of_one_service(db: Session) -> None:
    seed(db)
    t = _report(db, "service:api").trend
    assert t.weeks == [at("05-05", 0), at("05-12", 0), at("05-19", 0), at("05-26", 0)]
    assert t.deploys == [3, 3, 2, 3]
    assert t.per_day == pytest.approx([3 / 7, 3 / 7, 2 / 7, 3 / 7])
    # W1 2, 24, 4, 24 h -> 14 h; W2 1, 2 h -> 1.5 h; W3 72 h; W4 24, 6, 0.5 h -> 6 h.
    assert t.lead_time == pytest.approx([14 * H, 1.5 * H, 72 * H, 6 * H])
    assert (t.finished, t.failed) == ([4, 3, 2, 3], [1, 2, 1, 0])
    assert t.change_failure == pytest.approx([0.25, 2 / 3, 0.5, 0.0])
    assert t.incidents == [1, 1, 1, 1]
    assert t.restore == [1800.0, 10800.0, None, None]


def test_each_service_of_a_team_has_its_own_figures(db: Session) -> None:
    seed(db)
    rows = {r.service: r for r in _report(db, "team:payments").services}
    assert sorted(rows) == ["api", "web"]
    assert (rows["web"].team, rows["web"].production) == ("payments", "prod")
    assert rows["api"].keys == _report(db, "service:api").keys
    assert rows["web"].keys == _report(db, "service:web").keys
    everything = _report(db, "all")
    assert [r.service for r in everything.services] == ["api", "batch", "search", "web"]


def test_no_data_gives_no_band_and_no_zero(db: Session) -> None:
    apply_plan(db)
    figures = _report(db, "all")
    keys = figures.keys
    assert (keys.frequency.per_day, keys.frequency.band) == (None, None)
    assert (keys.lead_time.median, keys.lead_time.band) == (None, None)
    assert (keys.change_failure.rate, keys.change_failure.band) == (None, None)
    assert (keys.restore.median, keys.restore.band) == (None, None)
    assert figures.trend.lead_time == [None] * 4 and figures.trend.deploys == [0] * 4


def test_no_deploy_in_the_window_after_earlier_ones_is_a_real_zero(db: Session) -> None:
    apply_plan(db)
    deploy(db, "api", END - timedelta(days=100))
    db.commit()
    f = _report(db, "service:api").keys.frequency
    assert (f.deploys, f.per_day, f.band) == (0, 0.0, "low")


def test_drills_and_other_environments_are_left_out(db: Session) -> None:
    seed(db)
    web = dora_query.resolve_scope(db, service="web")
    # web's production is "prod": its staging deploy and one to "production" do not count.
    deploys = dora_query.load_deploys(db, web, END - WINDOW, END)
    assert [d.deployed_at for d in deploys] == [at("05-19", 9), at("05-26", 9)]
    api = dora_query.resolve_scope(db, service="api")
    assert all(d.deployed_at != at("05-29") for d in dora_query.load_deploys(db, api, *RANGE))
    facts = dora_query.load_incidents(db, api, *RANGE)
    assert at("05-15", 0) not in [f.opened_at for f in facts]  # the drill
    assert len(facts) == 4


def test_scope_errors(db: Session) -> None:
    apply_plan(db)
    with pytest.raises(NotFoundError, match='no service "nope"'):
        dora_query.report(db, NOW, service="nope")
    with pytest.raises(ValidationFailed) as unknown:
        dora_query.report(db, NOW, team="nobody")
    assert unknown.value.errors[0][0] == "team"
    with pytest.raises(ValidationFailed) as both:
        dora_query.report(db, NOW, service="api", team="payments")
    assert both.value.errors[0] == ("team", "give a service or a team, not both")


@pytest.mark.parametrize(
    ("text", "days"), [(None, 90), ("", 90), ("30d", 30), ("12w", 84), ("731d", 731)]
)
def test_windows(text: str | None, days: int) -> None:
    assert dora.parse_window(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["90", "soon", "12h", "800d", "-3d"])
def test_bad_windows_name_the_parameter(text: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        dora.parse_window(text)
    assert exc.value.errors[0][0] == "window"


def test_band_cut_offs() -> None:
    hour, day = 3600, 86400
    assert [dora.lead_time_band(s) for s in (0, day - 1, day, 7 * day - 1, 7 * day)] == [
        "elite",
        "elite",
        "high",
        "high",
        "medium",
    ]
    assert dora.lead_time_band(30 * day) == "low"
    assert [dora.restore_band(s) for s in (hour - 1, hour, day, 7 * day)] == [
        "elite",
        "high",
        "medium",
        "low",
    ]
    rates = (0, 3 / 20, 0.151, 0.30, 0.301, 0.45, 0.46, 1)
    assert [dora.change_failure_band(r) for r in rates] == [
        "elite",
        "elite",
        "high",
        "high",
        "medium",
        "medium",
        "low",
        "low",
    ]
    assert dora.lead_time_band(None) is None and dora.change_failure_band(None) is None


def test_frequency_bands_on_synthetic_weeks() -> None:
    start = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
    end = start + timedelta(days=56)  # eight weeks

    def band(days: list[int]) -> dora.Band | None:
        deploys = [
            dora.DeployFact("x", start + timedelta(days=d, hours=12), "succeeded") for d in days
        ]
        return dora.frequency(deploys, start, end, start).band

    three_a_week = [7 * w + d for w in range(8) for d in range(3)]
    assert band(three_a_week) == "elite"
    assert band([7 * w for w in range(8)]) == "high"  # every week
    assert band([7 * w for w in range(5)]) == "high"  # five weeks of eight
    # 56 days counted back from the end: a 30-day month (days 26-55) and a 26-day one.
    assert band([0, 40]) == "medium"  # both months, two weeks of eight
    assert band([40]) == "low"  # one month of two is not most of them
    assert band([7 * w for w in range(4)]) == "low"  # half the weeks, all in one month
    assert dora.frequency([], start, end, None).band is None


def test_gauges(db: Session) -> None:
    seed(db)
    # The gauges cover the default 90 days up to now: put the clock at END.
    assert dora_query.update_gauges(db, END) == 4

    def value(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert value("watchkeeper_dora_lead_time_seconds", service="web") == 108 * H
    assert value("watchkeeper_dora_change_failure_ratio", service="search") == 0.0
    assert value("watchkeeper_dora_time_to_restore_seconds", service="search") == 600.0
    # Over 90 days search deployed in 4 of 13 weeks and 1 of 3 months: low (it is elite
    # over the last four weeks).
    assert value("watchkeeper_dora_level", service="search", key="deployment_frequency") == 1
    assert value("watchkeeper_dora_level", service="search", key="time_to_restore") == 4
    # batch has no data: no series rather than zeros.
    assert value("watchkeeper_dora_deploys_per_day", service="batch") is None
    assert value("watchkeeper_dora_level", service="batch", key="lead_time") is None
    assert value("watchkeeper_dora_lead_time_seconds", service="search") is None
