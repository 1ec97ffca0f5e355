"""Triage over the API: ``PATCH /api/v1/errors/issues/{id}`` (responder and up), its
refusals naming the field, and the issue's counts for the chart."""

from __future__ import annotations

import httpx

from tests.errors.conftest import TokenClient
from tests.errors.support import apply, event_envelope, exception_event, post, project
from tests.helpers import LiveServer
from watchkeeper.runtime.context import AppContext

PLAN = "errors:\n  projects:\n    - name: shop\n"


def test_triage_through_the_api(
    ctx: AppContext, errors_server: LiveServer, api_as: TokenClient
) -> None:
    apply(ctx, PLAN)
    shop = project(ctx, "shop")
    with httpx.Client(base_url=errors_server.url) as sdk:
        sent = post(sdk, shop, event_envelope(exception_event(release="shop@1.0")))
        assert sent.status_code == 200, sent.text
    viewer, responder = api_as("viewer"), api_as("responder")
    (listed,) = viewer.get("/api/v1/errors/issues").json()["issues"]
    url = f"/api/v1/errors/issues/{listed['id']}"
    assert listed["regressed"] is False and listed["new_in_release"] == "shop@1.0"
    assert viewer.patch(url, json={"status": "resolved"}).status_code == 403
    done = responder.patch(url, json={"status": "resolved_next_release", "team": "payments"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["resolved_in_release"], body["team"]) == (
        "resolved_next_release",
        "shop@1.0",
        "payments",
    )
    ignored = responder.patch(url, json={"ignore_until_count": 10}).json()
    assert (ignored["status"], ignored["ignore_until_count"]) == ("ignored", 11)
    for bad, field in [
        ({"status": "fixed"}, "status"),
        ({"assignee": "nobody-here"}, "assignee"),
        ({"ignore_until": "2020-01-01T00:00:00Z"}, "ignore_until"),
        ({"colour": "red"}, "colour"),
    ]:
        refused = responder.patch(url, json=bad)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["field"] == field
    assert responder.patch("/api/v1/errors/issues/999999", json={}).status_code == 404
    counts = viewer.get(f"{url}/counts", params={"span": "14d"})
    assert counts.status_code == 200
    assert set(counts.json()) == {"t", "events", "users", "step"}
    assert viewer.get(f"{url}/counts", params={"span": "1y"}).status_code == 422
