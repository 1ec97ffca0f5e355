"""Onboarding and knowledge pages in a real browser, light and dark: the first-run tour on
an empty plan (dismissed for good, per user, in this browser), the generated documents with
the architecture diagram, and a new team member's page. Screenshots land in
``test-artifacts/``."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_or_skip, signed_in_page
from tests.knowledge.generated_fixtures import seed
from watchkeeper.auth import teams
from watchkeeper.auth.audit import Actor
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"


def _server(tmp_path: Path, name: str, seeded: bool) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(
        load_settings(env={}, home=tmp_path / f"{name}-home", database_url=url), {}
    )
    make_user(ctx, "admin", "admin")
    if seeded:
        make_user(ctx, "alice", "responder")
        with ctx.sessions() as db:
            seed(db)
            teams.create_team(db, Actor("admin"), "data")
            teams.add_member(db, Actor("admin"), "data", "alice")
            db.commit()
    try:
        with LiveServer(create_app(ctx)) as server:
            yield server.url
    finally:
        ctx.close()


@pytest.fixture
def chromium() -> str:
    """Debian's chromium (the test is skipped without it, and fails under CI)."""
    return chromium_or_skip()


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[str]:
    yield from _server(tmp_path, "empty", seeded=False)


@pytest.fixture
def full(tmp_path: Path) -> Iterator[str]:
    yield from _server(tmp_path, "full", seeded=True)


def test_first_run_tour_and_its_dismissal(empty: str, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, empty, "admin", PASSWORD, problems)
        card = page.locator("#first-run-tour")
        expect(card).to_be_visible()
        expect(card.locator("li.todo")).to_have_count(3)
        page.screenshot(path=str(ARTIFACTS / "onboarding-tour.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(ARTIFACTS / "onboarding-tour-dark.png"), full_page=True)
        card.get_by_role("link", name="Write a check").click()
        expect(page.locator("textarea")).to_contain_text("name: my-service")
        page.go_back()
        card.get_by_role("button", name="Dismiss").click()
        expect(card).to_be_hidden()
        page.reload()
        expect(page.locator("#first-run-tour")).to_be_hidden()  # remembered in this browser
        browser.close()
    assert problems == []


def test_knowledge_pages_light_and_dark(full: str, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, full, "admin", PASSWORD, problems)
        expect(page.locator("#first-run-tour")).to_have_count(0)  # the plan has it all
        for path, shot in (
            ("/knowledge", "knowledge"),
            ("/knowledge/inventory", "knowledge-inventory"),
            ("/knowledge/architecture", "knowledge-architecture"),
            ("/knowledge/dr", "knowledge-dr"),
            ("/onboarding/alice", "onboarding-member"),
        ):
            page.emulate_media(color_scheme="light")
            page.goto(f"{full}{path}")
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
            page.emulate_media(color_scheme="dark")
            page.screenshot(path=str(ARTIFACTS / f"{shot}-dark.png"), full_page=True)
        page.goto(f"{full}/knowledge/architecture")
        boxes = page.locator("svg.arch-diagram g.node")
        expect(boxes).to_have_count(4)
        fill = page.locator('svg.arch-diagram g[data-service="orders-api"] .box').evaluate(
            "e => getComputedStyle(e).stroke"
        )
        assert fill != "rgb(196, 204, 216)"  # themed by the page (the down service's red)
        browser.close()
    assert problems == []


def test_offline_bundle_opens_from_disk(full: str, chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import login

    client = login(full, "admin", PASSWORD)
    try:
        resp = client.get("/api/v1/knowledge/bundle.zip")
    finally:
        client.close()
    assert resp.status_code == 200
    with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
        archive.extractall(tmp_path / "usb")
    [root] = list((tmp_path / "usb").iterdir())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(r.url))
        page.goto((root / "index.html").as_uri())
        expect(page.get_by_role("heading", level=1)).to_have_text("Watchkeeper knowledge bundle")
        page.screenshot(path=str(ARTIFACTS / "bundle-index.png"), full_page=True)
        page.locator("main").get_by_role("link", name="Architecture overview").click()
        image = page.locator('img[src="architecture.svg"]')
        expect(image).to_be_visible()
        assert image.evaluate("img => img.naturalWidth") > 0
        page.screenshot(path=str(ARTIFACTS / "bundle-architecture.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(ARTIFACTS / "bundle-architecture-dark.png"), full_page=True)
        page.goto((root / "index.html").as_uri())
        page.get_by_role("link", name="Orders database failover").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Orders database failover")
        page.screenshot(path=str(ARTIFACTS / "bundle-runbook-dark.png"), full_page=True)
        page.get_by_role("link", name="Index").click()
        expect(page).to_have_url((root / "index.html").as_uri())
        browser.close()
    assert errors == []
