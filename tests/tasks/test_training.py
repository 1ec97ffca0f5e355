"""Training records: who must attend what (everyone, a team, a role, an on-call schedule),
each standing (current, expiring, expired, missing) at a fixed time, the evidence query
``trainings_current`` red when an on-call member's training expired and green once they
attend again, the onboarding checklist, the plan's errors, the API and the CLI."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.tasks.support import apply_tasks
from tests.test_silence_cli import clean_environment, run, store_env  # noqa: F401
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.teams import add_member, create_team
from watchkeeper.auth.users import create_user
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.compliance.evidence import registry
from watchkeeper.tasks.training import NewSession, list_sessions, record_session
from watchkeeper.tasks.training_status import matrix, onboarding

SignIn = Callable[..., httpx.Client]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ME = Actor("trainer")
PLAN = """
oncall:
  people: [{name: alice}, {name: pager-only}]
  schedules:
    - name: primary
      layers: [{members: [alice, pager-only]}]
tasks:
  trainings:
    - name: security-awareness
      title: Security awareness
      required_for: [everyone]
      valid_for: 365d
    - name: incident-handling
      title: Incident handling
      required_for: ["oncall:primary"]
      valid_for: 365d
      material: https://wiki.example.com/incident-training
    - name: backup-restore
      title: Restoring a backup
      required_for: ["team:platform", "role:admin"]
"""


def setup(db: Session) -> None:
    for name, role in (("alice", "responder"), ("bob", "operator"), ("carol", "admin")):
        create_user(db, name, "correct horse battery staple", role)
    create_team(db, ME, "platform")
    add_member(db, ME, "platform", "bob")
    db.commit()
    apply_tasks(db, PLAN)


def attend(db: Session, course: str, day: date, *people: str) -> None:
    record_session(db, ME, NewSession(course, day, people, trainer="Tess"))
    db.commit()


def test_who_must_attend_and_where_each_stands(db: Session) -> None:
    setup(db)
    attend(db, "security-awareness", date(2025, 5, 1), "alice", "bob")  # expired 2026-05-01
    attend(db, "security-awareness", date(2025, 6, 20), "carol")  # expires within 30 days
    attend(db, "incident-handling", date(2026, 2, 1), "alice")
    attend(db, "backup-restore", date(2020, 1, 1), "bob")  # valid for good
    found = matrix(db, NOW)
    assert [p.name for p in found.people] == ["alice", "bob", "carol", "pager-only"]
    state = {
        (p, t): (c.state if c else None) for p, row in found.cells.items() for t, c in row.items()
    }
    assert state == {
        ("alice", "security-awareness"): "expired",
        ("alice", "incident-handling"): "current",
        ("alice", "backup-restore"): None,
        ("bob", "security-awareness"): "expired",
        ("bob", "incident-handling"): None,
        ("bob", "backup-restore"): "current",
        ("carol", "security-awareness"): "expiring",
        ("carol", "incident-handling"): None,
        ("carol", "backup-restore"): "missing",  # role:admin
        ("pager-only", "security-awareness"): "missing",
        ("pager-only", "incident-handling"): "missing",
        ("pager-only", "backup-restore"): None,
    }
    carol = found.cells["carol"]["security-awareness"]
    assert carol is not None and carol.expires == date(2026, 6, 20)
    assert (found.count("expired"), found.count("missing"), found.count("expiring")) == (2, 3, 1)
    # the latest session counts
    attend(db, "security-awareness", date(2026, 5, 30), "alice")
    again = matrix(db, NOW).cells["alice"]["security-awareness"]
    assert again is not None and again.state == "current" and again.expires == date(2027, 5, 30)
    assert [s.held_on for s in list_sessions(db, person="alice")] == [
        date(2026, 5, 30),
        date(2026, 2, 1),
        date(2025, 5, 1),
    ]


def test_oncall_training_evidence_turns_red_when_one_expired(db: Session) -> None:
    setup(db)
    query = registry.get("trainings_current")
    assert query is not None
    params = {"training": "incident-handling", "schedules": ["primary"], "within": "365d"}
    attend(db, "incident-handling", date(2025, 9, 1), "alice", "pager-only")
    green = query.evaluate(db, params, NOW)
    assert green.status == "pass"
    assert green.summary == ("Trained in the last 365d (on-call primary): 2 of 2 person-trainings.")
    later = datetime(2026, 9, 2, tzinfo=UTC)  # pager-only's session is over a year old
    attend(db, "incident-handling", date(2026, 8, 1), "alice")
    red = query.evaluate(db, params, later)
    assert red.status == "fail"
    assert [(f.subject, f.status, f.detail) for f in red.facts] == [
        ("alice: Incident handling", "pass", "attended 2026-08-01"),
        ("pager-only: Incident handling", "fail", "last attended 2025-09-01"),
    ]
    assert red.summary.endswith("; not: pager-only: Incident handling.")
    unknown = query.evaluate(db, {"training": "nothing-*"}, NOW)
    assert unknown.status == "unknown"


def test_onboarding_follows_teams_roles_and_schedules(db: Session) -> None:
    setup(db)
    attend(db, "security-awareness", date(2026, 5, 1), "bob")
    bob = onboarding(db, "bob", NOW)
    assert [(s.text, s.done, s.detail) for s in bob.steps] == [
        ("Attend “Security awareness”", True, "attended 2026-05-01, expires 2027-05-01"),
        ("Attend “Restoring a backup”", False, "not attended yet"),
    ]
    assert bob.left == 1
    pager = onboarding(db, "pager-only", NOW)
    assert [s.text for s in pager.steps] == [
        "Attend “Security awareness”",
        "Attend “Incident handling”",
        "Add contact rules to oncall.people (on call in primary)",
    ]
    assert pager.steps[1].link == "https://wiki.example.com/incident-training"


def test_bad_sessions_and_plans_are_refused(db: Session) -> None:
    setup(db)
    with pytest.raises(ValidationFailed) as bad:
        new = NewSession("Bad Course", date(2026, 1, 1), ["ok", "a b"], material_url="x")
        record_session(db, ME, new)
    assert [f for f, _ in bad.value.errors] == ["course", "material_url", "attendees"]
    plan = """
    tasks:
      trainings:
        - name: x
          title: X
          required_for: [team:platform, boss:me]
          valid_for: 2h
    """
    with pytest.raises(PlanInvalid) as err:
        load_plan_text(textwrap.dedent(plan), env={})
    text = str(err.value)
    assert "tasks.trainings[0].required_for" in text and '"boss:me"' in text
    assert "tasks.trainings[0].valid_for" in text and "at least 1d" in text


def test_api_records_sessions_and_shows_the_matrix(ctx: AppContext, sign_in: SignIn) -> None:
    with ctx.sessions() as db:
        setup(db)
    viewer = sign_in("vic", "viewer")
    operator = sign_in("olga", "operator")
    body = {"course": "incident-handling", "held_on": "2026-02-01", "attendees": ["alice"]}
    assert viewer.post("/api/v1/training/sessions", json=body).status_code == 403
    made = operator.post("/api/v1/training/sessions", json={**body, "trainer": "Tess"})
    assert made.status_code == 201, made.text
    session = made.json()
    assert session["title"] == "Incident handling" and session["attendees"] == ["alice"]
    bad = operator.post(
        "/api/v1/training/sessions", json={**body, "attendees": ["a b"], "course": "X"}
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"course", "attendees"}
    shown = viewer.get("/api/v1/training").json()
    alice = next(p for p in shown["people"] if p["name"] == "alice")
    assert alice["standings"]["incident-handling"]["attended"] == "2026-02-01"
    assert alice["standings"]["backup-restore"] is None
    assert viewer.get("/api/v1/training/onboarding/pager-only").json()["left"] == 3
    assert viewer.get("/api/v1/training/onboarding/nobody").status_code == 404
    listed = viewer.get("/api/v1/training/sessions", params={"person": "alice"}).json()
    assert [s["id"] for s in listed] == [session["id"]]
    assert operator.delete(f"/api/v1/training/sessions/{session['id']}").status_code == 204
    assert viewer.get(f"/api/v1/training/sessions/{session['id']}").status_code == 404
    page = viewer.get("/training")
    assert page.status_code == 200 and "Incident handling" in page.text
    assert 'class="cell missing"' in page.text
    assert "Record a session" not in page.text  # viewers do not get the form
    assert viewer.get("/training/people/alice").status_code == 200


def test_cli_status_record_and_onboarding(
    store_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text("version: 1\n" + PLAN)
    assert run(store_env, "plan", "apply", str(plan)).exit_code == 0
    status = run(store_env, "training", "status")
    assert status.exit_code == 1 and "expired or missing" in status.stdout
    made = run(
        store_env,
        "training",
        "record",
        "incident-handling",
        "--date",
        "2026-02-01",
        "-a",
        "alice",
        "-a",
        "pager-only",
    )
    assert made.exit_code == 0, made.output
    assert "Incident handling on 2026-02-01 (2 attendee(s))" in made.stdout
    assert "alice, pager-only" in run(store_env, "training", "sessions").stdout
    wrong = run(store_env, "training", "record", "x", "--date", "soon", "-a", "alice")
    assert wrong.exit_code == 1 and '--date "soon"' in wrong.stderr
    shown = run(store_env, "training", "onboarding", "pager-only")
    assert "Incident handling" in shown.stdout and shown.exit_code == 1
    assert run(store_env, "training", "onboarding", "ghost").exit_code == 1
