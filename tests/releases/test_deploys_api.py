"""Deploys through the HTTP API: recorded by CI with an operator token and checked against
the plan (422 problems naming the field), completed from the store (previous version, freeze
period, pending gate), listed with filters and pages, changed, and each service's changelog
(JSON and Markdown); the services list and the release calendar."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import LiveServer
from tests.metrics.ingest_support import api_token
from tests.releases.support import apply
from watchkeeper.runtime.context import AppContext

DEPLOY = {
    "service": "api",
    "version": "1.4.0",
    "commit_sha": "a1b2c3d4e5f6",
    "author": "alice",
    "changes": "- Faster search\n- <script>alert(1)</script> fixed",
    "deployed_at": "2025-11-03T10:00:00Z",
    "commit_times": ["2025-11-02T09:00:00Z", "2025-11-01T08:00:00Z"],
    "link": "https://ci.example.com/runs/41",
}


@pytest.fixture
def ci(ctx: AppContext, server: LiveServer) -> Iterator[httpx.Client]:
    """A client with an operator API token, as a CI job has; the plan applied."""
    apply(ctx.sessions)
    token = api_token(ctx, "operator", account="ci")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def post(ci: httpx.Client, **changes: Any) -> httpx.Response:
    return ci.post("/api/v1/deploys", json={**DEPLOY, **changes})


def test_record_fills_previous_version_freeze_and_gate(ci: httpx.Client) -> None:
    first = post(ci)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["environment"] == "production"  # the service's first environment
    assert body["previous_version"] == "" and body["gate"] == "pending"
    assert body["first_commit_at"] == "2025-11-01T08:00:00Z"
    assert body["commit_times"] == ["2025-11-01T08:00:00+00:00", "2025-11-02T09:00:00+00:00"]
    assert body["recorded_by"] == "ci"
    assert body["url"] == f"/releases/services/api#deploy-{body['id']}"
    assert body["diff_url"] == "https://git.example.com/web/api/commit/a1b2c3d4e5f6"

    failed = post(
        ci,
        version="1.4.1",
        commit_sha="ffff1111",
        status="failed",
        deployed_at="2025-11-04T10:00:00Z",
    )
    assert failed.json()["gate"] == "skipped"
    assert failed.json()["gate_detail"] == {"reason": "the deploy failed"}

    second = post(ci, version="1.5.0", commit_sha="0f0f0f0f", deployed_at="2025-12-22T09:30:00Z")
    assert second.status_code == 201
    body = second.json()
    # the failed deploy did not replace what ran
    assert (body["previous_version"], body["previous_commit"]) == ("1.4.0", "a1b2c3d4e5f6")
    assert body["diff_url"] == "https://git.example.com/web/api/compare/a1b2c3d4e5f6...0f0f0f0f"
    assert body["in_freeze"] == "year-end"  # recorded and flagged, not refused

    metrics = ci.get("/metrics").text
    assert 'watchkeeper_deploys_total{environment="production",service="api"}' in metrics

    billing = post(ci, service="billing", version="2025.11.0", commit_sha="")
    assert billing.status_code == 201
    assert billing.json()["gate"] == "skipped"
    assert billing.json()["gate_detail"] == {"reason": "the service has no release gate"}
    assert billing.json()["in_freeze"] == ""  # the freeze covers api only


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"service": "nope"}, "service", 'no service "nope" is declared in the plan'),
        ({"environment": "qa"}, "environment", 'service "api" has no environment "qa"'),
        ({"version": "1.4"}, "version", "1.4 is not SemVer: it needs three numbers"),
        ({"service": "billing", "version": "1.2.3"}, "version", "is not CalVer YYYY.0M.MICRO"),
        ({"commit_sha": "not-a-sha"}, "commit_sha", "4 to 64 hexadecimal digits"),
        ({"link": "javascript:alert(1)"}, "link", "must be an http(s) URL"),
        ({"deployed_at": "2999-01-01T00:00:00Z"}, "deployed_at", "is in the future"),
        ({"commit_times": ["2025-11-04T00:00:00Z"]}, "commit_times[0]", "is after deployed_at"),
        ({"hosts": ["web 1"]}, "hosts[0]", "is not a host name"),
    ],
)
def test_bad_deploys_are_422_naming_the_field(
    ci: httpx.Client, changes: dict[str, Any], field: str, message: str
) -> None:
    response = post(ci, **changes)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert any(e["field"] == field and message in e["message"] for e in errors), errors


def test_schema_errors_name_the_field(ci: httpx.Client) -> None:
    response = post(ci, status="exploded", extra="x")
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert any("status" in f for f in fields) and any("extra" in f for f in fields)


def test_roles(ctx: AppContext, ci: httpx.Client, server: LiveServer) -> None:
    viewer = api_token(ctx, "viewer", account="ci")
    headers = {"Authorization": f"Bearer {viewer}"}
    assert (
        httpx.post(f"{server.url}/api/v1/deploys", json=DEPLOY, headers=headers).status_code == 403
    )
    assert httpx.get(f"{server.url}/api/v1/deploys", headers=headers).status_code == 200
    assert httpx.get(f"{server.url}/api/v1/deploys").status_code == 401
    assert httpx.get(f"{server.url}/api/v1/releases/calendar").status_code == 401
    assert (
        httpx.patch(f"{server.url}/api/v1/deploys/1", json={}, headers=headers).status_code == 403
    )


def test_list_filters_and_pages(ci: httpx.Client) -> None:
    post(ci, hosts=["web-1", "web-2"])
    post(ci, version="1.4.1", environment="staging", deployed_at="2025-11-05T10:00:00Z")
    post(
        ci,
        service="billing",
        version="2025.11.0",
        deployed_at="2025-11-06T10:00:00Z",
        hosts=["pay-1"],
    )
    everything = ci.get("/api/v1/deploys").json()
    assert everything["total"] == 3
    assert [d["version"] for d in everything["deploys"]] == ["2025.11.0", "1.4.1", "1.4.0"]

    def versions(**params: Any) -> list[str]:
        response = ci.get("/api/v1/deploys", params=params)
        assert response.status_code == 200, response.text
        return [d["version"] for d in response.json()["deploys"]]

    assert versions(service="api") == ["1.4.1", "1.4.0"]
    assert versions(environment="staging") == ["1.4.1"]
    assert versions(start="2025-11-04T00:00:00Z", end="2025-11-06T10:00:00Z") == ["1.4.1"]
    # a host the deploy names; one the service's globs (web-*) match; a Prometheus instance
    assert versions(host="web-2") == ["1.4.1", "1.4.0"]
    assert versions(host="web-9:9100") == ["1.4.1"]
    assert versions(host="pay-1") == ["2025.11.0"]
    # services and hosts together: either
    assert versions(service="billing", host="web-2") == ["2025.11.0", "1.4.1", "1.4.0"]
    page = ci.get("/api/v1/deploys", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 3 and [d["version"] for d in page["deploys"]] == ["1.4.1"]
    assert ci.get("/api/v1/deploys", params={"limit": 0}).status_code == 422


def test_get_and_patch(ci: httpx.Client, sign_in: Callable[..., httpx.Client]) -> None:
    deploy = post(ci).json()
    assert ci.get(f"/api/v1/deploys/{deploy['id']}").json()["version"] == "1.4.0"
    missing = ci.get("/api/v1/deploys/999")
    assert missing.status_code == 404 and missing.json()["detail"] == "no deploy #999"

    responder = sign_in("rita", "responder")
    incident = responder.post("/api/v1/incidents", json={"title": "search broken"}).json()
    patched = ci.patch(
        f"/api/v1/deploys/{deploy['id']}",
        json={"status": "rolled_back", "incident_id": incident["id"]},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["status"] == "rolled_back" and body["incident_id"] == incident["id"]
    assert body["gate"] == "skipped"  # pending, then rolled back: not judged
    assert body["gate_detail"] == {"reason": "the deploy rolled back"}

    unlinked = ci.patch(f"/api/v1/deploys/{deploy['id']}", json={"incident_id": None}).json()
    assert unlinked["incident_id"] is None and unlinked["status"] == "rolled_back"
    bad = ci.patch(f"/api/v1/deploys/{deploy['id']}", json={"incident_id": 4242})
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"field": "incident_id", "message": "no incident #4242"}]
    # a responder may read but not change deploys
    assert responder.patch(f"/api/v1/deploys/{deploy['id']}", json={}).status_code == 403


def test_changelog_json_and_markdown(ci: httpx.Client) -> None:
    post(ci)
    post(ci, version="1.4.1", status="failed", deployed_at="2025-11-04T10:00:00Z")
    post(
        ci,
        version="1.5.0",
        commit_sha="0f0f0f0f",
        author="bob",
        changes="**Pricing** v2",
        deployed_at="2025-11-05T10:00:00Z",
    )
    post(ci, version="1.5.0", commit_sha="0f0f0f0f", deployed_at="2025-11-06T10:00:00Z")
    post(ci, version="1.6.0", environment="staging", deployed_at="2025-11-06T11:00:00Z")
    log = ci.get("/api/v1/services/api/changelog")
    assert log.status_code == 200
    entries = log.json()["entries"]
    # production only, newest first, failed left out, 1.5.0 once (its first deploy)
    assert [(e["version"], e["author"]) for e in entries] == [("1.5.0", "bob"), ("1.4.0", "alice")]
    assert entries[0]["diff_url"].endswith("/compare/a1b2c3d4e5f6...0f0f0f0f")
    staging = ci.get("/api/v1/services/api/changelog", params={"environment": "staging"}).json()
    assert [e["version"] for e in staging["entries"]] == ["1.6.0"]

    markdown = ci.get("/api/v1/services/api/changelog", params={"format": "markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    text = markdown.text
    assert text.startswith("# Changelog: api\n")
    assert text.index("## 1.5.0 — 2025-11-05") < text.index("## 1.4.0 — 2025-11-03")
    assert "_by bob · commit `0f0f0f0f` · [diff](<https://git.example.com/web/api/compare/" in text
    assert "**Pricing** v2" in text

    unknown = ci.get("/api/v1/services/nope/changelog")
    assert unknown.status_code == 404 and 'no service "nope"' in unknown.json()["detail"]
    bad_env = ci.get("/api/v1/services/api/changelog", params={"environment": "qa"})
    assert bad_env.status_code == 422


def test_services_list(ci: httpx.Client) -> None:
    post(ci)
    post(ci, version="1.5.0-rc.1", environment="staging", deployed_at="2025-11-04T10:00:00Z")
    services = {s["name"]: s for s in ci.get("/api/v1/services").json()}
    assert list(services) == ["api", "billing"]
    api = services["api"]
    assert {env: c["version"] for env, c in api["current"].items()} == {
        "production": "1.4.0",
        "staging": "1.5.0-rc.1",
    }
    assert api["last_deploy"]["version"] == "1.5.0-rc.1" and api["gate"] is True
    assert services["billing"]["current"] == {} and services["billing"]["last_deploy"] is None


def test_calendar_api(ci: httpx.Client) -> None:
    response = ci.get(
        "/api/v1/releases/calendar",
        params={"start": "2026-12-07T00:00:00Z", "end": "2026-12-14T00:00:00Z"},
    )
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    kinds = [e["kind"] for e in events]
    assert kinds.count("release") == 1 and kinds.count("patch_window") == 1
    assert kinds.count("maintenance") == 5  # nightly, Monday to Friday from 23:00
    release = next(e for e in events if e["kind"] == "release")
    assert release["title"] == "api 2.0.0 to production: the new pricing"
    assert release["start"] == "2026-12-10T14:00:00Z"
    patch = next(e for e in events if e["kind"] == "patch_window")
    assert (patch["start"], patch["end"]) == ("2026-12-12T06:00:00Z", "2026-12-12T08:00:00Z")
    too_long = ci.get(
        "/api/v1/releases/calendar",
        params={"start": "2026-01-01T00:00:00Z", "end": "2028-01-01T00:00:00Z"},
    )
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "end"
