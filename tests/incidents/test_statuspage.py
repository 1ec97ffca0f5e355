"""Status pages: component statuses derived from checks, incidents and posted maintenance;
posted updates; the public HTML page and JSON feed reveal nothing internal (the feed's keys
are listed exactly); no session needed; the team's API and form; a real browser."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ADMIN_PASSWORD, form_token, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_or_skip
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.incidents import statuspage
from watchkeeper.plan import catalog
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import CheckStatus, Incident, IncidentEvent, StatusUpdate, utcnow

PAGE = {
    "name": "public",
    "title": "Acme Cloud",
    "groups": [
        {
            "name": "Core",
            "components": [
                {"name": "API", "checks": ["chk-api-*"]},
                {"name": "Website", "checks": ["chk-web"]},
            ],
        },
        {
            "name": "Data",
            "components": [
                {"name": "Database", "checks": ["chk-db"], "services": ["postgres"]},
                {"name": "Search"},
            ],
        },
    ],
}
# Distinctive internal strings: none may reach the public page or feed.
CHECK_URL = "http://10.99.88.77:6543/internal-health-x1"
CHECK_ERROR = "ECONNREFUSED-secret-detail-4471"
INTERNAL_TITLE = "INTERNAL disk corruption on db-7 xq91"
ASSIGNEE = "alice-oncall-5521"
COMMANDER = "carol-commander-8812"
TEAM = "team-internal-ops-3310"
SUMMARY = "internal summary with root cause zz77"
DRILL_TITLE = "Drill: please acknowledge dr55"
DRILL_NAME = "gameday-drill-6620"
LEAKS = [
    "chk-api-1",
    "chk-api-2",
    "chk-web",
    "chk-db",
    CHECK_URL,
    "10.99.88.77",
    CHECK_ERROR,
    INTERNAL_TITLE,
    ASSIGNEE,
    COMMANDER,
    TEAM,
    SUMMARY,
    DRILL_TITLE,
    DRILL_NAME,
    "SEV1",
    "SEV3",
]


# -- seeding -----------------------------------------------------------------------------------


def add_page(db: Session, spec: dict[str, Any] | None = None) -> None:
    catalog.create_object(db, "incidents.status_pages", spec or PAGE, "test")
    for name in ("chk-api-1", "chk-api-2", "chk-web", "chk-db"):
        catalog.create_object(db, "checks", {"name": name, "type": "http", "url": CHECK_URL}, "t")
    db.flush()


def set_check(db: Session, name: str, status: str) -> None:
    row = db.get(CheckStatus, name) or CheckStatus(name=name)
    row.status = status
    row.last_ok = status == "up"
    row.last_message = CHECK_ERROR if status == "down" else ""
    row.changed_at = utcnow()
    db.merge(row)
    db.flush()


def add_incident(
    db: Session,
    services: list[str],
    severity: str = "SEV3",
    *,
    status: str = "triggered",
    opened: timedelta = timedelta(minutes=30),
    resolved: timedelta | None = None,
    drill: str = "",
    title: str = INTERNAL_TITLE,
) -> Incident:
    now = utcnow()
    row = Incident(
        title=title,
        severity=severity,
        status="resolved" if resolved is not None else status,
        team=TEAM,
        services=services,
        assignees=[ASSIGNEE],
        commander=COMMANDER,
        summary=SUMMARY,
        drill=drill,
        opened_at=now - opened,
        opened_by="alertmanager",
        resolved_at=now - resolved if resolved is not None else None,
    )
    db.add(row)
    db.flush()
    return row


def statuses(view: statuspage.PublicPage) -> dict[str, str]:
    return {c.name: c.status for g in view.groups for c in g.components}


# -- statuses ----------------------------------------------------------------------------------


def test_everything_operational_without_trouble(db: Session) -> None:
    add_page(db)
    for name in ("chk-api-1", "chk-api-2", "chk-web"):
        set_check(db, name, "up")  # chk-db has no state yet: pending counts as fine
    view = statuspage.page_view(db, "public", utcnow())
    assert view.title == "Acme Cloud"
    assert view.status == "operational"
    assert view.status_text == "All systems operational"
    assert set(statuses(view).values()) == {"operational"}
    assert [g.name for g in view.groups] == ["Core", "Data"]
    assert view.incidents == view.maintenance == view.history == []


def test_checks_down_give_partial_or_major_outage(db: Session) -> None:
    add_page(db)
    set_check(db, "chk-api-1", "down")
    set_check(db, "chk-api-2", "up")
    set_check(db, "chk-web", "down")
    set_check(db, "chk-db", "up")
    view = statuspage.page_view(db, "public", utcnow())
    assert statuses(view) == {
        "API": "partial_outage",  # one of its two checks is down
        "Website": "major_outage",  # its only check is down
        "Database": "operational",
        "Search": "operational",
    }
    assert [g.status for g in view.groups] == ["major_outage", "operational"]
    # One component fully down is not the whole site down.
    assert view.status == "partial_outage"


def test_everything_down_is_a_major_outage(db: Session) -> None:
    add_page(db, {**PAGE, "groups": [PAGE["groups"][0]]})  # type: ignore[index]
    for name in ("chk-api-1", "chk-api-2", "chk-web"):
        set_check(db, name, "down")
    view = statuspage.page_view(db, "public", utcnow())
    assert view.status == "major_outage"
    assert view.status_text == "Major outage"


def test_open_incidents_raise_status_by_severity(db: Session) -> None:
    add_page(db)
    add_incident(db, ["Search"], "SEV3")  # the component's name is its default service
    add_incident(db, ["postgres"], "SEV1", status="acknowledged")
    add_incident(db, ["billing"], "SEV1")  # no component of this page
    add_incident(db, ["API"], "SEV1", resolved=timedelta(minutes=5))
    add_incident(db, ["Website"], "SEV1", drill=DRILL_NAME, title=DRILL_TITLE)
    view = statuspage.page_view(db, "public", utcnow())
    assert statuses(view) == {
        "API": "operational",
        "Website": "operational",  # a drill never shows
        "Database": "major_outage",
        "Search": "degraded",
    }
    assert len(view.incidents) == 2
    assert {tuple(i.components) for i in view.incidents} == {("Database",), ("Search",)}
    assert {i.title for i in view.incidents} == {statuspage.NEUTRAL_TITLE}
    assert {i.status for i in view.incidents} == {"investigating"}
    assert {i.impact for i in view.incidents} == {"major_outage", "degraded"}
    # The resolved one is history (within the page's 7 days); the drill is nowhere.
    assert [(h.components, h.status) for h in view.history] == [(["API"], "resolved")]


def test_sev2_is_a_partial_outage_and_old_incidents_leave_history(db: Session) -> None:
    add_page(db)
    add_incident(db, ["Search"], "SEV2")
    add_incident(db, ["API"], "SEV2", opened=timedelta(days=9), resolved=timedelta(days=8))
    view = statuspage.page_view(db, "public", utcnow())
    assert statuses(view)["Search"] == "partial_outage"
    assert view.history == []


def test_posted_updates_give_the_public_title_and_status(db: Session) -> None:
    add_page(db)
    catalog.create_object(
        db, "incidents.status_pages", {"name": "other", "groups": PAGE["groups"]}, "t"
    )
    incident = add_incident(db, ["postgres"], "SEV2")
    now = utcnow()
    statuspage.post_update(
        db,
        "public",
        "investigating",
        "Slow queries",
        "Looking into it.",
        [],
        incident.id,
        actor="bob",
        now=now - timedelta(minutes=20),
    )
    statuspage.post_update(
        db,
        "public",
        "identified",
        "Database slowness",
        "A bad index; fixing.",
        ["Database"],
        incident.id,
        actor="bob",
        now=now - timedelta(minutes=10),
    )
    statuspage.post_update(
        db, "other", "monitoring", "Other page's title", "", [], incident.id, actor="bob", now=now
    )
    view = statuspage.page_view(db, "public", now)
    (shown,) = view.incidents
    assert shown.title == "Database slowness"
    assert shown.status == "identified"
    assert shown.impact == "partial_outage"
    assert [(u.status, u.body) for u in shown.updates] == [
        ("identified", "A bad index; fixing."),
        ("investigating", "Looking into it."),
    ]
    events = list(db.scalars(select(IncidentEvent).where(IncidentEvent.kind == "status_update")))
    assert len(events) == 3
    assert events[0].incident_id == incident.id
    assert events[0].actor == "bob"
    assert events[0].data["page"] == "public"
    # A "resolved" update closes the public incident, even before the team resolves it.
    statuspage.post_update(
        db,
        "public",
        "resolved",
        "Database slowness",
        "Fixed.",
        [],
        incident.id,
        actor="bob",
        now=now,
    )
    view = statuspage.page_view(db, "public", now + timedelta(seconds=1))
    assert view.incidents == []
    assert statuses(view)["Database"] == "operational"
    assert [(h.title, h.status, h.resolved_at) for h in view.history] == [
        ("Database slowness", "resolved", now)
    ]


def test_unlinked_updates_thread_by_title(db: Session) -> None:
    add_page(db)
    now = utcnow()
    statuspage.post_update(
        db,
        "public",
        "investigating",
        "Login emails are late",
        "",
        ["Website"],
        actor="x",
        now=now - timedelta(minutes=5),
    )
    view = statuspage.page_view(db, "public", now)
    (shown,) = view.incidents
    assert shown.components == ["Website"]
    assert statuses(view)["Website"] == "degraded"
    statuspage.post_update(db, "public", "resolved", "Login emails are late", actor="x", now=now)
    view = statuspage.page_view(db, "public", now)
    assert view.incidents == []
    assert [h.title for h in view.history] == ["Login emails are late"]


def test_posted_maintenance_scheduled_and_in_progress(db: Session) -> None:
    add_page(db)
    set_check(db, "chk-db", "down")  # expected while the database is being upgraded
    now = utcnow()
    statuspage.post_update(
        db,
        "public",
        "maintenance",
        "Database upgrade",
        "PostgreSQL 17.",
        ["Database"],
        starts_at=now - timedelta(minutes=10),
        ends_at=now + timedelta(hours=1),
        actor="x",
    )
    statuspage.post_update(
        db,
        "public",
        "maintenance",
        "Network work",
        "",
        ["API"],
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=2),
        actor="x",
    )
    statuspage.post_update(
        db,
        "public",
        "maintenance",
        "Old work",
        "",
        ["Search"],
        starts_at=now - timedelta(days=1),
        ends_at=now - timedelta(hours=20),
        actor="x",
    )
    view = statuspage.page_view(db, "public", now)
    assert [(m.title, m.status, m.components) for m in view.maintenance] == [
        ("Database upgrade", "in_progress", ["Database"]),
        ("Network work", "scheduled", ["API"]),
    ]
    assert statuses(view) == {
        "API": "operational",
        "Website": "operational",
        "Database": "maintenance",
        "Search": "operational",
    }
    assert view.status == "maintenance"
    assert view.status_text == "Maintenance in progress"
    # An incident during maintenance still shows.
    add_incident(db, ["postgres"], "SEV2")
    assert statuses(statuspage.page_view(db, "public", now))["Database"] == "partial_outage"


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"status": "down"}, ["status"]),
        ({"title": "  "}, ["title"]),
        ({"title": "x" * 301}, ["title"]),
        ({"components": ["API", "Nope"]}, ["components[1]"]),
        ({"status": "maintenance"}, ["starts_at", "ends_at"]),
        ({"status": "maintenance", "starts_at": 2, "ends_at": 1}, ["ends_at"]),
        ({"starts_at": 1}, ["starts_at"]),
        ({"incident_id": 999_999}, ["incident_id"]),
        ({"incident_id": "drill"}, ["incident_id"]),
    ],
)
def test_bad_updates_are_refused_by_field(
    db: Session, kwargs: dict[str, Any], fields: list[str]
) -> None:
    add_page(db)
    now = utcnow()
    kwargs = dict(kwargs)  # the table is shared by both databases' runs
    for key in ("starts_at", "ends_at"):
        if key in kwargs:
            kwargs[key] = now + timedelta(hours=kwargs[key])
    if kwargs.get("incident_id") == "drill":
        kwargs["incident_id"] = add_incident(db, ["API"], drill=DRILL_NAME).id
    args: dict[str, Any] = {"status": "investigating", "title": "Something", **kwargs}
    with pytest.raises(ValidationFailed) as caught:
        statuspage.post_update(db, "public", actor="x", **args)
    assert [f for f, _ in caught.value.errors] == fields
    assert db.scalars(select(StatusUpdate)).all() == []


def test_unknown_page_and_update(db: Session) -> None:
    add_page(db)
    with pytest.raises(NotFoundError):
        statuspage.page_view(db, "nope", utcnow())
    with pytest.raises(NotFoundError):
        statuspage.post_update(db, "nope", "investigating", "x", actor="x")
    with pytest.raises(NotFoundError):
        statuspage.delete_update(db, 12345, "x")


def test_list_and_delete_updates(db: Session) -> None:
    add_page(db)
    now = utcnow()
    first = statuspage.post_update(db, "public", "investigating", "A", actor="x", now=now)
    second = statuspage.post_update(
        db, "public", "monitoring", "B", actor="x", now=now + timedelta(seconds=1)
    )
    assert [u.id for u in statuspage.list_updates(db, "public")] == [second.id, first.id]
    gone = statuspage.delete_update(db, first.id, "x")
    assert gone.title == "A"
    assert [u.id for u in statuspage.list_updates(db, "public")] == [second.id]


# -- the public page and feed ------------------------------------------------------------------

# Every key the JSON feed may hold, as paths; "[]" marks the items of a list.
FEED_KEYS = {
    "page",
    "page.name",
    "page.title",
    "status",
    "status_text",
    "generated_at",
    "groups",
    "groups[].name",
    "groups[].status",
    "groups[].components",
    "groups[].components[].name",
    "groups[].components[].status",
    "incidents",
    "maintenance",
    "history",
    "maintenance[].title",
    "maintenance[].body",
    "maintenance[].status",
    "maintenance[].starts_at",
    "maintenance[].ends_at",
    "maintenance[].components",
    *(
        f"{where}[].{key}"
        for where in ("incidents", "history")
        for key in (
            "title",
            "status",
            "impact",
            "started_at",
            "resolved_at",
            "components",
            "updates",
            "updates[].at",
            "updates[].status",
            "updates[].body",
        )
    ),
}


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key of ``value``, recursively, as dotted paths with "[]" for list items."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            found.add(path)
            found |= key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            found |= key_paths(item, f"{prefix}[]")
    return found


def seed_everything(ctx: AppContext) -> int:
    """A page with an outage, an incident with updates, maintenance in progress and
    scheduled, a past incident, a drill, and internal strings everywhere; return the id of
    the incident with updates."""
    now = utcnow()
    with ctx.sessions() as db:
        add_page(db)
        set_check(db, "chk-api-1", "down")
        set_check(db, "chk-api-2", "up")
        set_check(db, "chk-web", "up")
        set_check(db, "chk-db", "down")
        incident = add_incident(db, ["API"], "SEV1", opened=timedelta(minutes=40))
        statuspage.post_update(
            db,
            "public",
            "investigating",
            "Elevated API errors",
            "Some requests fail with errors. We are investigating.",
            ["API"],
            incident.id,
            actor=ASSIGNEE,
            now=now - timedelta(minutes=35),
        )
        statuspage.post_update(
            db,
            "public",
            "identified",
            "Elevated API errors",
            "A faulty deploy in one region; rolling it back.",
            ["API"],
            incident.id,
            actor=ASSIGNEE,
            now=now - timedelta(minutes=12),
        )
        add_incident(db, ["Search"], "SEV3", opened=timedelta(hours=2))
        past = add_incident(
            db, ["Website"], "SEV2", opened=timedelta(days=2, hours=1), resolved=timedelta(days=2)
        )
        statuspage.post_update(
            db,
            "public",
            "resolved",
            "Website unavailable for some visitors",
            "A certificate renewal failed; renewed and fixed.",
            ["Website"],
            past.id,
            actor=ASSIGNEE,
            now=now - timedelta(days=2),
        )
        add_incident(db, ["API"], "SEV1", drill=DRILL_NAME, title=DRILL_TITLE)
        statuspage.post_update(
            db,
            "public",
            "maintenance",
            "Database upgrade to PostgreSQL 17",
            "Writes pause for up to 5 minutes; reads keep working.",
            ["Database"],
            starts_at=now - timedelta(minutes=20),
            ends_at=now + timedelta(minutes=40),
            actor=ASSIGNEE,
        )
        statuspage.post_update(
            db,
            "public",
            "maintenance",
            "Network maintenance",
            "Brief connection resets are possible.",
            ["API", "Website"],
            starts_at=now + timedelta(days=3),
            ends_at=now + timedelta(days=3, hours=2),
            actor=ASSIGNEE,
        )
        db.commit()
        return incident.id


def test_feed_holds_exactly_the_public_fields(ctx: AppContext, server: LiveServer) -> None:
    seed_everything(ctx)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        resp = client.get("/status/public.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["cache-control"] == "public, max-age=30"
    feed = resp.json()
    found = key_paths(feed)
    assert found - FEED_KEYS == set(), "keys not meant to be public"
    assert found == FEED_KEYS  # the seed fills every part, so every key is checked
    assert feed["status"] == "partial_outage"
    assert {c["name"]: c["status"] for g in feed["groups"] for c in g["components"]} == {
        "API": "major_outage",  # SEV1 beats the checks' partial outage
        "Website": "operational",
        "Database": "maintenance",
        "Search": "degraded",
    }
    assert [i["title"] for i in feed["incidents"]] == ["Elevated API errors", "Service disruption"]
    assert [m["status"] for m in feed["maintenance"]] == ["in_progress", "scheduled"]
    assert [h["title"] for h in feed["history"]] == ["Website unavailable for some visitors"]
    text = resp.text
    for leak in LEAKS:
        assert leak not in text, leak


def test_html_page_leaks_nothing_and_needs_no_session(ctx: AppContext, server: LiveServer) -> None:
    seed_everything(ctx)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        resp = client.get("/status/public", headers={"Accept": "text/html"})
        assert client.cookies.jar.__len__() == 0
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "public, max-age=30"
    assert "set-cookie" not in resp.headers
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    html = resp.text
    for leak in LEAKS:
        assert leak not in html, leak
    for shown in (
        "Acme Cloud",
        "Partial outage",
        "Elevated API errors",
        "A faulty deploy in one region; rolling it back.",
        "Database upgrade to PostgreSQL 17",
        "Network maintenance",
        "Website unavailable for some visitors",
        "Service disruption",
    ):
        assert shown in html, shown
    # No link into the app: only the stylesheet, the page's own feed and an empty icon.
    links = set(re.findall(r'(?:href|src|action)="([^"]*)"', html))
    assert links == {"/static/css/statuspage.css", "public.json", "data:,"}
    assert "<form" not in html and "<script" not in html


def test_signed_in_users_see_the_same_public_page(
    ctx: AppContext, server: LiveServer, sign_in: Callable[..., httpx.Client]
) -> None:
    seed_everything(ctx)
    client = sign_in("annika-admin-7392", "admin")
    html = client.get("/status/public").text
    assert "annika-admin-7392" not in html and "Sign out" not in html
    for leak in LEAKS:
        assert leak not in html, leak


def test_unknown_page_is_404(ctx: AppContext, server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        page = client.get("/status/nope", headers={"Accept": "text/html"})
        feed = client.get("/status/nope.json", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert "Status page not found" in page.text
    assert "/login" not in page.text
    assert feed.status_code == 404
    assert feed.headers["content-type"] == "application/problem+json"
    assert feed.json()["detail"] == 'there is no status page "nope"'


# -- the team's API and form -------------------------------------------------------------------


@pytest.fixture
def seeded(ctx: AppContext) -> Iterator[int]:
    """The page and an open incident on it; yield the incident's id."""
    with ctx.sessions() as db:
        add_page(db)
        incident_id = add_incident(db, ["API"], "SEV2").id
        db.commit()
    yield incident_id


def test_api_posts_lists_and_deletes_updates(
    ctx: AppContext, seeded: int, sign_in: Callable[..., httpx.Client]
) -> None:
    responder = sign_in("bob", "responder")
    viewer = sign_in("vic", "viewer")
    operator = sign_in("opal", "operator")
    resp = responder.post(
        "/api/v1/status-pages/public/updates",
        json={
            "status": "investigating",
            "title": "API errors",
            "body": "Looking.",
            "components": ["API"],
            "incident_id": seeded,
        },
    )
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["posted_by"] == "bob"
    assert made["incident_id"] == seeded
    maint = responder.post(
        "/api/v1/status-pages/public/updates",
        json={
            "status": "maintenance",
            "title": "Upgrade",
            "components": ["Database"],
            "starts_at": "2099-01-01T02:00:00",  # no offset: UTC
            "ends_at": "2099-01-01T04:00:00+00:00",
        },
    )
    assert maint.status_code == 201, maint.text
    assert maint.json()["starts_at"].startswith("2099-01-01T02:00:00")
    listed = viewer.get("/api/v1/status-pages/public/updates").json()
    assert [u["id"] for u in listed] == [maint.json()["id"], made["id"]]
    pages = viewer.get("/api/v1/status-pages").json()
    assert [(p["name"], p["status"], p["url"]) for p in pages] == [
        ("public", "partial_outage", "/status/public")
    ]
    assert pages[0]["active_incidents"] == 1 and pages[0]["maintenance"] == 1
    api = pages[0]["groups"][0]["components"][0]
    assert api == {
        "name": "API",
        "status": "partial_outage",
        "checks": ["chk-api-*"],
        "services": ["API"],
    }
    assert viewer.post("/api/v1/status-pages/public/updates", json={}).status_code == 403
    assert responder.delete(f"/api/v1/status-updates/{made['id']}").status_code == 403
    gone = operator.delete(f"/api/v1/status-updates/{made['id']}")
    assert gone.status_code == 200 and gone.json()["title"] == "API errors"
    assert operator.delete(f"/api/v1/status-updates/{made['id']}").status_code == 404
    with ctx.sessions() as db:
        kinds = db.scalars(
            select(IncidentEvent.kind).where(IncidentEvent.incident_id == seeded)
        ).all()
        assert kinds == ["status_update"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"status": "investigating", "title": "x", "components": ["Nope"]}, ["components[0]"]),
        ({"status": "maintenance", "title": "x"}, ["starts_at", "ends_at"]),
        ({"status": "later", "title": ""}, ["status", "title"]),
        ({"status": "investigating", "title": "x", "incident_id": 424242}, ["incident_id"]),
        ({"status": "investigating", "title": "x", "starts_at": "soon"}, ["body.starts_at"]),
        ({"status": "investigating", "title": "x", "secret": 1}, ["body.secret"]),
    ],
)
def test_api_refuses_bad_updates_by_field(
    seeded: int, sign_in: Callable[..., httpx.Client], body: dict[str, Any], fields: list[str]
) -> None:
    client = sign_in("bob", "responder")
    resp = client.post("/api/v1/status-pages/public/updates", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in resp.json()["errors"]] == fields


def test_api_unknown_page_is_404(seeded: int, sign_in: Callable[..., httpx.Client]) -> None:
    client = sign_in("bob", "responder")
    resp = client.post("/api/v1/status-pages/nope/updates", json={"status": "x", "title": "y"})
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/status-pages/nope/updates").status_code == 404


def test_form_posts_an_update_and_shows_errors(
    ctx: AppContext, seeded: int, sign_in: Callable[..., httpx.Client]
) -> None:
    client = sign_in("bob", "responder")
    page = client.get("/incidents/status-pages")
    assert page.status_code == 200
    assert 'href="/status/public"' in page.text
    token = form_token(client, "/incidents/status-pages")
    client.headers.pop("X-CSRF-Token")
    bad = client.post(
        "/incidents/status-pages/public/updates",
        data={"csrf_token": token, "status": "maintenance", "title": "Upgrade"},
    )
    assert bad.status_code == 422
    assert "Start: maintenance needs a start" in bad.text
    refused = client.post(
        "/incidents/status-pages/public/updates", data={"status": "identified", "title": "x"}
    )
    assert refused.status_code == 403  # no CSRF token
    ok = client.post(
        "/incidents/status-pages/public/updates",
        data={
            "csrf_token": token,
            "status": "identified",
            "title": "API errors",
            "body": "Rolling back.",
            "components": ["API"],
            "incident_id": str(seeded),
        },
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/incidents/status-pages?done=posted#page-public"
    with ctx.sessions() as db:
        (row,) = db.scalars(select(StatusUpdate)).all()
        assert (row.title, row.components, row.incident_id) == ("API errors", ["API"], seeded)


# -- in a real browser -------------------------------------------------------------------------


@pytest.mark.browser
def test_status_page_in_a_browser(ctx: AppContext, server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_or_skip()
    incident_id = seed_everything(ctx)
    make_user(ctx, "rita", "operator")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "console",
            lambda m: (
                problems.append(f"{m.text} {m.location}")
                if m.type == "error" and not m.location["url"].endswith("/favicon.ico")
                else None
            ),
        )
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto(f"{server.url}/status/public")  # signed out
        expect(page.locator(".sp-banner-text")).to_have_text("Partial outage")
        expect(page.locator(".sp-incident")).to_have_count(2)
        expect(page.locator(".sp-maintenance")).to_have_count(2)
        expect(page.locator(".sp-component")).to_have_count(4)
        api = page.locator(".sp-component", has_text="API")
        expect(api.locator(".sp-pill")).to_have_text("Major outage")
        # The stylesheet applied under the app's CSP: the banner is coloured.
        colour = page.locator(".sp-banner").evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
        page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(ARTIFACTS / "status-page-dark.png"), full_page=True)
        page.emulate_media(color_scheme="light")
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(ARTIFACTS / "status-page-phone.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

        page.goto(f"{server.url}/login?next=/incidents/status-pages")
        page.get_by_label("User name").fill("rita")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Status pages")
        page.get_by_text("Post an update…").click()
        page.get_by_label("Status").select_option("monitoring")
        page.locator("select[name=incident_id]").select_option(str(incident_id))
        page.get_by_label("Public title").fill("Elevated API errors")
        page.get_by_label("Public message").fill("The rollback is done; watching error rates.")
        page.get_by_label("API", exact=True).check()
        page.locator("details.post-update").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "status-admin-form.png"))
        page.get_by_role("button", name="Post update").click()
        expect(page.locator("[role=status]")).to_contain_text("Update posted.")
        expect(page.locator("table.updates tbody tr")).to_have_count(6)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "status-admin.png"), full_page=True)
        page.goto(f"{server.url}/status/public?again")  # the browser cached the page for 30 s
        expect(page.locator(".sp-incident").first).to_contain_text("rollback is done")
        assert problems == []
        browser.close()
