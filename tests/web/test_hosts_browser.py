"""The hosts pages in a real browser, over an hour of a host's history and a live push from
the real agent on this machine: list, host page with its four charts, light and dark
theme, zoom. Screenshots land in ``test-artifacts/``."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.agent.conftest import agent_config, agent_token
from tests.conftest import make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer
from watchkeeper.agent.run import Agent
from watchkeeper.metrics.labels import Labels, make_labels
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import Host, utcnow

pytestmark = pytest.mark.browser
STEP_MS = 10_000
INVENTORY = {
    "os": {"name": "Debian GNU/Linux", "version": "12 (bookworm)", "id": "debian"},
    "kernel": "6.1.0-18-amd64",
    "architecture": "x86_64",
    "cpu": {"logical": 4, "physical": 2, "model": "Intel(R) Xeon(R) Gold 6248R"},
    "memory_bytes": 16 * 2**30,
    "swap_bytes": 2 * 2**30,
    "disks": [
        {"mountpoint": "/", "device": "/dev/sda1", "fstype": "ext4", "size_bytes": 40 * 2**30},
        {
            "mountpoint": "/var/lib/postgresql",
            "device": "/dev/sdb",
            "fstype": "xfs",
            "size_bytes": 500 * 2**30,
        },
    ],
    "addresses": {"eth0": ["192.0.2.10", "2001:db8::10"], "lo": ["127.0.0.1", "::1"]},
    "packages": {"manager": "dpkg", "count": 812},
    "boot_time": "2026-11-01T06:12:40+00:00",
    "agent_version": "0.2.0",
    "interval_seconds": 10,
}


def history(name: str, end_ms: int) -> list[tuple[Labels, list[tuple[int, float]]]]:
    """An hour of a busy database host, sampled every 10 s: a daily-job CPU bump, memory
    filling its cache, a disk growing, network traffic with a burst."""
    times = list(range(end_ms - 3600_000, end_ms + 1, STEP_MS))

    def labels(metric: str, **extra: str) -> Labels:
        return make_labels({"__name__": metric, "instance": name, "job": "agent", **extra})

    def wave(i: int, period: int, phase: float = 0) -> float:
        return 0.5 + 0.5 * math.sin(2 * math.pi * i / period + phase)

    out = []
    for cpu in range(4):
        totals = {"user": 0.0, "system": 0.0, "iowait": 0.0, "idle": 0.0}
        series: dict[str, list[tuple[int, float]]] = {mode: [] for mode in totals}
        for i, t in enumerate(times):
            bump = 0.35 if 150 <= i <= 210 else 0.0
            share = {
                "user": 0.12 + 0.10 * wave(i, 90, cpu) + bump,
                "system": 0.04 + 0.02 * wave(i, 40),
                "iowait": 0.02 + (0.08 if 150 <= i <= 210 else 0.0),
            }
            share["idle"] = 1 - sum(share.values())
            for mode, fraction in share.items():
                totals[mode] += fraction * STEP_MS / 1000
                series[mode].append((t, 50_000 + totals[mode]))
        out += [
            (labels("node_cpu_seconds_total", cpu=str(cpu), mode=m), s) for m, s in series.items()
        ]
    total = 16 * 2**30
    available = [total * (0.55 - 0.15 * i / len(times)) for i in range(len(times))]
    out += [
        (labels("node_memory_MemTotal_bytes"), [(t, float(total)) for t in times]),
        (labels("node_memory_MemAvailable_bytes"), list(zip(times, available, strict=True))),
        (
            labels("node_memory_Cached_bytes"),
            [(t, total * (0.25 + 0.12 * i / len(times))) for i, t in enumerate(times)],
        ),
        (labels("node_memory_Buffers_bytes"), [(t, 300 * 2**20) for t in times]),
        (labels("node_memory_SwapTotal_bytes"), [(t, 2.0 * 2**30) for t in times]),
        (labels("node_memory_SwapFree_bytes"), [(t, 1.8 * 2**30) for t in times]),
    ]
    for disk in INVENTORY["disks"]:  # type: ignore[attr-defined]
        fs = {"mountpoint": disk["mountpoint"], "device": disk["device"], "fstype": disk["fstype"]}
        size = float(disk["size_bytes"])
        start = 0.62 if disk["mountpoint"] == "/" else 0.81
        out += [
            (labels("node_filesystem_size_bytes", **fs), [(t, size) for t in times]),
            (
                labels("node_filesystem_avail_bytes", **fs),
                [(t, size * (1 - start - 0.03 * i / len(times))) for i, t in enumerate(times)],
            ),
        ]
    received = sent = 0.0
    rx, tx = [], []
    for i, t in enumerate(times):
        received += (2e6 + 1.5e6 * wave(i, 120) + (6e6 if 300 <= i <= 320 else 0)) * 10
        sent += (8e5 + 4e5 * wave(i, 120, 1.0)) * 10
        rx.append((t, received))
        tx.append((t, sent))
    out += [
        (labels("node_network_receive_bytes_total", device="eth0"), rx),
        (labels("node_network_transmit_bytes_total", device="eth0"), tx),
    ]
    return out


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, AppContext]]:
    """A server on SQLite that knows db-1 (an hour of history), web-2 (silent for 20
    minutes) and this machine as pushed by the real agent."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(load_settings(env={}, home=tmp_path / "home", database_url=url), {})
    make_user(ctx, "admin", "admin")
    now = utcnow()
    ctx.metrics.write(history("db-1", int(now.timestamp() * 1000)))
    with ctx.sessions() as db:
        db.add(
            Host(
                name="db-1",
                first_seen=now - timedelta(days=22),
                last_seen=now,
                agent_version="0.2.0",
                inventory=INVENTORY,
            )
        )
        db.add(
            Host(
                name="web-2",
                first_seen=now - timedelta(days=3),
                last_seen=now - timedelta(minutes=20),
                agent_version="0.2.0",
                inventory={"os": {"name": "Ubuntu", "version": "24.04 LTS (Noble Numbat)"}},
            )
        )
        db.commit()
    try:
        with LiveServer(create_app(ctx)) as server:
            agent = Agent(
                agent_config(
                    server.url,
                    agent_token(ctx),
                    tmp_path / "spool",
                    host_name="this-machine",
                    interval=600.0,  # "reporting" for 30 min, however slow the run
                )
            )

            async def push() -> bool:
                try:
                    await agent.collect_once()
                    return await agent.flush()
                finally:
                    await agent.close()

            assert asyncio.run(push())
            yield server.url, ctx
    finally:
        ctx.engine.dispose()


def test_hosts_pages_in_light_and_dark(live: tuple[str, AppContext], chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, _ = live
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/login")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill("correct horse battery staple")
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{url}/hosts")
        expect(page.get_by_role("heading", level=1)).to_have_text("Hosts")
        rows = page.locator("table.hosts tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.nth(0)).to_contain_text("db-1")
        expect(rows.nth(0)).to_contain_text("/var/lib/postgresql")
        expect(rows.nth(1)).to_contain_text("this-machine")
        expect(rows.nth(2)).to_contain_text("stale")
        page.screenshot(path=str(ARTIFACTS / "hosts.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(ARTIFACTS / "hosts-dark.png"), full_page=True)
        page.emulate_media(color_scheme="light")

        page.get_by_role("link", name="db-1").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("db-1")
        charts = page.locator("[data-host-chart]")
        expect(charts).to_have_count(4)
        expect(page.locator("[data-host-chart] .uplot")).to_have_count(4)
        legend = page.locator("[data-host-chart]").nth(0).locator(".u-legend")
        for mode in ("user", "system", "iowait"):
            expect(legend).to_contain_text(mode)
        expect(charts.nth(2).locator(".u-legend")).to_contain_text("/var/lib/postgresql")
        expect(charts.nth(3).locator(".u-legend")).to_contain_text("eth0 received")
        expect(page.locator("#host-window")).to_contain_text("rates over 60 s")
        page.screenshot(path=str(ARTIFACTS / "host.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.reload()
        expect(page.locator("[data-host-chart] .uplot")).to_have_count(4)
        page.screenshot(path=str(ARTIFACTS / "host-dark.png"), full_page=True)
        page.emulate_media(color_scheme="light")

        page.get_by_role("link", name="24h").click()
        expect(page.locator("#host-window")).to_contain_text("one point every 600 s")
        expect(page.locator("[data-host-chart] .uplot")).to_have_count(4)
        page.get_by_role("link", name="1h").click()
        # the 1 h page has loaded (not the 24 h one still on screen) before dragging on it
        expect(page.locator("#host-window")).to_contain_text("one point every 15 s")
        expect(page.locator("[data-host-chart] .uplot")).to_have_count(4)
        over = page.locator("[data-host-chart] .u-over").first
        box = over.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 50)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 50)
        page.mouse.up()
        expect(page.locator("#host-window")).to_contain_text("one point every 5 s")
        expect(page.locator("[data-host-chart] .uplot")).to_have_count(4)

        page.goto(f"{url}/hosts/this-machine")
        expect(page.get_by_role("heading", level=1)).to_contain_text("reporting")
        expect(page.get_by_role("cell", name=re.compile(r"^lo$"))).to_be_visible()
        assert not errors, errors
        browser.close()
