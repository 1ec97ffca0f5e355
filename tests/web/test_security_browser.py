"""The security pages in a real browser: the vulnerabilities (severity tiles, by host, by
package, by severity), one finding with its OSV record, suppressing it from there, and the
patch plan board with "mark applied" and the OS updates beside it. Screenshots are kept
under test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.conftest import login, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, signed_in_page
from tests.security.findings_support import add_finding, add_inventory, add_record
from watchkeeper.auth.audit import Actor
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.security import patches
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import PatchAction, SecurityFinding, utcnow

PASSWORD = "correct horse battery staple"
PLAN = """
alerts:
  maintenance_windows:
    - name: sunday-night
      weekly: [{days: [sun], start: "02:00", end: "04:00"}]
security:
  sources:
    - {name: pypi, ecosystem: PyPI, path: /srv/osv/PyPI.zip}
  patch_windows: [sunday-night]
  exposed_hosts: ["web-*"]
  suppressions:
    - name: batch-urllib3
      vulnerability: CVE-2023-*
      package: urllib3
      hosts: ["batch-*"]
      reason: Batch hosts make no outbound TLS calls.
"""
SHOP = "/srv/shop/.venv"
LOCK = "/srv/storefront/package-lock.json"


def seed(ctx: AppContext, now: datetime) -> None:
    """Three hosts with PyPI, npm and Debian findings, an OS-updates inventory, records, a
    plan suppression, and a patch plan with one action applied and one verified."""
    days = timedelta(days=1)
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(PLAN, env={}))
        common = {"last_seen": now}
        add_finding(
            db,
            "GHSA-j8r2-6x86-q33q",
            aliases=["CVE-2023-32681"],
            severity="medium",
            score=6.1,
            first_seen=now - 60 * days,
            summary="Requests leaks Proxy-Authorization headers on redirects",
            **common,
        )
        add_finding(
            db,
            "GHSA-9wx4-h78v-vm56",
            aliases=["CVE-2024-35195"],
            severity="medium",
            score=5.6,
            fixed="2.32.0",
            first_seen=now - 20 * days,
            summary="Requests keeps verify=False for a whole session",
            **common,
        )
        add_finding(
            db,
            "GHSA-2g68-c3qc-8985",
            package="werkzeug",
            version="2.2.2",
            fixed="3.0.3",
            severity="high",
            score=7.5,
            first_seen=now - 35 * days,
            aliases=["CVE-2024-34069"],
            summary="Werkzeug debugger RCE",
            **common,
        )
        add_finding(
            db,
            "GHSA-67hx-6x53-jw92",
            host="web-1",
            ecosystem="npm",
            location=LOCK,
            package="@babel/traverse",
            version="7.22.5",
            fixed="7.23.2",
            severity="critical",
            score=9.3,
            first_seen=now - 45 * days,
            aliases=["CVE-2023-45133"],
            summary="Babel compiles arbitrary code",
            **common,
        )
        add_finding(
            db,
            "DSA-5764-1",
            host="db-1",
            ecosystem="Debian",
            location="dpkg",
            package="openssl",
            version="3.0.13-1~deb12u1",
            fixed="3.0.14-1~deb12u2",
            severity="high",
            score=7.4,
            first_seen=now - 10 * days,
            aliases=["CVE-2024-5535"],
            summary="OpenSSL SSL_select_next_proto buffer overread",
            **common,
        )
        add_finding(
            db,
            "GHSA-m2qf-hxjv-5gpq",
            host="db-1",
            package="flask",
            version="2.2.2",
            fixed="",
            severity="low",
            score=None,
            first_seen=now - 5 * days,
            summary="Flask session cookie caching",
            **common,
        )
        add_finding(
            db,
            "GHSA-v845-jxx5-vc9f",
            host="batch-1",
            package="urllib3",
            version="1.26.4",
            fixed="1.26.17",
            aliases=["CVE-2023-43804"],
            severity="high",
            score=8.1,
            first_seen=now - 80 * days,
            summary="urllib3 Cookie header not stripped on cross-origin redirects",
            **common,
        )
        add_finding(
            db,
            "GHSA-g4mx-q9vg-27p4",
            host="batch-1",
            package="urllib3",
            version="1.26.4",
            fixed="1.26.18",
            aliases=["CVE-2023-45803"],
            severity="medium",
            score=4.2,
            first_seen=now - 80 * days,
            summary="urllib3 request body not stripped after a 303 redirect",
            **common,
        )
        add_finding(
            db,
            "GHSA-jinja-old",
            host="batch-1",
            package="jinja2",
            version="3.1.2",
            fixed="3.1.3",
            severity="medium",
            score=5.4,
            first_seen=now - 30 * days,
            **common,
        )
        add_record(db, "GHSA-j8r2-6x86-q33q")
        add_inventory(
            db,
            [
                [
                    "openssl",
                    "3.0.15-1~deb12u1",
                    "3.0.13-1~deb12u1",
                    "Debian-Security:12/stable-security",
                ],
                ["tzdata", "2025b-0+deb12u1", "2024a-0+deb12u1", "Debian:12.9/stable"],
                [
                    "curl",
                    "7.88.1-10+deb12u8",
                    "7.88.1-10+deb12u5",
                    "Debian-Security:12/stable-security",
                ],
            ],
            host="db-1",
            ecosystem="os-updates",
            location="apt",
            collected_at=now - timedelta(hours=3),
        )
        add_inventory(
            db,
            [],
            host="web-1",
            ecosystem="os-updates",
            location="apt",
            collected_at=now - timedelta(hours=5),
        )
        patches.refresh(db, now - 2 * days)
        jinja = _action(db, "batch-1", "jinja2")
        patches.mark_applied(db, Actor("olga"), jinja.id, now - days)
        # batch-1 upgraded jinja2: the inventory and the scan say so; the plan verifies it.
        add_inventory(
            db,
            [["jinja2", "3.1.4"], ["urllib3", "1.26.4"], ["requests", "2.31.0"]],
            host="batch-1",
            location=SHOP,
            collected_at=now - timedelta(hours=2),
        )
        db.execute(
            update(SecurityFinding)
            .where(SecurityFinding.vuln_id == "GHSA-jinja-old")
            .values(resolved_at=now - timedelta(hours=2))
        )
        add_finding(
            db,
            "GHSA-h75v-3vvj-5mfj",
            host="batch-1",
            package="requests",
            version="2.31.0",
            fixed="2.32.0",
            severity="low",
            score=3.0,
            first_seen=now - 3 * days,
            last_seen=now,
        )
        patches.refresh(db, now - timedelta(hours=1))
        werkzeug = _action(db, "web-1", "werkzeug")
        patches.mark_applied(db, Actor("olga"), werkzeug.id, now - timedelta(hours=4))
        db.commit()


def _action(db: Session, host: str, package: str) -> PatchAction:
    return db.scalars(
        select(PatchAction).where(PatchAction.host == host, PatchAction.package == package)
    ).one()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, AppContext]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(load_settings(env={}, home=tmp_path / "home", database_url=url), {})
    make_user(ctx, "olga", "operator", PASSWORD)
    make_user(ctx, "vera", "viewer", PASSWORD)
    seed(ctx, utcnow())
    try:
        with LiveServer(create_app(ctx)) as server:
            yield server.url, ctx
    finally:
        ctx.close()


def test_viewers_see_no_forms_and_cannot_post(live: tuple[str, AppContext]) -> None:
    base, _ = live
    vera = login(base, "vera", PASSWORD)
    try:
        page = vera.get("/security?view=suppressions")
        assert page.status_code == 200
        assert "Batch hosts make no outbound TLS calls." in page.text
        assert "New suppression" not in page.text
        board = vera.get("/security/patches")
        assert "Upgrade @babel/traverse" in board.text and "Mark applied" not in board.text
        token = vera.headers["X-CSRF-Token"]
        refused = vera.post(
            "/security/suppressions",
            data={"vulnerability": "X", "reason": "y", "csrf_token": token},
            headers={"accept": "text/html"},
        )
        assert refused.status_code == 403
    finally:
        vera.close()
    assert httpx.get(f"{base}/security", follow_redirects=False).status_code == 303


def test_vulnerabilities_finding_suppress_and_patch_board(
    live: tuple[str, AppContext], chromium: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, _ = live
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, base, "olga", PASSWORD, problems, height=1000)
        page.get_by_role("navigation", name="Domains").get_by_role("link", name="Security").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Vulnerabilities")
        expect(page.locator("#osv-sources")).to_contain_text("pypi (PyPI) not imported yet")
        tiles = page.get_by_label("Open findings by severity")
        expect(tiles.locator(".tile-critical .num")).to_have_text("1")
        expect(tiles.locator(".tile-high .num")).to_have_text("2")  # batch-1's is suppressed
        groups = page.locator("details.group")
        expect(groups).to_have_count(3)
        expect(groups.first.locator("summary")).to_contain_text("web-1")
        expect(groups.first).to_contain_text("7.22.5 → 7.23.2")
        page.screenshot(path=str(ARTIFACTS / "security-by-host.png"), full_page=True)

        page.get_by_role("link", name="By package").click()
        requests_group = groups.filter(has_text="requests")
        expect(requests_group.locator("summary")).to_contain_text("on 2 hosts")
        page.get_by_role("link", name="By severity").click()
        rows = page.locator("table.findings tbody tr")
        expect(rows.first).to_contain_text("critical")
        expect(rows.first).to_contain_text("fix overdue")
        page.screenshot(path=str(ARTIFACTS / "security-by-severity.png"), full_page=True)
        page.get_by_role("link", name="Suppressed", exact=True).click()
        expect(rows.first).to_contain_text("Batch hosts make no outbound TLS calls.")

        page.goto(f"{base}/security?view=severity")
        page.get_by_role("link", name="GHSA-j8r2-6x86-q33q").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("GHSA-j8r2-6x86-q33q")
        refs = page.locator("ul.refs")
        expect(
            refs.get_by_role("link", name="https://nvd.nist.gov/vuln/detail/CVE-2023-32681")
        ).to_be_visible()
        expect(refs.get_by_role("link", name="javascript:alert(1)")).to_have_count(0)
        expect(page.locator(".record")).to_contain_text("Proxy-Authorization")
        page.screenshot(path=str(ARTIFACTS / "security-finding.png"), full_page=True)
        form = page.locator("form.suppress")
        form.get_by_label("Reason").fill("Our clients never use proxies.")
        form.get_by_label("Expires").fill((utcnow() + timedelta(days=60)).date().isoformat())
        form.get_by_role("button", name="Suppress").click()
        expect(page.get_by_role("status")).to_contain_text("Suppression saved")
        expect(page.locator("aside")).to_contain_text("Our clients never use proxies.")
        page.goto(f"{base}/security?view=suppressions")
        rows = page.locator("table.suppressions tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.filter(has_text="Our clients never use proxies.")).to_contain_text("olga")
        expect(rows.filter(has_text="batch-urllib3")).to_contain_text("2")  # hides two
        page.screenshot(path=str(ARTIFACTS / "security-suppressions.png"), full_page=True)

        page.get_by_role("link", name="Patch plan").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Patch plan")
        planned = page.get_by_label("Planned", exact=True)
        first = planned.locator("article").first
        expect(first).to_contain_text("Upgrade @babel/traverse 7.22.5 → 7.23.2")
        expect(first).to_contain_text("exposed")
        expect(first).to_contain_text("window sunday-night")
        expect(page.get_by_label("Applied", exact=True).locator("article")).to_have_count(1)
        expect(page.get_by_label("Verified", exact=True)).to_contain_text("jinja2")
        expect(page.get_by_label("OS updates")).to_contain_text("2 security")
        page.screenshot(path=str(ARTIFACTS / "security-patches.png"), full_page=True)
        first.get_by_role("button", name="Mark applied").click()
        expect(page.get_by_role("status")).to_contain_text("Marked applied")
        applied = page.get_by_label("Applied", exact=True).locator("article")
        expect(applied).to_have_count(2)
        expect(applied.filter(has_text="@babel/traverse")).to_contain_text("applied by olga")

        page.set_viewport_size({"width": 420, "height": 900})
        page.screenshot(path=str(ARTIFACTS / "security-patches-phone.png"), full_page=True)
        browser.close()
    assert problems == []
