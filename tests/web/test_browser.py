"""End to end in a real browser: `watchkeeper up`, first-admin setup link, sign-in, home page.

Screenshots land in ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "a long enough passphrase for tests"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class UpProcess:
    """`watchkeeper up` as a user runs it, with its output collected."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        env.update(WATCHKEEPER_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1", COLUMNS="200")
        exe = Path(sys.executable).with_name("watchkeeper")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "up",
                "--plan",
                str(ROOT / "examples" / "watchkeeper.yaml"),
                "--listen",
                f"127.0.0.1:{self.port}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not printed; output:\n{self.output}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self._reader.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    process = UpProcess(tmp_path)
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()
        if process.proc.stdout and not process.proc.stdout.closed:
            process._reader.join(timeout=5)
            process.proc.stdout.close()


def test_first_admin_signs_in_and_sees_the_plan(up: UpProcess) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

    link = up.wait_for(r"(http://127\.0\.0\.1:\d+/setup\?token=[\w-]+)").group(1)
    assert f"running at http://127.0.0.1:{up.port}/" in up.output
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(link)
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill("admin-is-my-password")
        page.get_by_role("button", name="Create admin and sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("must not contain the user name")

        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create admin and sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Example shop — production")
        expect(page.locator(".stat").first).to_contain_text("1")
        expect(page.get_by_role("row", name=re.compile("Health checks"))).to_contain_text("3")
        page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)

        # The link is single-use.
        page2 = browser.new_page()
        page2.goto(link)
        expect(page2.get_by_role("heading", level=1)).to_have_text("Setup link not valid")
        page2.close()

        page.get_by_role("navigation").get_by_role("link", name="Health checks").click()
        expect(page.get_by_role("cell", name=re.compile("shop-frontend"))).to_be_visible()
        expect(page.get_by_text("managed by plan").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "checks.png"), full_page=True)

        page.get_by_role("button", name="Switch theme").click()
        assert page.evaluate("document.documentElement.dataset.theme") in ("dark", "light")
        page.screenshot(path=str(ARTIFACTS / "home-theme-toggled.png"))

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill("wrong password entirely!")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Example shop — production")

        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"http://127.0.0.1:{up.port}/")
        expect(phone.locator(".sidebar")).to_be_hidden()
        phone.screenshot(path=str(ARTIFACTS / "home-phone.png"), full_page=True)
        phone.locator("label.nav-button").click()
        expect(phone.locator(".sidebar")).to_be_visible()
        phone.screenshot(path=str(ARTIFACTS / "nav-phone.png"))
        browser.close()

    assert httpx.get(f"http://127.0.0.1:{up.port}/readyz").status_code == 200
    assert up.stop() == 0
    assert "Traceback" not in up.output
    assert "stopped cleanly" in up.output
    assert PASSWORD not in up.output
