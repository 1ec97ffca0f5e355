"""A heartbeat's page and API: the push URL, curl examples and the latest pings."""

from __future__ import annotations

import dataclasses
import re

import httpx

from tests.checks.test_runner import declare
from tests.helpers import LiveServer
from watchkeeper.runtime.context import AppContext

PLAN = (
    "  - {name: backup, type: heartbeat, period: 1d}\n"
    "  - {name: web, type: tcp, host: 127.0.0.1, port: 80}\n"
)
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_the_page_shows_a_working_push_url_and_the_pings(
    ctx: AppContext, server: LiveServer, admin: httpx.Client
) -> None:
    declare(ctx.sessions, PLAN)
    page = admin.get("/checks/backup").text
    found = re.search(rf'value="({re.escape(server.url)}/ping/({UUID}))"', page)
    assert found, page  # the key was generated on this first view
    url, key = found.groups()
    assert f"curl -fsS -m 10 --retry 5 -o /dev/null {url}/start" in page
    assert f"{url}/$?" in page
    assert "No pings yet." in page
    assert 'data-chart="' not in page  # no response-time chart for a heartbeat

    with httpx.Client(timeout=10) as job:
        assert job.post(url, content="nightly backup: 12 files").text == "OK"
    page = admin.get("/checks/backup").text
    assert "nightly backup: 12 files" in page and ">success</span>" in page
    assert key in admin.get("/checks/backup").text  # the same key on every view


def test_the_push_url_uses_the_public_url_when_set(ctx: AppContext, admin: httpx.Client) -> None:
    declare(ctx.sessions, PLAN)
    ctx.settings = dataclasses.replace(ctx.settings, public_url="https://wk.example.com/")
    page = admin.get("/checks/backup").text
    assert re.search(rf'value="https://wk\.example\.com/ping/{UUID}"', page), page


def test_the_api_gives_the_push_url_and_the_pings(
    ctx: AppContext, server: LiveServer, admin: httpx.Client
) -> None:
    declare(ctx.sessions, PLAN)
    first = admin.get("/api/v1/checks/backup/pings").json()
    assert re.fullmatch(rf"{re.escape(server.url)}/ping/{UUID}", first["ping_url"])
    assert first["pings"] == []
    with httpx.Client(timeout=10) as job:
        job.get(first["ping_url"] + "/5", headers={"User-Agent": "backup.sh"})
    [ping] = admin.get("/api/v1/checks/backup/pings").json()["pings"]
    assert (ping["kind"], ping["exit_status"], ping["user_agent"]) == ("fail", 5, "backup.sh")
    other = admin.get("/api/v1/checks/web/pings")
    assert other.status_code == 404
    assert other.json()["detail"] == 'check "web" is not a heartbeat; it has no push URL'
