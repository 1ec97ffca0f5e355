"""Security keys in a real browser: Chromium's virtual authenticator (DevTools WebAuthn
domain) registers a key on the Security page and signs in with it; a role that requires MFA
is sent through enrolment.

Screenshots land in ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


def _virtual_authenticator(page: Any) -> str:
    """Give the page's browser a security key (a CTAP2 authenticator that says yes)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    result = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return str(result["authenticatorId"])


def _password(page: Any, base: str, username: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login$"))


def test_security_key_is_added_then_used_to_sign_in(
    chromium: str, ctx: AppContext, server: LiveServer
) -> None:
    from playwright.sync_api import expect, sync_playwright

    make_user(ctx, "kim", "operator")
    # WebAuthn needs a secure context and a domain as relying party: localhost, not 127.0.0.1.
    base = server.url.replace("127.0.0.1", "localhost")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        _virtual_authenticator(page)
        _password(page, base, "kim")
        expect(page).to_have_url(f"{base}/")

        page.get_by_role("banner").get_by_role("link", name="Account security").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Account security")
        page.get_by_role("link", name="Set up authenticator app").click()
        expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "mfa-totp-setup.png"), full_page=True)
        page.get_by_role("link", name="Cancel").click()

        page.get_by_label("Name of the new key").fill("Test key")
        page.get_by_role("button", name="Add security key").click()
        expect(page.get_by_role("status").filter(has_text="Security key added")).to_be_visible()
        expect(page.get_by_label("Name of Test key")).to_have_value("Test key")
        expect(page.get_by_text("No recovery codes.")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "mfa-security-page.png"), full_page=True)

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        _password(page, base, "kim")
        expect(page).to_have_url(re.compile(r"/login/mfa\?next=/$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text("Two-factor sign-in")
        page.screenshot(path=str(ARTIFACTS / "mfa-challenge.png"), full_page=True)
        page.get_by_role("button", name="Use security key").click()
        expect(page).to_have_url(f"{base}/")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

        page.get_by_role("banner").get_by_role("link", name="Account security").click()
        expect(page.locator("tbody tr").first).not_to_contain_text("never")  # last used: now

        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{base}/account/security")
        expect(phone.get_by_role("link", name="Security", exact=True)).to_be_visible()
        phone.screenshot(path=str(ARTIFACTS / "mfa-security-phone.png"), full_page=True)
        browser.close()


def test_required_mfa_enrols_a_security_key_at_first_sign_in(
    chromium: str, ctx: AppContext, server: LiveServer
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with ctx.sessions() as db:
        apply_plan(db, load_plan_text("access:\n  require_mfa: [admin]\n"))
        db.commit()
    make_user(ctx, "ada", "admin")
    base = server.url.replace("127.0.0.1", "localhost")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        _virtual_authenticator(page)
        _password(page, base, "ada")
        expect(page).to_have_url(re.compile(r"/login/enrol\?next=/$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text("Set up two-factor")
        expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "mfa-enrol.png"), full_page=True)

        page.get_by_label("Name of the key").fill("Laptop passkey")
        page.get_by_role("button", name="Add security key").click()
        expect(page.get_by_text("Security key set up.")).to_be_visible()
        page.get_by_role("button", name="Show my recovery codes").click()
        codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem")
        expect(codes).to_have_count(10)
        page.screenshot(path=str(ARTIFACTS / "mfa-recovery-codes.png"), full_page=True)
        page.get_by_role("button", name=re.compile("I have saved them")).click()
        expect(page).to_have_url(f"{base}/")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        browser.close()
