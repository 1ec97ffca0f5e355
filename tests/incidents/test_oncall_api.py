"""The on-call API on a real server (SQLite and PostgreSQL): who is on call now, shifts over
a range, overrides changing who is on call, bad input named by field, and the iCal export
with its signed subscription URL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import remember_secret
from tests.helpers import LiveServer
from tests.incidents.oncall_plan import seed_oncall
from watchkeeper.incidents.overrides import oncall_now, who_is_on_call
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import AuditEntry, utcnow

SignIn = Callable[..., httpx.Client]


@pytest.fixture
def plan(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        seed_oncall(db, utcnow().date())
        db.commit()


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_problem(resp: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def test_now_lists_every_schedule_with_until_and_next(plan: None, sign_in: SignIn) -> None:
    viewer = sign_in("vera", "viewer")
    resp = viewer.get("/api/v1/oncall/now")
    assert resp.status_code == 200, resp.text
    rows = {r["schedule"]: r for r in resp.json()}
    assert set(rows) == {"platform", "payments"}
    platform = rows["platform"]
    # Platform's primary layer covers every hour: someone is always on call.
    assert platform["time_zone"] == "Europe/Berlin"
    assert platform["on_call"] and platform["on_call"][0] in {"alice", "bob", "carol", "dave"}
    assert when(platform["until"]) > utcnow()
    assert platform["next_person"] not in (None, platform["on_call"][0])
    assert when(platform["next_at"]) == when(platform["until"])
    listed = viewer.get("/api/v1/oncall/schedules").json()
    assert [s["name"] for s in listed] == ["platform", "payments"]
    assert [layer["name"] for layer in listed[0]["layers"]] == ["Primary", "Business hours"]
    assert listed[1]["layers"][0]["shift_length_seconds"] == 12 * 3600


def test_an_override_changes_who_is_on_call_now(
    ctx: AppContext, plan: None, sign_in: SignIn
) -> None:
    responder = sign_in("rita", "responder")
    now = utcnow()
    with ctx.sessions() as db:
        before = who_is_on_call(db, "platform", now)
    assert before and before != ["erin"]
    start, end = now - timedelta(hours=1), (now + timedelta(hours=2)).replace(microsecond=0)
    resp = responder.post(
        "/api/v1/oncall/schedules/platform/overrides",
        json={
            "person": "erin",
            "starts_at": iso(start),
            "ends_at": iso(end),
            "note": "swap, CHG-7",
        },
    )
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert (made["person"], made["schedule"], made["created_by"]) == ("erin", "platform", "rita")

    rows = {r["schedule"]: r for r in responder.get("/api/v1/oncall/now").json()}
    assert rows["platform"]["on_call"] == ["erin"]
    assert when(rows["platform"]["until"]) == end
    with ctx.sessions() as db:
        assert who_is_on_call(db, "platform", utcnow()) == ["erin"]
        assert oncall_now(db)["platform"] == ["erin"]
        assert who_is_on_call(db, "no-such-schedule", utcnow()) == []
    listed = responder.get("/api/v1/oncall/schedules/platform/overrides").json()
    assert [o["id"] for o in listed] == [made["id"]]
    assert responder.get("/api/v1/oncall/schedules/payments/overrides").json() == []

    gone = responder.delete(f"/api/v1/oncall/overrides/{made['id']}")
    assert gone.status_code == 200, gone.text
    with ctx.sessions() as db:
        assert who_is_on_call(db, "platform", utcnow()) == before
        actions = db.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("oncall.override.%"))
        ).all()
    assert actions == ["oncall.override.add", "oncall.override.delete"]
    assert_problem(responder.delete(f"/api/v1/oncall/overrides/{made['id']}"), 404)


def test_the_override_can_be_given_as_a_duration(plan: None, sign_in: SignIn) -> None:
    responder = sign_in("rita", "responder")
    resp = responder.post(
        "/api/v1/oncall/schedules/payments/overrides", json={"person": "dave", "duration": "8h"}
    )
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert when(made["ends_at"]) - when(made["starts_at"]) == timedelta(hours=8)


def _bodies() -> list[Any]:
    now = datetime.now(UTC)
    soon, later = iso(now + timedelta(hours=1)), iso(now + timedelta(hours=5))
    return [
        pytest.param(
            {"person": "mallory", "starts_at": soon, "ends_at": later},
            "person",
            id="unknown-person",
        ),
        pytest.param({"person": "", "starts_at": soon, "ends_at": later}, "person", id="no-person"),
        pytest.param(
            {"person": "erin", "starts_at": later, "ends_at": soon},
            "ends_at",
            id="end-before-start",
        ),
        pytest.param(
            {"person": "erin", "starts_at": soon, "ends_at": iso(now + timedelta(days=91))},
            "ends_at",
            id="longer-than-90-days",
        ),
        pytest.param(
            {
                "person": "erin",
                "starts_at": iso(now - timedelta(days=2)),
                "ends_at": iso(now - timedelta(days=1)),
            },
            "ends_at",
            id="in-the-past",
        ),
        pytest.param({"person": "erin"}, "ends_at", id="no-end"),
        pytest.param({"person": "erin", "duration": "soon"}, "duration", id="bad-duration"),
        pytest.param(
            {"person": "erin", "duration": "1h", "ends_at": later},
            "duration",
            id="end-and-duration",
        ),
        pytest.param(
            {"person": "erin", "starts_at": "tomorrow", "ends_at": later},
            "body.starts_at",
            id="bad-time",
        ),
        pytest.param(
            {"person": "erin", "duration": "1h", "who": "x"}, "body.who", id="unknown-field"
        ),
        pytest.param(
            {"person": "erin", "duration": "1h", "note": "x" * 501}, "note", id="long-note"
        ),
    ]


@pytest.mark.parametrize(("body", "field"), _bodies())
def test_bad_override_input_is_a_problem_naming_the_field(
    ctx: AppContext, plan: None, sign_in: SignIn, body: dict[str, Any], field: str
) -> None:
    responder = sign_in("rita", "responder")
    resp = responder.post("/api/v1/oncall/schedules/platform/overrides", json=body)
    assert_problem(resp, 422, field)
    with ctx.sessions() as db:
        assert who_is_on_call(db, "platform", utcnow()) != ["erin"]


def test_overrides_need_a_known_schedule_and_the_responder_role(
    plan: None, sign_in: SignIn
) -> None:
    body = {"person": "erin", "duration": "1h"}
    viewer = sign_in("vera", "viewer")
    assert_problem(viewer.post("/api/v1/oncall/schedules/platform/overrides", json=body), 403)
    responder = sign_in("rita", "responder")
    assert_problem(responder.post("/api/v1/oncall/schedules/nope/overrides", json=body), 404)
    assert_problem(responder.get("/api/v1/oncall/schedules/nope/shifts"), 404)
    assert_problem(responder.delete("/api/v1/oncall/overrides/999999"), 404)


def test_shifts_over_a_range_hold_layers_final_gaps_and_holidays(
    plan: None, sign_in: SignIn
) -> None:
    viewer = sign_in("vera", "viewer")
    start = datetime.combine(utcnow().date(), datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=14)
    resp = viewer.get(
        "/api/v1/oncall/schedules/payments/shifts", params={"start": iso(start), "end": iso(end)}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [layer["name"] for layer in body["layers"]] == ["Nights", "Weekdays"]
    final = body["final"]
    # Nobody double-booked: the final shifts and the gaps tile the range without overlap.
    pieces = sorted(
        [(when(s["start"]), when(s["end"])) for s in final]
        + [(when(g["start"]), when(g["end"])) for g in body["gaps"]]
    )
    assert pieces[0][0] == start and pieces[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))
    # Two weekends in 14 days: weekend daytimes (08:00-20:00 New York) are gaps.
    assert len(body["gaps"]) >= 3
    assert all(
        when(g["end"]) - when(g["start"]) <= timedelta(hours=12, minutes=1) for g in body["gaps"]
    )
    platform = viewer.get(
        "/api/v1/oncall/schedules/platform/shifts", params={"start": iso(start), "end": iso(end)}
    ).json()
    assert platform["gaps"] == []
    assert platform["holidays"] == [str(utcnow().date() + timedelta(days=3))]
    default = viewer.get("/api/v1/oncall/schedules/platform/shifts").json()
    assert when(default["end"]) - when(default["start"]) == timedelta(days=14)


@pytest.mark.parametrize(
    ("days", "message"), [(94, "at most 93 days"), (-1, "after the start"), (0, "after the start")]
)
def test_a_bad_range_is_a_400_naming_the_end(
    plan: None, sign_in: SignIn, days: int, message: str
) -> None:
    viewer = sign_in("vera", "viewer")
    start = datetime(2026, 1, 5, tzinfo=UTC)
    resp = viewer.get(
        "/api/v1/oncall/schedules/platform/shifts",
        params={"start": iso(start), "end": iso(start + timedelta(days=days))},
    )
    body = assert_problem(resp, 400, "end")
    assert message in body["errors"][0]["message"]
    ok = viewer.get(
        "/api/v1/oncall/schedules/platform/shifts",
        params={"start": iso(start), "end": iso(start + timedelta(days=93))},
    )
    assert ok.status_code == 200
    assert_problem(
        viewer.get("/api/v1/oncall/schedules/platform/shifts", params={"start": "soon"}),
        422,
        "query.start",
    )


def test_ical_export_and_signed_subscription(
    server: LiveServer, plan: None, sign_in: SignIn, caplog: pytest.LogCaptureFixture
) -> None:
    # httpx logs every URL at INFO, and these carry the feed's token (Watchkeeper itself
    # keeps httpx at WARNING unless DEBUG)
    caplog.set_level(logging.WARNING, logger="httpx")
    alice = sign_in("alice", "viewer")  # a user whose name is a person in the plan
    download = alice.get("/api/v1/oncall/people/alice/calendar.ics")
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/calendar")
    assert download.text.startswith("BEGIN:VCALENDAR\r\n")
    assert "SUMMARY:On call: platform\r\n" in download.text
    assert_problem(alice.get("/api/v1/oncall/people/mallory/calendar.ics"), 404)

    link = alice.get("/api/v1/oncall/me/calendar")
    assert link.status_code == 200, link.text
    url = urlsplit(link.json()["subscribe_url"])
    token = remember_secret(url.query.removeprefix("token="))
    assert url.path == "/oncall/calendar/alice.ics" and len(token) == 43
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:  # a calendar app
        feed = anonymous.get(url.path, params={"token": token})
        assert feed.status_code == 200, feed.text
        assert feed.headers["content-type"].startswith("text/calendar")
        assert feed.text == download.text.replace(
            _stamp_line(download.text), _stamp_line(feed.text)
        )
        wrong = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        for path, params in [
            (url.path, {"token": wrong}),
            (url.path, {}),
            ("/oncall/calendar/bob.ics", {"token": token}),  # alice's token for bob
            ("/oncall/calendar/mallory.ics", {"token": token}),
        ]:
            assert anonymous.get(path, params=params).status_code == 404, path
    bob = sign_in("bobby", "viewer")  # not a person in the plan: no subscription link
    assert_problem(bob.get("/api/v1/oncall/me/calendar"), 404)


def _stamp_line(text: str) -> str:
    """The first DTSTAMP line (the moment the file was made differs between two calls)."""
    return next((line for line in text.split("\r\n") if line.startswith("DTSTAMP:")), "")
