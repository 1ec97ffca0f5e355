"""Creating, editing and deleting UI-made objects through the web forms."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import form_token, login, make_user, remember_secret
from tests.helpers import LiveServer
from watchkeeper.logging_setup import MASK
from watchkeeper.plan import catalog
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext

CHECK = "name: cache\ntype: tcp\nhost: 127.0.0.1\nport: 6379\n"


@pytest.fixture
def operator(ctx: AppContext, server: LiveServer) -> Iterator[httpx.Client]:
    make_user(ctx, "olivia", "operator")
    client = login(server.url, "olivia")
    client.headers.pop("X-CSRF-Token")  # forms carry the token in a field
    try:
        yield client
    finally:
        client.close()


def create(client: httpx.Client, text: str) -> httpx.Response:
    token = form_token(client, "/objects/checks/new")
    return client.post("/objects/checks/new", data={"spec": text, "csrf_token": token})


def test_operator_creates_a_check_from_yaml(operator: httpx.Client) -> None:
    resp = create(operator, CHECK)
    assert resp.status_code == 303 and resp.headers["location"] == "/objects/checks/cache"
    page = operator.get("/objects/checks/cache").text
    assert "made in UI" in page and "port: 6379" in page and "Edit" in page
    assert "cache" in operator.get("/checks").text
    api = operator.get("/api/v1/objects/checks/cache").json()
    assert api["managed"] is False and api["spec"]["port"] == 6379


def test_yaml_syntax_error_names_the_line(operator: httpx.Client) -> None:
    resp = create(operator, "name: cache\ntype: [tcp\n")
    assert resp.status_code == 422
    assert re.search(r"line \d+: YAML syntax error", resp.text)
    assert "name: cache" in resp.text  # what was typed is kept


def test_invalid_object_lists_fields_and_keeps_the_text(operator: httpx.Client) -> None:
    resp = create(operator, "name: cache\ntype: tcp\nhost: h\nport: 70000\n")
    assert resp.status_code == 422
    assert "port" in resp.text and "65535" in resp.text
    assert "port: 70000" in resp.text
    assert operator.get("/api/v1/objects/checks/cache").status_code == 404


def test_edit_and_delete_a_ui_made_object(operator: httpx.Client) -> None:
    create(operator, CHECK)
    token = form_token(operator, "/objects/checks/cache/edit")
    edit = operator.get("/objects/checks/cache/edit").text
    assert "port: 6379" in edit and "recover_after" not in edit  # defaults left out
    resp = operator.post(
        "/objects/checks/cache/edit",
        data={"spec": CHECK.replace("6379", "6380"), "csrf_token": token},
    )
    assert resp.status_code == 303
    assert operator.get("/api/v1/objects/checks/cache").json()["spec"]["port"] == 6380

    renamed = operator.post(
        "/objects/checks/cache/edit",
        data={"spec": CHECK.replace("cache", "other"), "csrf_token": token},
    )
    assert renamed.status_code == 422 and "cannot be changed" in renamed.text

    resp = operator.post("/objects/checks/cache/delete", data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["location"] == "/checks"
    assert operator.get("/api/v1/objects/checks/cache").status_code == 404


def test_plan_managed_objects_have_no_edit_controls(
    operator: httpx.Client, ctx: AppContext
) -> None:
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text("checks:\n  - {name: db, type: tcp, host: h, port: 1}\n"))
        db.commit()
    page = operator.get("/objects/checks/db").text
    assert "managed by plan" in page and "/objects/checks/db/edit" not in page
    assert operator.get("/objects/checks/db/edit").headers["location"] == "/objects/checks/db"
    token = form_token(operator, "/objects/checks/new")
    resp = operator.post(
        "/objects/checks/db/edit", data={"spec": "name: db\n", "csrf_token": token}
    )
    assert resp.status_code == 409
    resp = operator.post("/objects/checks/db/delete", data={"csrf_token": token})
    assert resp.status_code == 409


def test_form_without_csrf_token_is_refused(operator: httpx.Client) -> None:
    resp = operator.post("/objects/checks/new", data={"spec": CHECK})
    assert resp.status_code == 403


def test_viewer_cannot_open_or_post_the_editor(ctx: AppContext, server: LiveServer) -> None:
    make_user(ctx, "vic", "viewer")
    client = login(server.url, "vic")
    try:
        assert client.get("/objects/checks/new").status_code == 403
        assert "/objects/checks/new" not in client.get("/checks").text
        assert client.post("/objects/checks/new", data={"spec": CHECK}).status_code == 403
    finally:
        client.close()


def test_signed_out_visitor_is_sent_to_login(server: LiveServer) -> None:
    resp = httpx.get(f"{server.url}/objects/checks/new")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login?next=/objects/checks/new"


SECRET_CHECK = """\
name: orders-db
type: postgres
dsn: postgresql://monitor:{dsn_password}@127.0.0.1:5432/test
query: SELECT 1
expected: "1"
"""


def test_secrets_are_masked_when_shown_and_kept_when_the_masked_text_is_saved(
    ctx: AppContext, operator: httpx.Client
) -> None:
    password = remember_secret("dsn-pw-" + secrets.token_hex(8))
    token_value = remember_secret("tok-" + secrets.token_hex(8))
    assert create(operator, SECRET_CHECK.format(dsn_password=password)).status_code == 303
    shown = operator.get("/objects/checks/orders-db").text
    edit = operator.get("/objects/checks/orders-db/edit").text
    api = operator.get("/api/v1/objects/checks/orders-db").json()
    for text in (shown, edit, str(api)):
        assert password not in text and MASK in text

    # Saving the editor's text as shown (masks included) keeps the real password ...
    token = form_token(operator, "/objects/checks/orders-db/edit")
    masked_text = re.search(r"<textarea[^>]*>(.*?)</textarea>", edit, re.S)
    assert masked_text
    spec = html.unescape(masked_text.group(1)).replace("SELECT 1", "SELECT 2")
    saved = operator.post(
        "/objects/checks/orders-db/edit", data={"spec": spec, "csrf_token": token}
    )
    assert saved.status_code == 303, saved.text
    with ctx.sessions() as db:
        stored = catalog.get_object(db, "checks", "orders-db").spec
    assert stored["dsn"] == f"postgresql://monitor:{password}@127.0.0.1:5432/test"
    assert stored["query"] == "SELECT 2"

    # ... and a secret typed in replaces it; the API round trip works the same way.
    body = {**api["spec"], "password": token_value}
    put = operator.put(
        "/api/v1/objects/checks/orders-db",
        json=body,
        headers={"X-CSRF-Token": token},
    )
    assert put.status_code == 200, put.text
    assert put.json()["spec"]["password"] == MASK
    with ctx.sessions() as db:
        stored = catalog.get_object(db, "checks", "orders-db").spec
    assert stored["password"] == token_value and password in stored["dsn"]
