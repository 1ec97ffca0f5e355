"""The hosts list and a host's page, over hosts and samples in the store."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import httpx

from tests.agent.conftest import add_host
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Host, utcnow


def test_the_list_shows_each_host_with_its_current_values(
    ctx: AppContext, admin: httpx.Client
) -> None:
    now = utcnow()
    add_host(ctx, "app-1", now, busy=0.25)
    add_host(ctx, "app-2", now, seen=timedelta(minutes=10))
    page = admin.get("/hosts")
    assert page.status_code == 200
    text = page.text
    assert text.index(">app-1<") < text.index(">app-2<")
    assert "Debian GNU/Linux 12 (bookworm)" in text
    assert 'value="0.25"' in text and "25%" in text  # CPU busy
    assert "75%" in text  # memory
    assert "95%" in text and "/data" in text  # the fullest disk
    row_two = text[text.index(">app-2<") :].split("</tr>")[0]
    assert ">stale<" in row_two and "10 min ago" in row_two
    assert ">stale<" not in text[text.index(">app-1<") :].split("</tr>")[0]
    only = admin.get("/hosts", params={"q": "app-2"}).text
    assert ">app-2<" in only and ">app-1<" not in only


def test_an_empty_list_says_how_to_add_a_host(admin: httpx.Client) -> None:
    text = admin.get("/hosts").text
    assert "No hosts" in text and "watchkeeper agent --server" in text


def test_a_host_page_shows_the_inventory_and_chart_queries(
    ctx: AppContext, admin: httpx.Client
) -> None:
    now = utcnow()
    add_host(ctx, "app-1", now)
    with ctx.sessions() as db:
        host = db.get(Host, "app-1")
        assert host is not None
        host.inventory = {
            **host.inventory,
            "kernel": "6.1.0-18-amd64",
            "cpu": {"logical": 8, "physical": 4, "model": "Xeon"},
            "memory_bytes": 16 * 2**30,
            "disks": [
                {
                    "mountpoint": "/",
                    "device": "/dev/sda1",
                    "fstype": "ext4",
                    "size_bytes": 100 * 2**30,
                }
            ],
            "addresses": {"eth0": ["192.0.2.10", "2001:db8::10"]},
            "packages": {"manager": "dpkg", "count": 812},
        }
        db.commit()
    page = admin.get("/hosts/app-1", params={"range": "24h"})
    assert page.status_code == 200
    text = page.text
    for fact in (
        "kernel 6.1.0-18-amd64",
        "16.0 GiB",
        "Xeon",
        "812",
        "/dev/sda1",
        "100.0 GiB",
        "192.0.2.10, 2001:db8::10",
        "95%",
    ):
        assert fact in text, fact
    assert 'data-range="86400"' in text
    queries = [
        q["expr"]
        for found in re.findall(r"data-queries='([^']*)'", text)
        for q in json.loads(html.unescape(found))
    ]
    assert len(queries) == 8
    assert 'rate(node_network_receive_bytes_total{instance="app-1",job="agent",' in queries[-2]
    assert all('instance="app-1"' in q for q in queries)
    assert "js/hosts.js" in text and "js/promchart.js" in text


def test_an_unknown_host_is_a_404(admin: httpx.Client) -> None:
    page = admin.get("/hosts/nobody", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert 'no host named "nobody"' in html.unescape(page.text)
