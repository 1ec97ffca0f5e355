"""The Apprise channel, through Apprise's own ``json://`` service, against a loopback server."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import ValidationError

from tests.conftest import remember_secret
from tests.notify.loopback import Loopback, Seen, alert, notification, run, send_to
from watchkeeper.notify.apprise_channel import AppriseChannel, AppriseConfig, url_parts
from watchkeeper.notify.interface import DeliveryError, Notification
from watchkeeper.plan.loader import PlanInvalid, load_plan_text

PASSWORD = remember_secret("S3cretPassw0rd-apprise")
PATH_TOKEN = remember_secret("T0KENinPATHabc123xyz")
HEADER_TOKEN = remember_secret("HDRsecret-999-apprise")


def receiver(seen: Seen) -> web.StreamResponse:
    """Accept on /ok/…, fail on /fail/… (as a service having a bad day)."""
    if seen.path.startswith("/fail/"):
        return web.json_response({"error": "internal"}, status=500)
    return web.json_response({})


def config(*urls: str, **fields: Any) -> AppriseConfig:
    return AppriseConfig(name="ap", type="apprise", urls=list(urls), **fields)


def send(message: Notification, *paths: str, **fields: Any) -> list[Seen]:
    """Send through one json:// URL per path (``{port}`` is filled in)."""

    def make(url: str) -> AppriseConfig:
        port = url.rsplit(":", 1)[1]
        return config(*(p.format(port=port) for p in paths), **fields)

    return run(send_to(make, AppriseChannel(), message, receiver))


def secret_url(kind: str = "ok") -> str:
    return f"json://ana:{PASSWORD}@127.0.0.1:{{port}}/{kind}/{PATH_TOKEN}?+X-Token={HEADER_TOKEN}"


def test_json_url_receives_apprises_json_body() -> None:
    [seen] = send(notification(), secret_url())
    assert seen.method == "POST" and seen.path == f"/ok/{PATH_TOKEN}"
    assert seen.headers["x-token"] == HEADER_TOKEN
    assert seen.headers["authorization"].startswith("Basic ")
    assert seen.json() == {
        "version": "1.0",
        "title": "[FIRING:1] HighLatency (api)",
        "message": "HighLatency on api-1: p99 1.25s",
        "attachments": [],
        "type": "failure",
    }


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (notification(alert(severity="critical")), "failure"),
        (notification(alert(severity="warning")), "warning"),
        (notification(alert(severity="info")), "info"),
        (notification(alert(status="resolved"), status="resolved"), "success"),
    ],
)
def test_notify_type_follows_severity_and_status(message: Notification, kind: str) -> None:
    [seen] = send(message, "json://127.0.0.1:{port}/ok/a")
    assert seen.json()["type"] == kind


def test_markdown_is_converted_for_services_that_want_html() -> None:
    message = notification(text="**disk** full")
    [seen] = send(message, "json://127.0.0.1:{port}/ok/a?format=html", format="markdown")
    assert "<strong>disk</strong>" in seen.json()["message"]


def test_html_format_sends_the_rendered_html() -> None:
    [seen] = send(notification(), "json://127.0.0.1:{port}/ok/a", format="html")
    assert seen.json()["message"] == "<p>HighLatency on api-1: p99 1.25s</p>"


def test_every_url_is_notified() -> None:
    seen = send(notification(), "json://127.0.0.1:{port}/ok/a", "json://127.0.0.1:{port}/ok/b")
    assert sorted(s.path for s in seen) == ["/ok/a", "/ok/b"]


def test_failed_url_is_a_transient_error_without_urls() -> None:
    async def scenario() -> tuple[DeliveryError, list[Seen]]:
        async with Loopback(receiver) as server, httpx.AsyncClient() as http:
            port = server.port
            urls = [f"json://127.0.0.1:{port}/ok/a", secret_url("fail").format(port=port)]
            with pytest.raises(DeliveryError) as caught:
                await AppriseChannel().send(config(*urls), notification(), http)
            return caught.value, server.seen

    error, seen = run(scenario())
    assert str(error) == "apprise: delivery failed for 1 of 2 URLs"
    assert not error.permanent
    assert sorted(s.path for s in seen) == [f"/fail/{PATH_TOKEN}", "/ok/a"]  # 500 for /fail/


def test_apprise_and_urllib3_logs_do_not_show_url_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(1):
        with pytest.raises(DeliveryError):
            send(notification(), secret_url(), secret_url("fail"))
    logged = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("apprise", "urllib3"))
    )
    assert "Sent JSON POST notification" in logged  # apprise did log, at every level
    assert "POST /ok/********" in logged  # urllib3's request line, masked
    for secret in (PASSWORD, PATH_TOKEN, HEADER_TOKEN):
        assert secret not in caplog.text


def test_url_parts_are_the_secret_looking_parts() -> None:
    parts = url_parts(f"json://ana:{PASSWORD}@hooks.example.com/x/{PATH_TOKEN}?+X-Token=a%2Fb-cdef")
    assert {PASSWORD, PATH_TOKEN, "a%2Fb-cdef", "a/b-cdef"} <= parts
    assert "hooks.example.com" not in parts
    assert "X-Token" not in parts


def test_urls_apprise_cannot_use_are_config_errors_that_do_not_quote_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = remember_secret("tgram://SECRETbottoken-only")
    with caplog.at_level(1), pytest.raises(ValidationError) as caught:
        config("json://127.0.0.1/ok", bad, "not a url", "nosuchservice://abc/def")
    assert "SECRETbottoken" not in caplog.text
    errors = {e["loc"]: e["msg"] for e in caught.value.errors()}
    assert list(errors) == [("urls", 1), ("urls", 2), ("urls", 3)]
    assert errors["urls", 1].startswith("a tgram:// URL but not one that Apprise can use")
    assert errors["urls", 2].startswith("not a URL that Apprise can use")
    assert errors["urls", 3].startswith("a nosuchservice:// URL but not one")
    assert all(e["input"] is None for e in caught.value.errors())


def test_two_urls_in_one_entry_are_refused() -> None:
    with pytest.raises(ValidationError, match="one URL per entry"):
        config("json://127.0.0.1/a, json://127.0.0.1/b")


def test_plan_check_names_the_entry_and_its_line_without_quoting_it() -> None:
    plan = """\
notifications:
  channels:
    - name: chat
      type: apprise
      urls:
        - json://127.0.0.1/ok
        - discord://only-a-SECRET-id
"""
    with pytest.raises(PlanInvalid) as caught:
        load_plan_text(plan, env={})
    shown = str(caught.value)
    assert shown.startswith(
        "watchkeeper.yaml:7:11 notifications.channels[0].urls[1]: a discord:// URL but not one "
        "that Apprise can use"
    )
    assert "SECRET" not in shown


def test_loading_apprise_raises_no_warnings() -> None:
    """apprise imports deprecated modules while loading its plugins; a fresh interpreter
    with warnings as errors shows whether the channel hides that."""
    code = (
        "from watchkeeper.notify.apprise_channel import accepts\n"
        "assert accepts('json://localhost/x')\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_urls_are_stripped() -> None:
    assert config(" json://127.0.0.1/a ").urls == ["json://127.0.0.1/a"]
