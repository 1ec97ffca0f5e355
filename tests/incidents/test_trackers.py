"""Issues in bug trackers from incidents: GitHub, GitLab, Jira and a webhook, each against a
fake of its REST API on loopback; errors that say what failed and whether to try again; no
token in any error or log line; the API routes."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.incidents.fake_trackers import (
    GITHUB_TOKEN,
    GITLAB_TOKEN,
    JIRA_TOKEN,
    JIRA_USER,
    WEBHOOK_SECRET,
    FakeTrackers,
)
from watchkeeper.exceptions import ConflictError, NotFoundError
from watchkeeper.incidents import tracking
from watchkeeper.incidents.config import Tracker
from watchkeeper.incidents.timeline import add_event, events
from watchkeeper.incidents.trackers.interface import TrackerError
from watchkeeper.incidents.trackers.jira import to_adf
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import AuditEntry, Incident, StoredObject, TrackerLink, utcnow

T = TypeVar("T")
BASE = "https://wk.example.com"
TOKENS = (GITHUB_TOKEN, GITLAB_TOKEN, JIRA_TOKEN, WEBHOOK_SECRET)


@pytest.fixture
def fake() -> Iterator[FakeTrackers]:
    with FakeTrackers() as server:
        yield server


def tracker_specs(fake: FakeTrackers) -> list[dict[str, Any]]:
    return [
        {
            "name": "gh",
            "type": "github",
            "url": fake.url,
            "project": "acme/shop",
            "token": GITHUB_TOKEN,
            "labels": ["incident", "watchkeeper"],
        },
        {
            "name": "gl",
            "type": "gitlab",
            "url": f"{fake.url}/api/v4",
            "project": "platform/api",
            "token": GITLAB_TOKEN,
            "labels": ["incident", "sev::2"],
        },
        {
            "name": "jira",
            "type": "jira",
            "url": fake.url,
            "project": "OPS",
            "user": JIRA_USER,
            "token": JIRA_TOKEN,
            "issue_type": "Incident",
            "labels": ["incident", "from watchkeeper"],
        },
        {
            "name": "hook",
            "type": "webhook",
            "url": f"{fake.url}/hooks/{WEBHOOK_SECRET}",
            "labels": ["incident"],
        },
        {"name": "quiet", "type": "webhook", "url": f"{fake.url}/quiet-hook"},
    ]


def configure(db: Session, specs: list[dict[str, Any]]) -> None:
    """Put trackers in the stored plan, as applying a plan file does."""
    for spec in specs:
        tracker = Tracker.model_validate(spec)
        db.add(
            StoredObject(
                kind="incidents.trackers",
                name=tracker.name,
                spec=tracker.model_dump(mode="json", by_alias=True),
                managed=True,
            )
        )
    db.commit()


def respec(db: Session, name: str, **changes: Any) -> None:
    """Change a stored tracker, as editing the plan file does."""
    row = db.scalars(select(StoredObject).where(StoredObject.name == name)).one()
    row.spec = {**row.spec, **changes}
    db.commit()


def add_incident(db: Session, title: str = "Checkout is failing") -> int:
    opened = utcnow() - timedelta(minutes=20)
    incident = Incident(
        title=title,
        severity="SEV2",
        status="acknowledged",
        team="payments",
        services=["checkout", "payments-api"],
        summary="Card payments fail with 502 for about a third of the customers.",
        opened_at=opened,
        opened_by="alice",
        acknowledged_at=opened + timedelta(minutes=3),
        acknowledged_by="bob",
    )
    db.add(incident)
    db.flush()
    add_event(db, incident.id, "opened", "alice", "Opened by hand", at=opened)
    add_event(
        db,
        incident.id,
        "acknowledged",
        "bob",
        "Acknowledged",
        at=opened + timedelta(minutes=3),
    )
    add_event(
        db, incident.id, "note", "bob", "Rolled back deploy 41", at=opened + timedelta(minutes=9)
    )
    db.commit()
    return incident.id


@pytest.fixture
def setup(db: Session, fake: FakeTrackers) -> int:
    configure(db, tracker_specs(fake))
    return add_incident(db)


def run(call: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def go() -> T:
        async with httpx.AsyncClient() as http:
            return await call(http)

    return asyncio.run(go())


def open_issue(db: Session, incident_id: int, tracker: str) -> tracking.LinkView:
    return run(
        lambda http: tracking.open_issue(db, incident_id, tracker, "carol", http, base_url=BASE)
    )


def sync(db: Session, link_id: int) -> tracking.LinkView:
    return run(lambda http: tracking.sync_status(db, link_id, http))


def tracker_entries(db: Session, incident_id: int) -> list[str]:
    return [e.text for e in events(db, incident_id) if e.kind == "tracker"]


def link_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(TrackerLink)) or 0


# --- each tracker: create, then follow the status --------------------------------------------


def test_github_issue_is_opened_and_its_state_followed(
    db: Session, fake: FakeTrackers, setup: int
) -> None:
    link = open_issue(db, setup, "gh")
    assert (link.external_id, link.label, link.status) == ("1", "#1", "open")
    assert link.url == "https://github.com/acme/shop/issues/1"
    (request,) = fake.requests_to("/repos/")
    assert request.method == "POST" and request.path == "/repos/acme/shop/issues"
    assert request.headers["authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    body = request.json()
    assert body["title"] == "[SEV2] Checkout is failing"
    assert body["labels"] == ["incident", "watchkeeper"]
    text = body["body"]
    assert "Card payments fail with 502" in text
    assert "- **Severity:** SEV2" in text
    assert "- **Status:** acknowledged" in text
    assert "- **Services:** checkout, payments-api" in text
    assert "- **Team:** payments" in text
    assert f"- **Incident:** {BASE}/incidents/{setup}" in text
    assert "· opened · alice: Opened by hand" in text
    assert "· note · bob: Rolled back deploy 41" in text
    assert tracker_entries(db, setup) == ['Opened GitHub issue #1 in tracker "gh"']
    (entry,) = [e for e in events(db, setup) if e.kind == "tracker"]
    assert entry.actor == "carol"
    assert entry.data["url"] == link.url
    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "incident.tracker_issue"))
    assert [a.target for a in audit] == [f"incident/{setup}"]

    assert sync(db, link.id).status == "open"  # unchanged: no new entry
    assert len(tracker_entries(db, setup)) == 1
    fake.github[1]["state"] = "closed"  # someone closes it on GitHub
    synced = sync(db, link.id)
    assert synced.status == "closed" and synced.synced_at is not None
    assert tracker_entries(db, setup)[-1] == "GitHub issue #1 is now closed (was open)"
    assert fake.requests_to("/repos/")[-1].path == "/repos/acme/shop/issues/1"
    assert [v.status for v in tracking.links_for(db, setup)] == ["closed"]


def test_gitlab_issue_is_opened_in_a_project_named_by_path(
    db: Session, fake: FakeTrackers, setup: int
) -> None:
    link = open_issue(db, setup, "gl")
    assert (link.external_id, link.label, link.status) == ("1", "#1", "opened")
    assert link.url == "https://gitlab.example.com/platform/api/-/issues/1"
    (request,) = fake.requests_to("/api/v4/")
    assert request.raw_path == "/api/v4/projects/platform%2Fapi/issues"  # URL-encoded path
    assert request.headers["private-token"] == GITLAB_TOKEN
    assert "authorization" not in request.headers
    body = request.json()
    assert body["title"] == "[SEV2] Checkout is failing"
    assert body["labels"] == "incident,sev::2"
    assert f"{BASE}/incidents/{setup}" in body["description"]

    fake.gitlab[1]["state"] = "closed"
    assert sync(db, link.id).status == "closed"
    assert fake.requests_to("/api/v4/")[-1].raw_path == "/api/v4/projects/platform%2Fapi/issues/1"
    assert tracker_entries(db, setup)[-1] == "GitLab issue #1 is now closed (was opened)"


def test_jira_issue_is_opened_with_an_adf_description(
    db: Session, fake: FakeTrackers, setup: int
) -> None:
    link = open_issue(db, setup, "jira")
    assert (link.external_id, link.label, link.status) == ("OPS-1", "OPS-1", "To Do")
    assert link.url == f"{fake.url}/browse/OPS-1"
    create, status = fake.requests_to("/rest/api/3/")
    basic = base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}".encode()).decode()
    assert create.method == "POST" and create.path == "/rest/api/3/issue"
    assert create.headers["authorization"] == f"Basic {basic}"
    fields = create.json()["fields"]
    assert fields["project"] == {"key": "OPS"}
    assert fields["summary"] == "[SEV2] Checkout is failing"
    assert fields["issuetype"] == {"name": "Incident"}
    assert fields["labels"] == ["incident", "from-watchkeeper"]  # Jira labels hold no spaces
    doc = fields["description"]
    assert doc["type"] == "doc" and doc["version"] == 1
    assert {block["type"] for block in doc["content"]} >= {"paragraph", "bulletList", "heading"}
    assert (status.path, status.query) == ("/rest/api/3/issue/OPS-1", {"fields": "status"})

    fake.jira["OPS-1"]["status"] = "Done"
    assert sync(db, link.id).status == "Done"
    assert tracker_entries(db, setup)[-1] == "Jira issue OPS-1 is now Done (was To Do)"


def test_markdown_body_becomes_atlassian_document_format() -> None:
    doc = to_adf(
        "Cards fail.\n\n- **Severity:** SEV1\n- **Incident:** https://wk.example.com/incidents/3"
        "\n\n### Timeline so far\n\n- 10:00 · opened · alice"
    )
    paragraph, bullets, heading, timeline = doc["content"]
    assert paragraph == {"type": "paragraph", "content": [{"type": "text", "text": "Cards fail."}]}
    first = bullets["content"][0]["content"][0]["content"]
    assert first[0] == {"type": "text", "text": "Severity:", "marks": [{"type": "strong"}]}
    link = bullets["content"][1]["content"][0]["content"][-1]
    assert link["marks"] == [
        {"type": "link", "attrs": {"href": "https://wk.example.com/incidents/3"}}
    ]
    assert heading["type"] == "heading" and heading["attrs"] == {"level": 3}
    assert timeline["type"] == "bulletList"


def test_webhook_gets_the_issue_as_json_and_keeps_what_it_answers(
    db: Session, fake: FakeTrackers, setup: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = open_issue(db, setup, "hook")
    assert (link.external_id, link.url, link.status) == (
        "T-1",
        "https://tickets.example.com/T-1",
        "new",
    )
    (request,) = fake.requests_to("/hooks/")
    assert request.headers["idempotency-key"] == f"incident-{setup}-hook"
    assert "authorization" not in request.headers
    body = request.json()
    assert body["event"] == "incident.issue" and body["tracker"] == "hook"
    assert body["title"] == "[SEV2] Checkout is failing"
    assert body["labels"] == ["incident"]
    assert body["incident"]["id"] == setup
    assert body["incident"]["url"] == f"{BASE}/incidents/{setup}"
    assert body["incident"]["services"] == ["checkout", "payments-api"]
    assert body["incident"]["opened_at"].endswith("Z")
    assert [e["kind"] for e in body["timeline"]] == ["opened", "acknowledged", "note"]

    # A webhook cannot report status: a sync keeps the last one and asks nothing.
    assert sync(db, link.id).status == "new"
    assert len(fake.requests_to("/hooks/")) == 1
    assert WEBHOOK_SECRET not in caplog.text  # its URL is its key: masked in httpx's lines
    assert "HTTP Request: POST" in caplog.text


def test_webhook_answer_without_a_body_is_enough(
    db: Session, fake: FakeTrackers, setup: int
) -> None:
    link = open_issue(db, setup, "quiet")
    assert (link.external_id, link.url, link.status, link.label) == ("", "", "", "issue")
    assert tracker_entries(db, setup) == ['Sent the issue to Webhook tracker "quiet"']


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tracker", "status", "answer", "expected"),
    [
        ("gh", 401, None, 'GitHub tracker "gh" refused to open the issue: HTTP 401: Bad '
         "credentials (check the tracker's token and what it may do)"),
        ("gh", 422, {"message": "Validation Failed", "errors": [
            {"resource": "Issue", "code": "invalid", "field": "labels"}]},
         'GitHub tracker "gh" refused to open the issue: HTTP 422: Validation Failed; '
         "labels invalid"),
        ("gl", 403, {"message": "403 Forbidden"},
         'GitLab tracker "gl" refused to open the issue: HTTP 403: 403 Forbidden'),
        ("jira", 400, {"errorMessages": [], "errors": {"issuetype": "Specify a valid issue type"}},
         'Jira tracker "jira" refused to open the issue: HTTP 400: issuetype: Specify a valid '
         "issue type"),
    ],
)  # fmt: skip
def test_a_refusal_is_permanent_and_names_tracker_status_and_reason(
    db: Session,
    fake: FakeTrackers,
    setup: int,
    tracker: str,
    status: int,
    answer: Any,
    expected: str,
) -> None:
    if answer is not None:
        fake.answer = (status, answer)
    else:  # the real check: a wrong token
        respec(db, tracker, token="ghp_NotTheRightTokenAtAll0000")
    with pytest.raises(TrackerError) as caught:
        open_issue(db, setup, tracker)
    assert str(caught.value).startswith(expected), str(caught.value)
    assert caught.value.permanent
    assert link_count(db) == 0  # nothing kept: a second try may go ahead
    assert tracker_entries(db, setup) == []


def test_a_server_error_says_try_again(db: Session, fake: FakeTrackers, setup: int) -> None:
    fake.answer = (500, {"message": "Server Error"})
    with pytest.raises(TrackerError) as caught:
        open_issue(db, setup, "gh")
    assert str(caught.value) == (
        'GitHub tracker "gh" could not open the issue (HTTP 500: Server Error); try again later'
    )
    assert not caught.value.permanent
    assert link_count(db) == 0
    fake.answer = None
    assert open_issue(db, setup, "gh").external_id == "1"  # and trying again works


def test_a_tracker_that_does_not_answer_in_time_says_try_again(
    db: Session, fake: FakeTrackers, setup: int
) -> None:
    specs = tracker_specs(fake)
    slow = {**specs[1], "name": "slow-gl", "timeout": "300ms"}
    configure(db, [slow])
    fake.hang = True
    with pytest.raises(TrackerError) as caught:
        open_issue(db, setup, "slow-gl")
    assert str(caught.value) == (
        'GitLab tracker "slow-gl" did not answer within 0.3s; try again later'
    )
    assert not caught.value.permanent
    assert link_count(db) == 0


def test_an_unreachable_tracker_says_try_again(db: Session, setup: int) -> None:
    configure(
        db,
        [{"name": "gone", "type": "github", "url": "http://127.0.0.1:9", "project": "a/b",
          "token": GITHUB_TOKEN}],
    )  # fmt: skip
    with pytest.raises(TrackerError) as caught:
        open_issue(db, setup, "gone")
    assert str(caught.value).startswith('GitHub tracker "gone" could not be reached (')
    assert str(caught.value).endswith("try again later")


def test_status_of_a_deleted_issue_is_a_permanent_error(
    db: Session, fake: FakeTrackers, setup: int
) -> None:
    link = open_issue(db, setup, "gh")
    del fake.github[1]
    with pytest.raises(TrackerError) as caught:
        sync(db, link.id)
    assert str(caught.value) == (
        'GitHub tracker "gh" refused to report the state of issue #1: HTTP 404: Not Found '
        "(check the tracker's url and project)"
    )
    assert tracking.get_link(db, link.id).status == "open"  # the last known status stays


def test_tokens_are_never_in_errors_or_log_lines(
    db: Session, fake: FakeTrackers, setup: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Even a service that repeats the credentials it was sent in its error is masked."""
    caplog.set_level(logging.DEBUG)
    fake.echo_credentials = True
    fake.answer = None
    messages = []
    for tracker in ("gh", "gl", "jira"):
        # A wrong token makes each service refuse and echo what it got.
        spec = next(s for s in tracker_specs(fake) if s["name"] == tracker)
        respec(db, tracker, token=f"{spec['token']}-wrong")
        with pytest.raises(TrackerError) as caught:
            open_issue(db, setup, tracker)
        messages.append(str(caught.value))
    assert all("HTTP 401" in m for m in messages), messages
    assert all("********" in m for m in messages), messages  # the echo, masked
    basic = base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}-wrong".encode()).decode()
    for secret in (*TOKENS, basic):
        assert all(secret not in m for m in messages)
        assert secret not in caplog.text
    assert "no issue opened in tracker gh" in caplog.text


# --- rules ---------------------------------------------------------------------------------


def test_a_second_issue_in_the_same_tracker_is_refused(
    db: Session, fake: FakeTrackers, setup: int
) -> None:
    first = open_issue(db, setup, "gh")
    with pytest.raises(ConflictError, match=f'already has an issue in tracker "gh": {first.url}'):
        open_issue(db, setup, "gh")
    assert len(fake.github) == 1  # the tracker was not asked again
    assert open_issue(db, setup, "gl").tracker == "gl"  # another tracker is fine
    other = add_incident(db, "Search is slow")
    assert open_issue(db, other, "gh").external_id == "2"  # and another incident too
    assert [v.tracker for v in tracking.links_for(db, setup)] == ["gh", "gl"]


def test_an_issue_being_opened_blocks_a_second_one_until_it_is_stale(
    db: Session, fake: FakeTrackers, setup: int
) -> None:
    db.add(
        TrackerLink(
            incident_id=setup,
            tracker="gh",
            external_id="",
            url="",
            status=tracking.CREATING,
            created_at=utcnow(),
        )
    )
    db.commit()
    with pytest.raises(ConflictError, match="is being opened"):
        open_issue(db, setup, "gh")
    assert tracking.links_for(db, setup) == []  # a reservation is not shown
    stale = db.scalars(select(TrackerLink)).one()
    stale.created_at = utcnow() - tracking.STALE_AFTER - timedelta(seconds=1)
    db.commit()  # left by a process that stopped half-way
    assert open_issue(db, setup, "gh").external_id == "1"
    assert link_count(db) == 1


def test_unknown_tracker_incident_or_link_is_not_found(
    db: Session, fake: FakeTrackers, setup: int
) -> None:
    with pytest.raises(NotFoundError, match=r'no tracker named "nope" .*lists: gh, gl, hook'):
        open_issue(db, setup, "nope")
    with pytest.raises(NotFoundError, match="incident 9999 does not exist"):
        open_issue(db, 9999, "gh")
    with pytest.raises(NotFoundError, match="tracker issue 4242 does not exist"):
        sync(db, 4242)
    with pytest.raises(NotFoundError):
        tracking.links_for(db, 9999)
    assert fake.seen == []


def test_sync_all_refreshes_every_issue_and_counts_failures(
    db: Session, fake: FakeTrackers, setup: int, caplog: pytest.LogCaptureFixture
) -> None:
    gh, gl, jira = (open_issue(db, setup, t) for t in ("gh", "gl", "jira"))
    open_issue(db, setup, "hook")  # cannot be synced: left out
    fake.github[1]["state"] = "closed"
    fake.jira["OPS-1"]["status"] = "In Progress"
    summary = run(lambda http: tracking.sync_all(db, http))
    assert summary == tracking.SyncSummary(checked=3, changed=2, failed=0)
    assert [tracking.get_link(db, x.id).status for x in (gh, gl, jira)] == [
        "closed",
        "opened",
        "In Progress",
    ]
    fake.answer = (503, {"message": "maintenance"})
    summary = run(lambda http: tracking.sync_all(db, http, limit=2))
    assert summary == tracking.SyncSummary(checked=0, changed=0, failed=2)
    assert "status not refreshed" in caplog.text and "try again later" in caplog.text


def test_trackers_are_listed_without_their_tokens(db: Session, fake: FakeTrackers) -> None:
    configure(db, tracker_specs(fake))
    views = {t.name: t for t in tracking.trackers(db)}
    assert sorted(views) == ["gh", "gl", "hook", "jira", "quiet"]
    assert views["gh"].title == "GitHub" and views["gh"].project == "acme/shop"
    assert views["hook"].site == fake.url  # a webhook's path can be its key
    assert not views["hook"].syncs_status and views["jira"].syncs_status
    assert all(secret not in repr(views) for secret in TOKENS)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "github", "url": "https://api.github.com", "project": "acme"}, "owner/repo"),
        ({"type": "gitlab", "url": "https://gitlab.com"}, "needs `project`"),
        ({"type": "jira", "url": "https://x.atlassian.net", "project": "OPS", "token": "t"},
         "needs `user`"),
        ({"type": "webhook", "url": "ftp://example.com/hook"}, "http:// or https://"),
    ],
)  # fmt: skip
def test_plan_tracker_mistakes_are_named(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tracker.model_validate({"name": "t", **spec})


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def api(ctx: AppContext, fake: FakeTrackers, sign_in: Callable[..., httpx.Client]) -> int:
    """The incident the API tests work on (trackers configured)."""
    with ctx.sessions() as db:
        configure(db, tracker_specs(fake))
        return add_incident(db)


def test_api_opens_lists_and_syncs_tracker_issues(
    api: int, fake: FakeTrackers, sign_in: Callable[..., httpx.Client]
) -> None:
    responder, viewer = sign_in("resp", "responder"), sign_in("view", "viewer")
    listed = viewer.get("/api/v1/trackers")
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["gh", "gl", "hook", "jira", "quiet"]
    assert listed.json()[0] == {
        "name": "gh",
        "type": "github",
        "project": "acme/shop",
        "site": fake.url,
        "syncs_status": True,
    }
    assert all(secret not in listed.text for secret in TOKENS)

    path = f"/api/v1/incidents/{api}/tracker-issues"
    made = responder.post(path, json={"tracker": "gh"})
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["incident_id"] == api and link["tracker"] == "gh"
    assert (link["type"], link["external_id"], link["label"]) == ("github", "1", "#1")
    assert link["url"] == "https://github.com/acme/shop/issues/1"
    assert link["status"] == "open"
    sent = fake.requests_to("/repos/")[0].json()
    assert f"/incidents/{api}" in sent["body"]  # the server's own address

    again = responder.post(path, json={"tracker": "gh"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"

    shown = viewer.get(path)
    assert shown.status_code == 200 and [x["id"] for x in shown.json()] == [link["id"]]

    fake.github[1]["state"] = "closed"
    synced = responder.post(f"/api/v1/tracker-issues/{link['id']}/sync")
    assert synced.status_code == 200 and synced.json()["status"] == "closed"

    assert viewer.post(path, json={"tracker": "gl"}).status_code == 403
    assert viewer.post(f"/api/v1/tracker-issues/{link['id']}/sync").status_code == 403


def test_api_errors_are_problems(
    api: int, fake: FakeTrackers, sign_in: Callable[..., httpx.Client]
) -> None:
    client = sign_in("resp", "responder")
    path = f"/api/v1/incidents/{api}/tracker-issues"

    def post(url: str, body: Any) -> httpx.Response:
        resp = client.post(url, json=body)
        assert resp.headers["content-type"] == "application/problem+json", resp.text
        return resp

    unknown = post(path, {"tracker": "nope"})
    assert unknown.status_code == 404
    assert 'no tracker named "nope"' in unknown.json()["detail"]
    missing = post("/api/v1/incidents/9999/tracker-issues", {"tracker": "gh"})
    assert (missing.status_code, missing.json()["detail"]) == (404, "incident 9999 does not exist")
    assert client.get("/api/v1/incidents/9999/tracker-issues").status_code == 404
    assert post("/api/v1/tracker-issues/9999/sync", None).status_code == 404

    bad = post(path, {"tracer": "gh"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"body.tracker", "body.tracer"}
    assert post("/api/v1/incidents/abc/tracker-issues", {"tracker": "gh"}).status_code == 422

    fake.answer = (401, {"message": "Bad credentials"})
    failed = post(path, {"tracker": "gh"})
    assert failed.status_code == 502
    assert failed.json()["title"] == "The tracker refused the request"
    assert failed.json()["detail"].startswith(
        'GitHub tracker "gh" refused to open the issue: HTTP 401: Bad credentials'
    )
    assert GITHUB_TOKEN not in failed.text

    fake.answer = (502, {"message": "upstream down"})
    down = post(path, {"tracker": "gh"})
    assert down.status_code == 502
    assert down.json()["title"] == "The tracker failed"
    assert down.json()["detail"].endswith("try again later")
    assert client.get(path).json() == []
