"""``GET /api/v1/dora`` and ``watchkeeper dora`` on the hand-computed history: the figures,
the trend, each service's row, and bad parameters as 4xx problems / one-line CLI errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.helpers import LiveServer
from tests.releases.dora_history import EXPECTED, H, seed
from tests.test_silence_cli import clean_environment, run, store_env  # noqa: F401
from watchkeeper.runtime.context import AppContext

FIXED = {"window": "28d", "end": "2025-06-01"}  # a date: the window ends the midnight after


def _check(keys: dict[str, Any], scope: str) -> None:
    (per_day, f_band), (lead, l_band), (failed, finished, c_band), (ttr, r_band) = EXPECTED[scope]
    frequency = keys["deployment_frequency"]
    assert frequency["per_day"] == (pytest.approx(per_day) if per_day is not None else None)
    assert frequency["band"] == f_band
    assert keys["lead_time"]["median_seconds"] == (pytest.approx(lead) if lead else None)
    assert keys["lead_time"]["band"] == l_band
    cfr = keys["change_failure_rate"]
    assert (cfr["failed"], cfr["deploys"], cfr["band"]) == (failed or 0, finished or 0, c_band)
    assert keys["time_to_restore"]["median_seconds"] == (pytest.approx(ttr) if ttr else None)
    assert keys["time_to_restore"]["band"] == r_band


def test_api_figures_of_a_team(ctx: AppContext, sign_in: Callable[..., httpx.Client]) -> None:
    with ctx.sessions() as db:
        seed(db)
    viewer = sign_in("vera", "viewer")
    resp = viewer.get("/api/v1/dora", params={"team": "payments", **FIXED})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["scope"] == {"kind": "team", "name": "payments"}
    assert (body["start"], body["end"]) == ("2025-05-05T00:00:00Z", "2025-06-02T00:00:00Z")
    assert body["window"] == "28d"
    _check(body["keys"], "team:payments")
    assert [s["service"] for s in body["services"]] == ["api", "web"]
    for row in body["services"]:
        _check(row["keys"], f"service:{row['service']}")
    trend = body["trend"]
    assert len(trend["weeks"]) == 4 and trend["weeks"][0] == "2025-05-05T00:00:00Z"
    # api's deploys per week plus web's (W3 05-19, W4 05-26).
    assert trend["deploys"] == [3, 3, 3, 4]
    assert trend["time_to_restore_seconds"][1] == 3 * H


def test_api_every_service_and_defaults(
    ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    viewer = sign_in("vera", "viewer")
    empty = viewer.get("/api/v1/dora").json()
    assert empty["window"] == "90d" and empty["services"] == []
    assert empty["keys"]["deployment_frequency"]["band"] is None
    with ctx.sessions() as db:
        seed(db)
    body = viewer.get("/api/v1/dora", params=FIXED).json()
    assert body["scope"] == {"kind": "all", "name": ""}
    _check(body["keys"], "all")
    one = viewer.get("/api/v1/dora", params={"service": "search", **FIXED}).json()
    _check(one["keys"], "service:search")


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"service": "nope"}, 404, None),
        ({"team": "nobody"}, 422, "team"),
        ({"service": "api", "team": "payments"}, 422, "team"),
        ({"window": "soon"}, 422, "window"),
        ({"window": "3y"}, 422, "window"),
        ({"end": "tomorrow"}, 422, "end"),
    ],
)
def test_api_bad_parameters_are_problems(
    ctx: AppContext,
    sign_in: Callable[..., httpx.Client],
    params: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    with ctx.sessions() as db:
        seed(db)
    resp = sign_in("vera", "viewer").get("/api/v1/dora", params=params)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    if field:
        assert resp.json()["errors"][0]["field"] == field


def test_api_needs_a_signed_in_viewer(server: LiveServer) -> None:
    assert httpx.get(server.url + "/api/v1/dora", timeout=10).status_code == 401


def test_cli_table_and_json(store_env: dict[str, str], db: Session) -> None:  # noqa: F811
    seed(db)
    shown = run(store_env, "dora", "--team", "payments", "--window", "28d", "--end", "2025-06-01")
    assert shown.exit_code == 0, shown.output
    assert "DORA metrics · Team payments" in shown.stdout
    for text in ("Deployment frequency", "Lead time for changes", "elite", "high", "web"):
        assert text in shown.stdout, text
    assert "4 of 14 deploys failed" in shown.stdout
    as_json = run(store_env, "dora", "-s", "api", "-w", "28d", "--end", "2025-06-01", "--json")
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    _check(body["keys"], "service:api")
    assert body["trend"]["deploys"] == [3, 3, 2, 3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--service", "nope"], '--service: no service "nope" is declared'),
        (["--team", "nobody"], '--team: no team "nobody"'),
        (["--service", "api", "--team", "payments"], "--team: give a service or a team"),
        (["--window", "soon"], '--window: "soon" is not a duration'),
        (["--end", "later"], "--end: not a date or time"),
    ],
)
def test_cli_bad_input_is_one_line(
    store_env: dict[str, str],  # noqa: F811
    db: Session,
    args: list[str],
    message: str,
) -> None:
    seed(db)
    result = run(store_env, "dora", *args)
    assert result.exit_code == 1
    assert message in result.stderr
