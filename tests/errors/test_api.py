"""The read API: projects with DSNs, made in the plan or through the API; issues; events."""

from __future__ import annotations

import httpx

from tests.errors.conftest import TokenClient
from tests.errors.support import apply, event_envelope, exception_event, post, project
from tests.helpers import LiveServer
from watchkeeper.runtime.context import AppContext

PLAN = """
errors:
  projects:
    - name: shop
      team: payments
      platform: python
      public_key: 0123456789abcdef0123456789abcdef
    - name: api
"""


def test_projects_with_ready_dsns(
    ctx: AppContext, errors_server: LiveServer, api_as: TokenClient
) -> None:
    apply(ctx, PLAN)
    viewer = api_as("viewer")
    listed = {p["name"]: p for p in viewer.get("/api/v1/errors/projects").json()}
    shop, api = listed["shop"], listed["api"]
    host = errors_server.url.removeprefix("http://")
    assert shop["dsn"] == f"http://0123456789abcdef0123456789abcdef@{host}/{shop['id']}"
    assert len(api["public_key"]) == 32 and api["public_key"] in api["dsn"]
    assert shop["id"] != api["id"] and shop["managed"] is True
    assert shop["team"] == "payments" and shop["issues"]["unresolved"] == 0
    # The key and id survive another apply, and the project coming back after removal.
    apply(ctx, "errors:\n  projects:\n    - name: shop\n")
    apply(ctx, PLAN)
    again = {p["name"]: p for p in viewer.get("/api/v1/errors/projects").json()}
    assert again["api"]["dsn"] == api["dsn"]


def test_create_a_project_through_the_api(ctx: AppContext, api_as: TokenClient) -> None:
    operator, viewer = api_as("operator"), api_as("viewer")
    refused = viewer.post("/api/v1/errors/projects", json={"name": "mobile"})
    assert refused.status_code == 403
    made = operator.post("/api/v1/errors/projects", json={"name": "mobile", "rate_limit": 10})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["managed"] is False and body["dsn"].endswith(f"/{body['id']}")
    assert body["rate_limit"] == 10
    taken = operator.post("/api/v1/errors/projects", json={"name": "mobile"})
    assert taken.status_code == 409
    bad = operator.post("/api/v1/errors/projects", json={"name": "x", "rate_limit": -1})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "rate_limit"
    bad_key = operator.post("/api/v1/errors/projects", json={"name": "y", "public_key": "zz"})
    assert bad_key.status_code == 422
    # The new project takes events at once.
    mobile = project(ctx, "mobile")
    with httpx.Client(base_url=str(operator.base_url)) as sdk:
        assert post(sdk, mobile, event_envelope(exception_event())).status_code == 200


def test_issues_filters_detail_and_latest_event(
    ctx: AppContext, client: httpx.Client, api_as: TokenClient
) -> None:
    apply(ctx, PLAN)
    shop, api = project(ctx, "shop"), project(ctx, "api")
    for release in ("1.4.2", "1.5.0"):
        event = exception_event(release=release, user={"id": "u1"}, tags={"region": "eu"})
        assert post(client, shop, event_envelope(event)).status_code == 200
    other = exception_event(
        "KeyError", release="1.5.0", user={"email": "b@example.com"}, frames=[("x", "y", 1)]
    )
    assert post(client, shop, event_envelope(other)).status_code == 200
    assert post(client, api, event_envelope(exception_event())).status_code == 200
    viewer = api_as("viewer")
    everything = viewer.get("/api/v1/errors/issues").json()
    assert everything["total"] == 3
    page = viewer.get("/api/v1/errors/issues", params={"project": "shop", "per_page": 1}).json()
    assert page["total"] == 2 and len(page["issues"]) == 1
    old = viewer.get("/api/v1/errors/issues", params={"release": "1.4.2"}).json()
    assert [i["title"] for i in old["issues"]] == ["ValueError: bad value"]
    (bug,) = old["issues"]
    assert (bug["count"], bug["users"], bug["project"]) == (2, 1, "shop")
    assert (bug["first_release"], bug["last_release"]) == ("1.4.2", "1.5.0")
    assert bug["status"] == "unresolved" and bug["team"] == "payments"
    detail = viewer.get(f"/api/v1/errors/issues/{bug['id']}").json()
    assert [r["release"] for r in detail["releases"]] == ["1.4.2", "1.5.0"]
    assert detail["events_kept"] == 2
    latest = viewer.get(f"/api/v1/errors/issues/{bug['id']}/events/latest").json()
    assert latest["release"] == "1.5.0"
    assert latest["event"]["tags"] == {"region": "eu"}
    assert latest["event"]["exception"]["values"][0]["type"] == "ValueError"
    assert viewer.get("/api/v1/errors/issues", params={"status": "resolved"}).json()["total"] == 0
    assert viewer.get("/api/v1/errors/issues", params={"status": "nope"}).status_code == 422
    assert viewer.get("/api/v1/errors/issues", params={"project": "nope"}).status_code == 404
    assert viewer.get("/api/v1/errors/issues/999999").status_code == 404
    assert viewer.get("/api/v1/errors/issues/999999/events/latest").status_code == 404
    assert client.get("/api/v1/errors/issues").status_code == 401
