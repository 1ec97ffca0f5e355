"""The emergency directory, procedures and the escalation policy editor: the domain functions
over a stored plan, and the pages on a real server (form posts as a browser sends them)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.alerts.alert_rows import add_alert
from tests.conftest import form_token
from tests.incidents.directory_plan import PLAN, apply
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.incidents import directory, policies
from watchkeeper.incidents.oncall_config import EscalationPolicy
from watchkeeper.plan import catalog
from watchkeeper.runtime.context import AppContext

SignIn = Callable[..., httpx.Client]
BASE = "/incidents/escalation-policies"


# -- the directory and procedures ---------------------------------------------------------------


def test_directory_groups_contacts_by_kind_and_orders_contact_rules(db: Session) -> None:
    apply(db)
    found = directory.directory(db)
    assert [(g.kind, [c.name for c in g.contacts]) for g in found.groups] == [
        ("person", ["cto"]),
        ("vendor", ["shady"]),
        ("provider", ["hoster"]),
        ("authority", ["dpa"]),
    ]
    assert [c.name for c in found.stakeholders] == ["cto", "dpa"]
    alice = found.people[0]
    assert alice.person.name == "alice"
    # Rules in the order they fire: at once before "after 2m", whatever the plan's order.
    assert [(r.channel, r.after) for r in alice.rules] == [
        ("ops-hook", timedelta(0)),
        ("chat", timedelta(minutes=2)),
    ]
    assert [p.name for p in found.procedures] == ["db-failover", "disk-full"]


def test_empty_store_has_an_empty_directory(db: Session) -> None:
    found = directory.directory(db)
    assert found.empty and found.stakeholders == []


@pytest.mark.parametrize(
    ("alertname", "services", "expected"),
    [
        ("PostgresDown", [], ["db-failover"]),  # glob on the alert name
        ("DiskFull", [], ["disk-full"]),
        ("DiskFullSoon", [], []),  # "DiskFull" is not a prefix glob
        ("HighCPU", ["shop-db"], ["db-failover"]),  # by service
        ("PostgresLag", ["shop-db"], ["db-failover"]),  # both: listed once
        ("HighCPU", ["web", ""], []),
        ("", [], []),
    ],
)
def test_procedures_for_matches_alert_globs_or_services(
    db: Session, alertname: str, services: list[str], expected: list[str]
) -> None:
    apply(db)
    assert [p.name for p in directory.procedures_for(db, alertname, services)] == expected


def test_procedures_for_an_alert_use_the_service_label_the_plan_names(db: Session) -> None:
    apply(db)
    labels = {"service": "shop-db", "component": "shop-db"}
    assert [p.name for p in directory.procedures_for_alert(db, "X", labels)] == ["db-failover"]
    apply(db, _with_service_label("component"))
    assert [p.name for p in directory.procedures_for_alert(db, "X", {"service": "shop-db"})] == []
    assert [p.name for p in directory.procedures_for_alert(db, "X", labels)] == ["db-failover"]


def _with_service_label(label: str) -> str:
    return PLAN.replace("incidents:\n", f"incidents:\n  service_label: {label}\n", 1)


def test_get_procedure_or_not_found(db: Session) -> None:
    apply(db)
    assert directory.get_procedure(db, "disk-full").title == "Free disk space"
    with pytest.raises(NotFoundError, match='no emergency procedure is named "nope"'):
        directory.get_procedure(db, "nope")


def test_directory_page_shows_contacts_people_and_procedures(
    ctx: AppContext, sign_in: SignIn
) -> None:
    with ctx.sessions() as db:
        apply(db)
    page = sign_in("vera", "viewer").get("/incidents/directory")
    assert page.status_code == 200
    text = page.text
    assert 'href="tel:+49309831505-0"' not in text  # digits only, no punctuation
    assert 'href="tel:+4998315050"' in text and ">+49 (9831) 505-0</a>" in text
    assert 'href="mailto:breach@dpa.example"' in text
    assert 'href="https://www.hetzner.com/support"' in text
    assert "javascript:" not in text.replace("javascript:alert(1)</dd>", "")  # shown, not linked
    assert "Personal data breach, within 72 hours" in text
    assert "stakeholder</span>" in text
    assert re.search(r"declaring one notifies\s*<a href=\"#contact-cto\">cto</a>", text)
    assert '<span class="chip">ops-hook</span> <span class="small">cto@example.com</span>' in text
    # Alice's rules in firing order, with their delays.
    alice = text[text.index('id="person-alice"') :]
    assert alice.index("ops-hook") < alice.index("chat") < alice.index("after 2m")
    assert "at once" in alice
    assert 'href="/incidents/procedures/db-failover">Fail over the database</a>' in text
    assert '<li class="chip">Postgres*</li>' in text
    assert "New contact" not in text  # viewers do not create


def test_procedure_page_renders_markdown_with_html_escaped(
    ctx: AppContext, sign_in: SignIn
) -> None:
    with ctx.sessions() as db:
        apply(db)
    vera = sign_in("vera", "viewer")
    page = vera.get("/incidents/procedures/db-failover").text
    assert "<h2>Before you start</h2>" in page
    assert "<strong>replication lag</strong>" in page
    assert "<code>patronictl failover</code>" in page
    assert '<li class="chip">shop-db</li>' in page
    assert "managed by plan" in page
    unsafe = vera.get("/incidents/procedures/disk-full").text
    assert "<script>alert(" not in unsafe
    assert "&lt;script&gt;alert(" in unsafe
    missing = vera.get("/incidents/procedures/nope", headers={"Accept": "application/json"})
    assert missing.status_code == 404
    assert "no emergency procedure" in missing.text


def test_alert_page_lists_the_matching_procedures(ctx: AppContext, sign_in: SignIn) -> None:
    with ctx.sessions() as db:
        apply(db)
        pg = add_alert(db, "PostgresReplicationLag", labels={"instance": "db-1"}).id
        cpu = add_alert(db, "HighCPU", labels={"service": "shop-db"}).id
        other = add_alert(db, "HighCPU", labels={"service": "web"}).id
        db.commit()
    vera = sign_in("vera", "viewer")
    for alert_id in (pg, cpu):
        page = vera.get(f"/alerts/{alert_id}").text
        assert "Emergency procedures" in page
        assert 'href="/incidents/procedures/db-failover"' in page
        assert "disk-full" not in page
    assert "Emergency procedures" not in vera.get(f"/alerts/{other}").text


# -- escalation policies: the domain ------------------------------------------------------------


def _policy(**changes: object) -> EscalationPolicy:
    spec: dict[str, object] = {
        "name": "p",
        "steps": [
            {"notify": [{"schedule": "primary"}, {"person": "carol"}], "escalate_after": "10m"},
            {"notify": [{"channel": "chat"}], "escalate_after": "30m"},
        ],
        "repeat": 2,
    }
    spec.update(changes)
    return EscalationPolicy.model_validate(spec)


def test_policies_are_described_in_words() -> None:
    assert policies.describe(_policy()) == [
        "Step 1: page on-call of primary and carol",
        "after 10m: step 2: page channel chat",
        "after 30m: start again from step 1 (2 more times)",
    ]
    people = {"carol": "Carol Ng"}
    one = _policy(
        steps=[{"notify": [{"person": "carol"}, {"person": "x"}, {"schedule": "s"}]}], repeat=0
    )
    assert policies.summary(one, people) == (
        "Step 1: page Carol Ng, x and on-call of s; after 10m: stop (nobody else is paged)"
    )
    assert policies.describe(_policy(repeat=1))[-1].endswith("(1 more time)")


def test_references_to_missing_targets_are_found(db: Session) -> None:
    apply(db)
    spec = {
        "name": "x",
        "steps": [
            {"notify": [{"schedule": "primary"}, {"schedule": "tertiary"}]},
            {"notify": [{"person": "bob"}, {"channel": "pager"}, {"person": "alice"}]},
        ],
    }
    assert policies.check_references(spec, policies.choices(db)) == [
        (
            "steps[0].notify[1].schedule",
            'no on-call schedule is named "tertiary" (oncall.schedules)',
        ),
        ("steps[1].notify[0].person", 'no person is named "bob" (oncall.people)'),
        (
            "steps[1].notify[1].channel",
            'no notification channel is named "pager" (notifications.channels)',
        ),
    ]
    assert policies.check_references({"steps": "junk"}, policies.choices(db)) == []


def test_saving_a_policy_checks_the_model_and_the_references_at_once(db: Session) -> None:
    apply(db)
    bad = {
        "name": "night",
        "steps": [{"notify": [{"schedule": "nope"}], "escalate_after": "5x"}],
        "repeat": 11,
    }
    with pytest.raises(ValidationFailed) as info:
        policies.save_policy(db, bad, Actor("olga"))
    assert dict(info.value.errors) == {
        "steps[0].escalate_after": '"5x" is not a duration (use 30s, 5m, 2h)',
        "repeat": "input should be less than or equal to 10 (got 11)",
        "steps[0].notify[0].schedule": 'no on-call schedule is named "nope" (oncall.schedules)',
    }
    good = {"name": "night", "steps": [{"notify": [{"schedule": "secondary"}]}]}
    view = policies.save_policy(db, good, Actor("olga"))
    db.commit()
    assert not view.managed and view.updated_by == "olga"
    good["repeat"] = 3
    policies.save_policy(db, good, Actor("olga"), name="night")
    db.commit()
    assert catalog.get_object(db, policies.KIND, "night").spec["repeat"] == 3
    with pytest.raises(ConflictError, match="already exists"):
        policies.save_policy(db, good, Actor("olga"))
    with pytest.raises(ConflictError, match="managed by the plan file"):
        policies.save_policy(db, {**good, "name": "default"}, Actor("olga"), name="default")
    with pytest.raises(NotFoundError):
        policies.save_policy(db, good, Actor("olga"), name="ghost")
    rows = {r.view.name: r for r in policies.list_policies(db)}
    assert rows["default"].view.managed
    assert rows["default"].summary == (
        "Step 1: page on-call of primary; after 5m: stop (nobody else is paged)"
    )
    assert rows["night"].summary.endswith("start again from step 1 (3 more times)")


# -- escalation policies: the pages -------------------------------------------------------------


def _form(token: str, name: str, steps: list[tuple[list[str], str]], repeat: str = "0") -> dict:
    data: dict[str, object] = {"csrf_token": token, "name": name, "repeat": repeat}
    for i, (targets, after) in enumerate(steps):
        data[f"step-{i}-target"] = targets
        data[f"step-{i}-after"] = after
    return data


def test_operator_creates_and_edits_a_policy_through_the_form(
    ctx: AppContext, sign_in: SignIn
) -> None:
    with ctx.sessions() as db:
        apply(db)
    olga = sign_in("olga", "operator")
    token = form_token(olga, f"{BASE}/new")
    form = olga.get(f"{BASE}/new").text
    assert '<option value="schedule:primary">on-call of primary</option>' in form
    assert 'data-label="Alice Example">Alice Example (alice)</option>' in form
    assert '<option value="channel:chat">channel chat</option>' in form
    data = _form(
        token,
        "night",
        [(["schedule:primary", "person:carol"], "10m"), (["channel:chat"], "30m")],
        repeat="2",
    )
    resp = olga.post(f"{BASE}/new", data=data)
    assert resp.status_code == 303 and resp.headers["location"] == f"{BASE}/night?done=created"
    with ctx.sessions() as db:
        stored = catalog.get_object(db, policies.KIND, "night")
    assert stored.spec["steps"][0]["notify"][0]["schedule"] == "primary"
    assert stored.spec["steps"][0]["notify"][1]["person"] == "carol"
    assert stored.spec["repeat"] == 2 and stored.updated_by == "olga"

    shown = olga.get(f"{BASE}/night?done=created").text
    assert "Escalation policy created." in shown
    assert "<li>Step 1: page on-call of primary and Carol Ng</li>" in shown
    assert "<li>after 30m: start again from step 1 (2 more times)</li>" in shown

    edit = olga.get(f"{BASE}/night/edit").text
    assert '<option value="person:carol" data-label="Carol Ng" selected>' in edit
    assert 'name="step-1-after" value="30m"' in edit
    assert "<li>after 10m: step 2: page channel chat</li>" in edit  # the server's preview
    data = _form(token, "ignored", [(["channel:ops-hook"], "1h")])
    resp = olga.post(f"{BASE}/night/edit", data=data)
    assert resp.status_code == 303 and resp.headers["location"] == f"{BASE}/night?done=saved"
    with ctx.sessions() as db:
        stored = catalog.get_object(db, policies.KIND, "night")
    assert stored.spec["steps"] == [
        {
            "notify": [{"schedule": None, "person": None, "channel": "ops-hook"}],
            "escalate_after": "1h",
        }
    ]
    listing = olga.get(BASE).text
    assert 'href="/incidents/escalation-policies/night">night</a>' in listing
    assert "Step 1: page channel ops-hook; after 1h: stop" in listing
    assert "managed by plan" in listing  # "default" from the plan


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_saved(
    ctx: AppContext, sign_in: SignIn
) -> None:
    with ctx.sessions() as db:
        apply(db)
    olga = sign_in("olga", "operator")
    token = form_token(olga, f"{BASE}/new")
    data = _form(
        token,
        "-bad",
        [(["schedule:ghost", "person:carol"], "5x"), ([""], "10m"), (["pager:x"], "")],
        repeat="12",
    )
    resp = olga.post(f"{BASE}/new", data=data)
    assert resp.status_code == 422
    page = html.unescape(resp.text)
    summary = page[page.index("Not saved:") : page.index("</ul>", page.index("Not saved:"))]
    for expected in [
        'Name: "-bad" is not a valid name',
        'Step 1, target 1: no on-call schedule is named "ghost" (oncall.schedules)',
        'Step 1, escalate after: "5x" is not a duration',
        "Step 2, targets: choose at least one target",
        "Step 3, target 1: choose a schedule, a person or a channel",
        "Repeat: input should be less than or equal to 10",
    ]:
        assert expected in summary, summary
    # Next to the fields: the missing schedule is kept selected and marked.
    assert (
        '<option value="schedule:ghost" selected data-label="ghost">ghost (no such schedule)'
        in page
    )
    target = page[page.index('aria-label="Step 1, target 1"') :]
    assert target.index('no on-call schedule is named "ghost"') < target.index("Step 1, target 2")
    after = page[page.index('name="step-0-after"') :]
    assert after.index('class="field-error">"5x" is not a duration') < after.index("Step 2")
    with ctx.sessions() as db:
        assert [o.name for o in catalog.list_objects(db, policies.KIND)] == ["default"]


def test_a_taken_name_is_refused_and_plan_policies_are_read_only(
    ctx: AppContext, sign_in: SignIn
) -> None:
    with ctx.sessions() as db:
        apply(db)
    olga = sign_in("olga", "operator")
    token = form_token(olga, f"{BASE}/new")
    taken = olga.post(f"{BASE}/new", data=_form(token, "default", [(["channel:chat"], "5m")]))
    assert taken.status_code == 409
    assert "already exists" in taken.text
    edit = olga.get(f"{BASE}/default/edit", follow_redirects=False)
    assert edit.status_code == 303 and edit.headers["location"] == f"{BASE}/default"
    view = olga.get(f"{BASE}/default").text
    assert "comes from the plan file and is read-only here" in view
    assert f'href="{BASE}/default/edit"' not in view
    refused = olga.post(f"{BASE}/default/edit", data=_form(token, "", [(["channel:chat"], "5m")]))
    assert refused.status_code == 409 and "managed by the plan file" in refused.text
    with ctx.sessions() as db:
        assert catalog.get_object(db, policies.KIND, "default").spec["steps"][0]["notify"] == [
            {"schedule": "primary", "person": None, "channel": None}
        ]
    assert olga.get(f"{BASE}/ghost/edit").status_code == 404
    assert olga.post(f"{BASE}/ghost/edit", data=_form(token, "", [])).status_code == 404


def test_a_stored_policy_with_a_missing_target_is_flagged(ctx: AppContext, sign_in: SignIn) -> None:
    with ctx.sessions() as db:
        apply(db)
        catalog.create_object(
            db,
            policies.KIND,
            {"name": "stale", "steps": [{"notify": [{"schedule": "retired"}]}]},
            Actor("api"),
        )
        db.commit()
    vera = sign_in("vera", "viewer")
    page = html.unescape(vera.get(f"{BASE}/stale").text)
    assert "Pages nobody at some steps" in page
    assert 'no on-call schedule is named "retired"' in page
    assert f'href="{BASE}/stale/edit"' not in page  # viewers do not edit


def test_viewers_see_policies_but_cannot_edit_and_forms_need_csrf(
    ctx: AppContext, sign_in: SignIn
) -> None:
    with ctx.sessions() as db:
        apply(db)
    vera = sign_in("vera", "viewer")
    listing = vera.get(BASE)
    assert listing.status_code == 200 and "New policy" not in listing.text
    assert vera.get(f"{BASE}/new").status_code == 403
    olga = sign_in("olga", "operator")
    del olga.headers["X-CSRF-Token"]
    data = _form("wrong", "night", [(["channel:chat"], "5m")])
    assert olga.post(f"{BASE}/new", data=data).status_code == 403
