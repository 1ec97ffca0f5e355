"""The alerts, silences and notifications API: Alertmanager-like shapes, filters, the
silence lifecycle, problems naming the field, roles, and test sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.alerts.alert_rows import RUNBOOK, add_alert, add_notification
from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.plan import catalog
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import OutboxNotification

SignIn = Callable[..., httpx.Client]


def seed(ctx: AppContext) -> dict[str, int]:
    """Five alerts, one per kind of state, and a rule with a runbook."""
    with ctx.sessions() as db:
        catalog.create_object(
            db,
            "alerts.rules",
            {
                "name": "DiskFull",
                "expr": "disk_free < 0.1",
                "severity": "critical",
                "runbook_url": "https://wiki.example.com/disk",
                "runbook": RUNBOOK,
            },
            Actor("test"),
        )
        ids = {
            "disk": add_alert(
                db, "DiskFull", severity="critical", labels={"instance": "db-1"}, value=0.04
            ).id,
            "cpu": add_alert(
                db, "HighCPU", labels={"instance": "web-1"}, muted="silenced", muted_by=["s-1"]
            ).id,
            "lag": add_alert(db, "ReplicationLag", state="pending", severity="info").id,
            "svc": add_alert(
                db, "ServiceDown", muted="inhibited", muted_by=["HostDown instance=db-1"]
            ).id,
            "old": add_alert(db, "DiskFull", state="resolved", labels={"instance": "db-2"}).id,
        }
        db.commit()
    return ids


def names(body: dict[str, Any]) -> list[str]:
    return [a["name"] for a in body["alerts"]]


def test_alerts_are_listed_like_alertmanager(ctx: AppContext, sign_in: SignIn) -> None:
    ids = seed(ctx)
    client = sign_in("vera", "viewer")
    body = client.get("/api/v1/alerts").json()
    assert body["total"] == 4  # active only by default
    assert body["counts"] == {
        "firing": 1,
        "pending": 1,
        "silenced": 1,
        "inhibited": 1,
        "maintenance": 0,
        "resolved": 1,
    }
    assert names(body)[0] == "DiskFull"  # critical first
    disk = body["alerts"][0]
    assert disk["labels"] == {"alertname": "DiskFull", "severity": "critical", "instance": "db-1"}
    assert disk["annotations"] == {"summary": "DiskFull on db-1"}
    assert disk["state"] == "firing"
    assert disk["value"] == 0.04
    assert disk["startsAt"] and disk["activeAt"] and disk["endsAt"] is None
    assert disk["status"] == {
        "state": "active",
        "silencedBy": [],
        "inhibitedBy": [],
        "mutedBy": [],
    }
    assert disk["url"] == f"/alerts/{ids['disk']}"
    assert disk["silenceUrl"].startswith("/alerts/silences/new?matcher=alertname%3D%22DiskFull")
    cpu = next(a for a in body["alerts"] if a["name"] == "HighCPU")
    assert cpu["silencedBy"] == ["s-1"] and cpu["status"]["state"] == "suppressed"
    svc = next(a for a in body["alerts"] if a["name"] == "ServiceDown")
    assert svc["inhibitedBy"] == ["HostDown instance=db-1"] and svc["silencedBy"] == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "firing"}, ["DiskFull", "HighCPU", "ServiceDown"]),
        ({"state": "firing", "muted": "none"}, ["DiskFull"]),
        ({"muted": "any"}, ["HighCPU", "ServiceDown"]),
        ({"muted": "silenced"}, ["HighCPU"]),
        ({"state": "pending"}, ["ReplicationLag"]),
        ({"state": "resolved"}, ["DiskFull"]),
        ({"state": "all", "rule": "DiskFull"}, ["DiskFull", "DiskFull"]),
        ({"severity": "info"}, ["ReplicationLag"]),
        ({"severity": "critical", "state": "resolved"}, []),
    ],
)
def test_alert_filters(
    ctx: AppContext, sign_in: SignIn, params: dict[str, str], expected: list[str]
) -> None:
    seed(ctx)
    client = sign_in("vera", "viewer")
    body = client.get("/api/v1/alerts", params=params).json()
    assert sorted(names(body)) == sorted(expected)
    assert body["total"] == len(expected)


def test_bad_filters_and_ids_are_problems(ctx: AppContext, sign_in: SignIn) -> None:
    seed(ctx)
    client = sign_in("vera", "viewer")
    resp = client.get("/api/v1/alerts", params={"state": "burning"})
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["errors"][0]["field"] == "query.state"
    resp = client.get("/api/v1/alerts/999999")
    assert resp.status_code == 404 and resp.json()["detail"] == "no alert 999999"
    assert client.get("/api/v1/alerts/abc").json()["errors"][0]["field"] == "path.alert_id"
    assert client.get("/api/v1/alerts/99999999999999999999").status_code == 422


def test_one_alert_with_history_and_runbook(ctx: AppContext, sign_in: SignIn) -> None:
    ids = seed(ctx)
    client = sign_in("vera", "viewer")
    body = client.get(f"/api/v1/alerts/{ids['disk']}").json()
    assert body["name"] == "DiskFull"
    assert [e["event"] for e in body["history"]] == ["firing", "pending"]
    assert body["history"][0]["value"] == 0.04
    assert body["runbookUrl"] == "https://wiki.example.com/disk"
    assert body["runbook"] == RUNBOOK
    groups = client.get("/api/v1/alerts/groups", params={"by": "severity"}).json()
    assert groups == [
        {"key": "critical", "firing": 1, "pending": 0, "muted": 0},
        {"key": "warning", "firing": 0, "pending": 0, "muted": 2},
        {"key": "info", "firing": 0, "pending": 1, "muted": 0},
    ]
    by_rule = client.get("/api/v1/alerts/groups").json()
    assert by_rule[0] == {"key": "DiskFull", "firing": 1, "pending": 0, "muted": 0}


def test_silence_lifecycle(ctx: AppContext, sign_in: SignIn) -> None:
    rita = sign_in("rita", "responder")
    resp = rita.post(
        "/api/v1/silences",
        json={
            "matchers": ["alertname=DiskFull", 'instance=~"db-.*"'],
            "duration": "2h",
            "comment": "disk swap on db-1",
        },
    )
    assert resp.status_code == 201, resp.text
    silence = resp.json()
    assert silence["matchers"] == ['alertname="DiskFull"', 'instance=~"db-.*"']
    assert silence["createdBy"] == "rita"
    assert silence["status"] == {"state": "active"}
    assert rita.get(f"/api/v1/silences/{silence['id']}").json() == silence
    assert [s["id"] for s in rita.get("/api/v1/silences?state=active").json()] == [silence["id"]]
    assert rita.get("/api/v1/silences?state=expired").json() == []

    expired = rita.delete(f"/api/v1/silences/{silence['id']}")
    assert expired.status_code == 200
    assert expired.json()["status"]["state"] == "expired"
    again = rita.delete(f"/api/v1/silences/{silence['id']}")
    assert again.status_code == 409
    assert "already expired" in again.json()["detail"]
    assert rita.get("/api/v1/silences?state=active").json() == []
    assert [s["id"] for s in rita.get("/api/v1/silences").json()] == [silence["id"]]
    assert rita.get("/api/v1/silences/nope").status_code == 404
    assert rita.delete("/api/v1/silences/nope").status_code == 404
    with ctx.sessions() as db:
        actions = [(e.action, e.actor) for e in audit.search(db, action="silence.")]
    assert actions == [("silence.expire", "rita"), ("silence.create", "rita")]


def test_alertmanager_matcher_objects_and_explicit_times(ctx: AppContext, sign_in: SignIn) -> None:
    rita = sign_in("rita", "responder")
    resp = rita.post(
        "/api/v1/silences",
        json={
            "matchers": [
                {"name": "alertname", "value": "DiskFull", "isRegex": False},
                {"name": "instance", "value": "db-.*", "isRegex": True, "isEqual": False},
            ],
            "startsAt": "2100-01-01T10:00:00",
            "endsAt": "2100-01-01T14:00:00+02:00",
            "comment": "window",
            "createdBy": "change-bot",
        },
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["matchers"] == ['alertname="DiskFull"', 'instance!~"db-.*"']
    assert body["startsAt"].startswith("2100-01-01T10:00:00")
    assert body["status"]["state"] == "pending"
    assert body["createdBy"] == "change-bot"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"matchers": ["alertname=A", "oops"], "duration": "1h"}, ["matchers[1]"]),
        ({"matchers": ['job=~".*"'], "duration": "1h"}, ["matchers"]),
        ({"matchers": [], "duration": "1h"}, ["matchers"]),
        ({"matchers": ["alertname=A"], "duration": "soon"}, ["duration"]),
        (
            {"matchers": ["alertname=A"], "duration": "1h", "endsAt": "2100-01-01T00:00:00Z"},
            ["duration"],
        ),
        (
            {
                "matchers": ["alertname=A"],
                "startsAt": "2100-01-02T00:00:00Z",
                "endsAt": "2100-01-01T00:00:00Z",
            },
            ["endsAt"],
        ),
        ({"matchers": ["alertname=A"]}, ["endsAt"]),
        ({"matchers": ["oops"], "comment": " ", "duration": "x"}, ["matchers[0]", "duration"]),
    ],
)
def test_bad_silences_are_problems_naming_the_field(
    ctx: AppContext, sign_in: SignIn, body: dict[str, Any], fields: list[str]
) -> None:
    rita = sign_in("rita", "responder")
    resp = rita.post("/api/v1/silences", json={"comment": "why", **body})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    named = [e["field"] for e in resp.json()["errors"]]
    for field in fields:
        assert field in named
    assert rita.get("/api/v1/silences").json() == []


def test_a_silence_without_comment_or_with_unknown_keys_is_refused(
    ctx: AppContext, sign_in: SignIn
) -> None:
    rita = sign_in("rita", "responder")
    resp = rita.post("/api/v1/silences", json={"matchers": ["a=b"], "duration": "1h"})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "body.comment"
    resp = rita.post(
        "/api/v1/silences",
        json={"matchers": ["a=b"], "duration": "1h", "comment": "x", "colour": "red"},
    )
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "body.colour"


def test_roles(ctx: AppContext, sign_in: SignIn) -> None:
    vera = sign_in("vera", "viewer")
    body = {"matchers": ["alertname=A"], "duration": "1h", "comment": "x"}
    assert vera.post("/api/v1/silences", json=body).status_code == 403
    assert vera.get("/api/v1/silences").status_code == 200
    rita = sign_in("rita", "responder")
    created = rita.post("/api/v1/silences", json=body).json()
    assert vera.delete(f"/api/v1/silences/{created['id']}").status_code == 403
    assert rita.post("/api/v1/channels/any/test").status_code == 403
    assert vera.get("/api/v1/notifications").status_code == 200
    with httpx.Client(base_url=str(vera.base_url)) as anonymous:
        assert anonymous.get("/api/v1/alerts").status_code == 401


def test_notifications_list_and_test_send(ctx: AppContext, sign_in: SignIn) -> None:
    with ctx.sessions() as db:
        catalog.create_object(
            db,
            "notifications.channels",
            {"name": "ops-hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"},
            Actor("test"),
        )
        alert = add_alert(db, "DiskFull", severity="critical")
        add_notification(db, alert, "ops-hook", status="delivered")
        add_notification(
            db, alert, "pager", status="failed", error="PagerDuty answered HTTP 400", attempts=3
        )
        db.commit()
    olga = sign_in("olga", "operator")
    body = olga.get("/api/v1/notifications").json()
    assert body["total"] == 2
    assert body["counts"] == {
        "pending": 0,
        "sending": 0,
        "delivered": 1,
        "failed": 1,
        "cancelled": 0,
    }
    failed = olga.get("/api/v1/notifications", params={"status": "failed"}).json()
    assert [n["channel"] for n in failed["notifications"]] == ["pager"]
    assert failed["notifications"][0]["last_error"] == "PagerDuty answered HTTP 400"
    assert failed["notifications"][0]["attempts"] == 3
    paged = olga.get("/api/v1/notifications", params={"per_page": 1, "page": 2}).json()
    assert len(paged["notifications"]) == 1 and paged["page"] == 2
    resp = olga.get("/api/v1/notifications", params={"status": "lost"})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "query.status"

    sent = olga.post("/api/v1/channels/ops-hook/test")
    assert sent.status_code == 202, sent.text
    notification_id = sent.json()["id"]
    with ctx.sessions() as db:
        row = db.get(OutboxNotification, notification_id)
        assert row is not None
        assert row.channel == "ops-hook" and row.payload["test"] is True
        entry = audit.search(db, action="channel.test")[0]
        assert (entry.actor, entry.target) == ("olga", "channel/ops-hook")
    missing = olga.post("/api/v1/channels/nope/test")
    assert missing.status_code == 404
    assert "nope" in missing.json()["detail"]
    channels = olga.get("/api/v1/channels").json()
    assert [(c["name"], c["type"]) for c in channels] == [("ops-hook", "webhook")]
    assert channels[0]["counts"]["delivered"] == 1


def test_acknowledging_an_alert(ctx: AppContext, sign_in: SignIn) -> None:
    ids = seed(ctx)
    viewer = sign_in("vic", "viewer")
    assert viewer.post(f"/api/v1/alerts/{ids['disk']}/ack").status_code == 403
    responder = sign_in("rita", "responder")
    done = responder.post(f"/api/v1/alerts/{ids['disk']}/ack")
    assert done.status_code == 200, done.text
    assert done.json()["acknowledgedBy"] == "rita"
    again = responder.post(f"/api/v1/alerts/{ids['disk']}/ack")
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert responder.post(f"/api/v1/alerts/{ids['lag']}/ack").status_code == 409  # pending
    assert responder.post("/api/v1/alerts/999999/ack").status_code == 404
    history = responder.get(f"/api/v1/alerts/{ids['disk']}").json()["history"]
    assert ("acknowledged", "rita") in [(e["event"], e["detail"]) for e in history]
