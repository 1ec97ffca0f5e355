"""The incidents API: open, read with the timeline, change, acknowledge, resolve, reopen,
notes, links, major; roles; bad input as problem+json naming the field (both stores)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import httpx

from tests.helpers import LiveServer
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext

PLAN = """
notifications:
  channels: [{name: execs, type: webhook, url: "http://127.0.0.1:9/execs"}]
oncall:
  people: [{name: alice, contact: [{channel: execs}]}]
  escalation_policies: [{name: default, steps: [{notify: [{person: alice}]}]}]
incidents:
  contacts: [{name: cto, channel: execs, stakeholder: true}]
  drills: [{name: weekly}]
"""


def _plan(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(textwrap.dedent(PLAN)))
        db.commit()


def test_the_life_of_an_incident(
    ctx: AppContext, server: LiveServer, sign_in: Callable[..., httpx.Client]
) -> None:
    _plan(ctx)
    client = sign_in("rita", "responder")
    made = client.post(
        "/api/v1/incidents",
        json={
            "title": "Checkout fails",
            "severity": "SEV2",
            "team": "shop",
            "services": ["web"],
            "escalation_policy": "default",
        },
    )
    assert made.status_code == 201, made.text
    incident = made.json()
    number = incident["id"]
    assert (incident["status"], incident["opened_by"], incident["escalation"]["state"]) == (
        "triggered",
        "rita",
        "active",
    )
    patched = client.patch(
        f"/api/v1/incidents/{number}", json={"assignees": ["alice"], "commander": "rita"}
    ).json()
    assert patched["assignees"] == ["alice"] and patched["commander"] == "rita"
    assert (
        client.post(f"/api/v1/incidents/{number}/notes", json={"text": "looking"}).status_code
        == 201
    )
    assert (
        client.post(
            f"/api/v1/incidents/{number}/links",
            json={"url": "https://grafana.example.com/d/1", "title": "dash"},
        ).status_code
        == 201
    )
    acked = client.post(f"/api/v1/incidents/{number}/acknowledge").json()
    assert acked["status"] == "acknowledged" and acked["escalation"]["state"] == "stopped"
    assert acked["time_to_acknowledge_seconds"] >= 0
    major = client.post(f"/api/v1/incidents/{number}/major").json()
    assert (major["severity"], major["major"]) == ("SEV1", True)
    done = client.post(f"/api/v1/incidents/{number}/resolve", json={"note": "rolled back"}).json()
    assert done["status"] == "resolved"
    again = client.post(f"/api/v1/incidents/{number}/reopen", json={"reason": "back"}).json()
    assert again["status"] == "triggered"
    kinds = [e["kind"] for e in again["timeline"]]
    for kind in (
        "opened",
        "assigned",
        "note",
        "link",
        "acknowledged",
        "major",
        "notified",
        "resolved",
        "reopened",
    ):
        assert kind in kinds, kind
    listed = client.get("/api/v1/incidents", params={"status": "triggered"}).json()
    assert [i["id"] for i in listed["incidents"]] == [number]
    assert client.get("/api/v1/incidents", params={"status": "resolved"}).json()["total"] == 0
    run = client.post("/api/v1/drills/weekly/start")
    assert run.status_code == 201 and run.json()["result"] == "running"


def test_bad_input_and_roles(
    ctx: AppContext, server: LiveServer, sign_in: Callable[..., httpx.Client]
) -> None:
    _plan(ctx)
    viewer = sign_in("vic", "viewer")
    responder = sign_in("rita", "responder")
    assert viewer.get("/api/v1/incidents").status_code == 200
    refused = viewer.post("/api/v1/incidents", json={"title": "x"})
    assert refused.status_code == 403
    bad = responder.post("/api/v1/incidents", json={"title": "", "severity": "SEV9"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"title", "severity"} <= {f.split(".")[-1] for f in fields}, bad.json()
    nope = responder.post("/api/v1/incidents", json={"title": "x", "escalation_policy": "nope"})
    assert nope.status_code == 422 and "nope" in nope.text
    assert responder.get("/api/v1/incidents/999").status_code == 404
    assert responder.post("/api/v1/incidents/999/acknowledge").status_code == 404
    made = responder.post("/api/v1/incidents", json={"title": "x"}).json()
    link = responder.post(f"/api/v1/incidents/{made['id']}/links", json={"url": "javascript:x"})
    assert link.status_code == 422 and link.json()["errors"][0]["field"] == "url"
    responder.post(f"/api/v1/incidents/{made['id']}/resolve")
    conflict = responder.post(f"/api/v1/incidents/{made['id']}/acknowledge")
    assert conflict.status_code == 409
    assert responder.post("/api/v1/drills/nope/start").status_code == 404
