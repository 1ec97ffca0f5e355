"""Postmortems: the draft holds the incident's facts and whole timeline; save, publish and
back to draft leave timeline entries and audit records; the size limit; re-pulling the
timeline; action items open/overdue across incidents; Markdown and PDF exports (Unicode
included); the API's roles and problems; the editor pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import form_token
from tests.incidents.pdf_text import pdf_text
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.incidents import postmortem, timeline
from watchkeeper.incidents.postmortem_pdf import DEJAVU_DIR, markdown_to_pdf
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import AuditEntry, Incident, IncidentEvent

SignIn = Callable[..., httpx.Client]
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
ALICE = Actor("alice", "127.0.0.1")
# (seconds after opening, who, kind, text)
TIMELINE = [
    (0, "system", "opened", "Opened from the alert group DiskFull"),
    (0, "system", "alert_firing", "DiskFull instance=db-1"),
    (30, "system", "notified", "ops-webhook: delivered"),
    (250, "alice", "acknowledged", ""),
    (600, "bob", "note", "Disk at 100% | writes failing\nsee the graph"),
    (5400, "bob", "resolved", "Freed 20 GB of WAL"),
]
UNICODE_TITLE = "Disk full on db-1 — Zürich ✓ 日本"


def make_incident(db: Session, title: str = "Disk full on db-1", resolved: bool = True) -> int:
    incident = Incident(
        title=title,
        severity="SEV2",
        status="resolved" if resolved else "triggered",
        team="data",
        services=["api", "postgres"],
        opened_at=T0,
        opened_by="system",
        acknowledged_at=T0 + timedelta(seconds=250),
        acknowledged_by="alice",
        resolved_at=T0 + timedelta(seconds=5400) if resolved else None,
        resolved_by="bob" if resolved else "",
    )
    db.add(incident)
    db.flush()
    for seconds, actor, kind, text in TIMELINE:
        db.add(
            IncidentEvent(
                incident_id=incident.id,
                at=T0 + timedelta(seconds=seconds),
                actor=actor,
                kind=kind,
                text=text,
                data={},
            )
        )
    db.commit()
    return incident.id


def audit_actions(db: Session) -> list[str]:
    return list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# -- the draft -----------------------------------------------------------------------------


def test_draft_holds_the_incident_timeline_and_facts(db: Session) -> None:
    incident_id = make_incident(db)
    view = postmortem.draft(db, incident_id, ALICE, now=T0 + timedelta(days=1))
    db.commit()
    body = view.body
    assert view.status == "draft" and view.updated_by == "alice"
    assert body.startswith("# Postmortem: Disk full on db-1\n")
    for heading in [
        "Summary",
        "Impact",
        "Timeline",
        "Root cause",
        "Contributing factors",
        "Action items",
        "Lessons learned",
    ]:
        assert f"\n## {heading}\n" in body
    assert "- **Severity:** SEV2" in body
    assert "- **Services:** api, postgres" in body
    assert "- **Resolved:** 2026-01-05 11:30 UTC, after 1 h 30 min" in body
    assert "- **Time to acknowledge:** 4 min 10 s by alice" in body
    rows = [line for line in body.splitlines() if line.startswith("| 2026-")]
    assert rows == [
        "| 2026-01-05 10:00:00 | system | Opened: Opened from the alert group DiskFull |",
        "| 2026-01-05 10:00:00 | system | Alert firing: DiskFull instance=db-1 |",
        "| 2026-01-05 10:00:30 | system | Notified: ops-webhook: delivered |",
        "| 2026-01-05 10:04:10 | alice | Acknowledged |",
        "| 2026-01-05 10:10:00 | bob | Note: Disk at 100% \\| writes failing see the graph |",
        "| 2026-01-05 11:30:00 | bob | Resolved: Freed 20 GB of WAL |",
    ]
    assert postmortem.NO_ITEMS in body
    entries = timeline.events(db, incident_id)
    assert (entries[-1].kind, entries[-1].actor, entries[-1].text) == (
        "postmortem",
        "alice",
        "Postmortem drafted",
    )
    assert audit_actions(db)[-1] == "postmortem.draft"


def test_an_open_incident_says_so(db: Session) -> None:
    incident_id = make_incident(db, resolved=False)
    body = postmortem.draft(db, incident_id, ALICE, now=T0 + timedelta(hours=2)).body
    assert "- **Resolved:** not resolved yet (open for 2 h)" in body


def test_a_second_draft_conflicts_and_unknown_incidents_are_not_found(db: Session) -> None:
    incident_id = make_incident(db)
    postmortem.draft(db, incident_id, ALICE)
    db.commit()
    with pytest.raises(ConflictError):
        postmortem.draft(db, incident_id, ALICE)
    with pytest.raises(NotFoundError):
        postmortem.draft(db, 424242, ALICE)
    with pytest.raises(NotFoundError):
        postmortem.get(db, make_incident(db, "another"))


# -- saving --------------------------------------------------------------------------------


def test_save_publish_and_back_to_draft(db: Session) -> None:
    incident_id = make_incident(db)
    postmortem.draft(db, incident_id, ALICE)
    db.commit()
    saved = postmortem.save(db, incident_id, "# Postmortem\n\nRoot cause: WAL.", Actor("bob"))
    db.commit()
    assert (saved.status, saved.updated_by) == ("draft", "bob")
    published = postmortem.save(db, incident_id, saved.body, ALICE, status="published")
    db.commit()
    assert published.status == "published"
    kept = postmortem.save(db, incident_id, saved.body + "\nMore.", ALICE)
    db.commit()
    assert kept.status == "published"  # no status given: it stays
    back = postmortem.save(db, incident_id, kept.body, ALICE, status="draft")
    db.commit()
    assert back.status == "draft"
    assert postmortem.get(db, incident_id).body.endswith("More.")
    entries = [
        (e.actor, e.text) for e in timeline.events(db, incident_id) if e.kind == "postmortem"
    ]
    assert entries == [
        ("alice", "Postmortem drafted"),
        ("bob", "Postmortem saved (draft)"),
        ("alice", "Postmortem published"),
        ("alice", "Postmortem saved (published)"),
        ("alice", "Postmortem moved back to draft"),
    ]
    assert audit_actions(db)[-5:] == [
        "postmortem.draft",
        "postmortem.save",
        "postmortem.publish",
        "postmortem.save",
        "postmortem.unpublish",
    ]


def test_the_size_limit_names_the_body_and_keeps_the_stored_text(db: Session) -> None:
    incident_id = make_incident(db)
    original = postmortem.draft(db, incident_id, ALICE).body
    db.commit()
    exactly = "x" * postmortem.MAX_BODY_BYTES
    assert postmortem.save(db, incident_id, exactly, ALICE).body == exactly
    db.rollback()
    # 100,001 two-byte characters: under the limit in characters, over it in bytes.
    with pytest.raises(ValidationFailed) as caught:
        postmortem.save(db, incident_id, "é" * 100_001, ALICE)
    assert caught.value.errors == [
        ("body", "is 200,002 bytes; the limit is 200,000 bytes (200 kB)")
    ]
    with pytest.raises(ValidationFailed) as bad_status:
        postmortem.save(db, incident_id, "x", ALICE, status="final")  # type: ignore[arg-type]
    assert bad_status.value.errors[0][0] == "status"
    db.rollback()
    assert postmortem.get(db, incident_id).body == original


def test_refresh_pulls_the_timeline_again_and_keeps_the_rest(db: Session) -> None:
    incident_id = make_incident(db)
    body = postmortem.draft(db, incident_id, ALICE).body
    edited = body.replace("_Why it happened", "WAL archiving stalled. _Why it happened")
    timeline.add_event(
        db, incident_id, "note", "carol", "Archiving fixed", at=T0 + timedelta(hours=3)
    )
    db.commit()
    view = postmortem.refresh(db, incident_id, ALICE, edited)
    db.commit()
    assert "WAL archiving stalled." in view.body
    assert "| 2026-01-05 13:00:00 | carol | Note: Archiving fixed |" in view.body
    assert view.body.count(postmortem.TIMELINE_HEADER) == 1
    assert "Postmortem drafted" not in view.body  # entries about the document stay out
    # A text whose Timeline section was deleted gets the section back at its end.
    bare = postmortem.refresh_timeline("# Notes\n\nShort.", timeline.events(db, incident_id))
    assert bare.startswith("# Notes\n\nShort.\n\n## Timeline\n\n| Time (UTC) |")


# -- action items --------------------------------------------------------------------------


def test_action_items_open_overdue_first_and_done(db: Session) -> None:
    first, second = make_incident(db), make_incident(db, "API latency")
    now = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
    late = postmortem.add_item(
        db, first, ALICE, "Alert at 80% disk", "alice", date(2026, 2, 1), now
    )
    soon = postmortem.add_item(
        db, second, ALICE, "Add a read replica", "bob", date(2026, 2, 20), now
    )
    none = postmortem.add_item(db, first, ALICE, " Write the WAL runbook ", now=now)
    later = postmortem.add_item(db, second, ALICE, "Load test", "", date(2026, 3, 1), now)
    later_late = postmortem.add_item(db, second, ALICE, "Rotate keys", "", date(2026, 2, 9), now)
    done = postmortem.add_item(db, first, ALICE, "Free WAL", "bob", date(2026, 1, 6), now)
    postmortem.update_item(db, first, done.id, ALICE, done=True, now=now)
    db.commit()
    assert none.title == "Write the WAL runbook" and none.due is None
    listed = postmortem.open_items(db, now)
    assert [i.id for i in listed] == [late.id, later_late.id, soon.id, later.id, none.id]
    assert [i.overdue for i in listed] == [True, True, False, False, False]
    assert listed[2].incident_title == "API latency"
    # Due today is not overdue yet.
    assert not postmortem.open_items(db, datetime(2026, 2, 1, 23, 0, tzinfo=UTC))[0].overdue

    changed = postmortem.update_item(
        db, first, late.id, Actor("bob"), title="Alert at 75% disk", due=None, done=True, now=now
    )
    db.commit()
    assert (changed.title, changed.due, changed.done_at) == ("Alert at 75% disk", None, now)
    assert late.id not in [i.id for i in postmortem.open_items(db, now)]
    reopened = postmortem.update_item(db, first, late.id, ALICE, done=False, now=now)
    assert reopened.done_at is None
    assert [i.id for i in postmortem.items_for(db, first)] == [late.id, none.id, done.id]
    assert "action_item.update" in audit_actions(db)

    with pytest.raises(ValidationFailed) as caught:
        postmortem.add_item(db, first, ALICE, "   ", "x" * 200)
    assert [f for f, _ in caught.value.errors] == ["title", "owner"]
    with pytest.raises(NotFoundError):  # the item belongs to the other incident
        postmortem.update_item(db, first, soon.id, ALICE, done=True)


# -- exports -------------------------------------------------------------------------------


def test_markdown_export_shows_the_items_as_they_stand(db: Session) -> None:
    incident_id = make_incident(db)
    stored = postmortem.draft(db, incident_id, ALICE).body
    item = postmortem.add_item(db, incident_id, ALICE, "Alert | at 80%", "alice", date(2026, 1, 9))
    db.commit()
    text = postmortem.export_markdown(db, incident_id)
    assert "| Alert \\| at 80% | alice | 2026-01-09 |" in text
    assert postmortem.NO_ITEMS not in text
    assert postmortem.get(db, incident_id).body == stored  # the stored text is left alone
    postmortem.update_item(db, incident_id, item.id, ALICE, done=True)
    db.commit()
    assert re.search(
        r"\| 2026-01-09 \| done \d{4}-\d\d-\d\d \|", postmortem.export_markdown(db, incident_id)
    )
    # A section written by hand (no generated table) is kept as written.
    mine = "## Action items\n\nSee the tracker.\n"
    assert postmortem.sync_items(mine, postmortem.items_for(db, incident_id)) == mine


def needs_dejavu() -> None:
    if not (DEJAVU_DIR / "DejaVuSans.ttf").is_file():
        import os

        message = "fonts-dejavu-core is not installed (apt-get install fonts-dejavu-core)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_pdf_export_holds_the_title_and_unicode(db: Session) -> None:
    needs_dejavu()
    incident_id = make_incident(db, UNICODE_TITLE)
    view = postmortem.draft(db, incident_id, ALICE)
    body = view.body.replace(
        "_What happened, in two or three sentences._",
        "**Writes failed** for 90 min in Łódź → Zürich: “WAL” ✓ 😀 العربية",
    )
    postmortem.save(db, incident_id, body, ALICE)
    db.commit()
    data = postmortem.export_pdf(db, incident_id, compress=False)
    assert data.startswith(b"%PDF-")
    lines = pdf_text(data)
    # The title's CJK characters are not in DejaVu Sans: replaced, never a crash.
    assert "Postmortem: Disk full on db-1 — Zürich ✓ ??" in lines
    text = "\n".join(lines)
    assert "Writes failed" in text and "in Łódź → Zürich: “WAL” ✓" in text
    assert "Timeline" in text and "Acknowledged" in text and "10:04:10" in text
    assert re.search(r"page 1 of\s+\d", text)  # the page count is its own string
    assert postmortem.export_pdf(db, incident_id).startswith(b"%PDF-")  # compressed


def test_pdf_with_core_fonts_replaces_what_latin1_lacks() -> None:
    text = "# Café → “quoted” 日本\n\n- **bold** item\n\n| a | b |\n| --- | --- |\n| 1 | ✓ |\n"
    data = markdown_to_pdf(text, title="t", compress=False, fonts_dir=Path("/nonexistent"))
    lines = pdf_text(data)
    assert 'Café -> "quoted" ??' in lines
    assert "bold" in lines and "v" in lines


# -- the API -------------------------------------------------------------------------------


def seed(ctx: AppContext, title: str = "Disk full on db-1") -> int:
    with ctx.sessions() as db:
        return make_incident(db, title)


def is_problem(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = resp.json()
    return body


def fields(problem: dict[str, object]) -> list[str]:
    errors = problem.get("errors")
    assert isinstance(errors, list)
    return [e["field"] for e in errors]


def test_api_postmortem_lifecycle_roles_and_problems(ctx: AppContext, sign_in: SignIn) -> None:
    incident_id = seed(ctx, UNICODE_TITLE)
    viewer, responder = sign_in("vera", "viewer"), sign_in("rita", "responder")
    base = f"/api/v1/incidents/{incident_id}/postmortem"
    is_problem(viewer.get(base), 404)
    is_problem(viewer.post(base), 403)
    is_problem(responder.post("/api/v1/incidents/999999/postmortem"), 404)

    created = responder.post(base)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft"
    assert "| 2026-01-05 10:04:10 | alice | Acknowledged |" in created.json()["body"]
    is_problem(responder.post(base), 409)

    got = viewer.get(base).json()
    assert got["incident_title"] == UNICODE_TITLE and got["pdf_url"] == f"{base}.pdf"
    is_problem(viewer.put(base, json={"body": "x"}), 403)
    saved = responder.put(base, json={"body": got["body"] + "\nDone.", "status": "published"})
    assert saved.status_code == 200, saved.text
    assert (saved.json()["status"], saved.json()["updated_by"]) == ("published", "rita")

    too_big = is_problem(responder.put(base, json={"body": "x" * 200_001}), 422)
    assert fields(too_big) == ["body"]
    assert "200,000 bytes" in str(too_big["errors"])
    assert fields(is_problem(responder.put(base, json={"body": "x", "status": "final"}), 422)) == [
        "body.status"
    ]
    assert fields(is_problem(responder.put(base, json={"status": "draft"}), 422)) == ["body.body"]
    assert viewer.get(base).json()["body"].endswith("Done.")  # nothing lost

    md = viewer.get(f"{base}.md")
    assert md.status_code == 200
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.headers["content-disposition"] == (
        f'attachment; filename="incident-{incident_id}-postmortem.md"'
    )
    assert md.text.startswith(f"# Postmortem: {UNICODE_TITLE}\n")
    pdf = viewer.get(f"{base}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert pdf.content.startswith(b"%PDF-")
    is_problem(viewer.get("/api/v1/incidents/999999/postmortem.pdf"), 404)


def test_api_action_items(ctx: AppContext, sign_in: SignIn) -> None:
    first, second = seed(ctx), seed(ctx, "API latency")
    viewer, responder = sign_in("vera", "viewer"), sign_in("rita", "responder")
    items = f"/api/v1/incidents/{first}/action-items"
    is_problem(viewer.post(items, json={"title": "x"}), 403)
    assert fields(is_problem(responder.post(items, json={"owner": "a"}), 422)) == ["body.title"]
    assert fields(is_problem(responder.post(items, json={"title": "x", "due": "soon"}), 422)) == [
        "body.due"
    ]
    assert fields(is_problem(responder.post(items, json={"title": " "}), 422)) == ["title"]
    assert fields(is_problem(responder.post(items, json={"title": "x", "color": 1}), 422)) == [
        "body.color"
    ]

    late = responder.post(items, json={"title": "Alert at 80%", "owner": "al", "due": "2020-01-01"})
    assert late.status_code == 201, late.text
    assert late.json()["overdue"] is True and late.json()["due"] == "2020-01-01"
    later = responder.post(
        f"/api/v1/incidents/{second}/action-items", json={"title": "Replica", "due": "2999-01-01"}
    ).json()
    plain = responder.post(items, json={"title": "Runbook"}).json()
    listed = viewer.get("/api/v1/action-items", params={"open": "true"}).json()
    assert [i["id"] for i in listed] == [late.json()["id"], later["id"], plain["id"]]
    assert listed[1]["incident_title"] == "API latency"

    item = f"{items}/{late.json()['id']}"
    is_problem(viewer.patch(item, json={"done": True}), 403)
    patched = responder.patch(item, json={"done": True, "due": None, "owner": "bo"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["done"], patched.json()["due"], patched.json()["owner"]) == (
        True,
        None,
        "bo",
    )
    assert fields(is_problem(responder.patch(item, json={"title": None}), 422)) == ["title"]
    is_problem(responder.patch(f"{items}/{later['id']}", json={"done": True}), 404)
    open_ids = [i["id"] for i in viewer.get("/api/v1/action-items").json()]
    assert late.json()["id"] not in open_ids and len(open_ids) == 2
    everything = viewer.get("/api/v1/action-items", params={"open": "false"}).json()
    assert len(everything) == 3
    assert fields(is_problem(viewer.get("/api/v1/action-items?open=maybe"), 422)) == ["query.open"]
    assert [i["title"] for i in viewer.get(items).json()] == ["Alert at 80%", "Runbook"]


# -- the pages -----------------------------------------------------------------------------


def test_editor_pages_draft_save_preview_and_items(ctx: AppContext, sign_in: SignIn) -> None:
    incident_id = seed(ctx)
    page = f"/incidents/{incident_id}/postmortem"
    viewer, responder = sign_in("vera", "viewer"), sign_in("rita", "responder")
    assert "Drafting a postmortem needs the responder role" in viewer.get(page).text
    assert "Draft the postmortem" in responder.get(page).text
    token = form_token(responder, page)
    drafted = responder.post(page, data={"csrf_token": token})
    assert drafted.status_code == 303 and drafted.headers["location"].endswith("?done=drafted")
    editor = responder.get(page).text
    assert 'id="pm-body"' in editor and "Publish" in editor
    assert "<td>2026-01-05 10:04:10</td>" in editor  # the preview shows the timeline table

    # Raw HTML in the text is shown as text, never run.
    preview = responder.post(
        f"{page}/preview", data={"body": "## Hi\n\n<script>alert(1)</script> **b**"}
    )
    assert preview.status_code == 200
    assert "&lt;script&gt;" in preview.text and "<script>" not in preview.text
    assert "<strong>b</strong>" in preview.text

    too_big = responder.post(
        f"{page}/save", data={"body": "y" * 200_001, "action": "save", "csrf_token": token}
    )
    assert too_big.status_code == 422
    assert "200,000 bytes" in too_big.text and "y" * 1000 in too_big.text  # text kept
    published = responder.post(
        f"{page}/save", data={"body": "# Mine\n", "action": "publish", "csrf_token": token}
    )
    assert published.status_code == 303
    assert "Mine" in responder.get(page).text and "pm-published" in responder.get(page).text
    viewer_save = viewer.post(f"{page}/save", data={"body": "x", "csrf_token": token})
    assert viewer_save.status_code == 403

    added = responder.post(
        f"/incidents/{incident_id}/action-items",
        data={"title": "Alert at 80%", "owner": "al", "due": "2020-01-01", "csrf_token": token},
    )
    assert added.status_code == 303
    bad_day = responder.post(
        f"/incidents/{incident_id}/action-items",
        data={"title": "x", "due": "someday", "csrf_token": token},
    )
    assert bad_day.status_code == 422 and "is not a day" in bad_day.text
    actions = viewer.get("/incidents/actions").text
    assert "Alert at 80%" in actions and "overdue" in actions
    with ctx.sessions() as db:
        item_id = postmortem.open_items(db)[0].id
    done = responder.post(
        f"/incidents/{incident_id}/action-items/{item_id}/done?back=actions",
        data={"done": "1", "csrf_token": token},
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/incidents/actions")
    assert "No open action items" in viewer.get("/incidents/actions").text
    # htmx gets the page back (it swaps the items section) and a trigger for the preview.
    undone = responder.post(
        f"/incidents/{incident_id}/action-items/{item_id}/done",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert undone.status_code == 200 and undone.headers["hx-trigger"] == "items-changed"
    assert 'id="action-items"' in undone.text


def test_a_table_too_wide_for_a_pdf_page_is_a_clear_error(db: Session) -> None:
    incident_id = make_incident(db)
    postmortem.draft(db, incident_id, ALICE)
    cols = range(60)
    table = "|" + "|".join(f"c{i}" for i in cols) + "|\n|" + "|".join("-" for _ in cols) + "|\n"
    postmortem.save(db, incident_id, "# Postmortem\n\n" + table, ALICE)
    db.commit()
    with pytest.raises(ValidationFailed) as caught:
        postmortem.export_pdf(db, incident_id)
    assert caught.value.errors[0][0] == "body"
    assert "Markdown" in caught.value.errors[0][1]
