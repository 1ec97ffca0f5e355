"""Hosts pages: the hosts reporting through the agent, and one host's inventory and charts.

The charts are PromQL range queries (``/api/v1/query_range``) run by the browser: the same
queries a Grafana dashboard for node_exporter runs, so what the page shows can be pasted
into the query page or a dashboard.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from watchkeeper.agent import hosts
from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError
from watchkeeper.store.tables import utcnow
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PER_PAGE = 50
RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 86400}


def charts(name: str) -> list[dict[str, Any]]:
    """The host page's charts: title, unit, and queries with a legend template ("{{mode}}"
    is the series' mode label). ``$window`` becomes the rate window the page picks."""
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    on = f'instance="{quoted}",job="agent"'
    nic = 'device!="lo"'
    return [
        {
            "title": "CPU by mode",
            "unit": "%",
            "queries": [
                {
                    "expr": "100 * avg by (mode) "
                    f'(rate(node_cpu_seconds_total{{{on},mode!="idle"}}[$window]))',
                    "legend": "{{mode}}",
                }
            ],
        },
        {
            "title": "Memory",
            "unit": "bytes",
            "queries": [
                {"expr": f"node_memory_MemTotal_bytes{{{on}}}", "legend": "total"},
                {
                    "expr": f"node_memory_MemTotal_bytes{{{on}}} "
                    f"- node_memory_MemAvailable_bytes{{{on}}}",
                    "legend": "used",
                },
                {
                    "expr": f"node_memory_Cached_bytes{{{on}}} + node_memory_Buffers_bytes{{{on}}}",
                    "legend": "cache and buffers",
                },
                {
                    "expr": f"node_memory_SwapTotal_bytes{{{on}}} "
                    f"- node_memory_SwapFree_bytes{{{on}}}",
                    "legend": "swap used",
                },
            ],
        },
        {
            "title": "Disk usage per mount",
            "unit": "%",
            "queries": [
                {
                    "expr": f"100 * (1 - node_filesystem_avail_bytes{{{on}}} "
                    f"/ node_filesystem_size_bytes{{{on}}})",
                    "legend": "{{mountpoint}}",
                }
            ],
        },
        {
            "title": "Network per interface",
            "unit": "bytes/s",
            "queries": [
                {
                    "expr": f"rate(node_network_receive_bytes_total{{{on},{nic}}}[$window])",
                    "legend": "{{device}} received",
                },
                {
                    "expr": f"rate(node_network_transmit_bytes_total{{{on},{nic}}}[$window])",
                    "legend": "{{device}} sent",
                },
            ],
        },
    ]


def human_bytes(value: float | None) -> str:
    """Return ``value`` bytes in binary units ("16.0 GiB"); "–" when unknown."""
    if value is None:
        return "–"
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    size, unit = float(value), 0
    while size >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size:.1f} {units[unit]}" if unit else f"{int(size)} B"


@router.get("/hosts")
def hosts_page(
    request: Request,
    db: Db,
    _: PageUser,
    q: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    now = utcnow()
    result = hosts.list_hosts(
        db, get_ctx(request).metrics, query=q, page=page, per_page=PER_PAGE, now=now
    )
    return render(
        request,
        "hosts.html",
        result=result,
        q=q,
        page=page,
        pages=max(1, -(-result.total // PER_PAGE)),
        now=now,
        active="query",
        page_title="Hosts",
    )


@router.get("/hosts/{name}")
def host_page(
    request: Request,
    name: str,
    db: Db,
    _: PageUser,
    range: str = "1h",  # noqa: A002 - the URL's name
) -> Response:
    found = hosts.get_host(db, get_ctx(request).metrics, name)
    if found is None:
        raise NotFoundError(f'no host named "{name}"')
    row, stored = found
    return render(
        request,
        "host.html",
        host=row,
        inventory=stored.inventory,
        charts=charts(name),
        selected_range=range if range in RANGES else "1h",
        human_bytes=human_bytes,
        ranges=RANGES,
        active="query",
        page_title=name,
        assets_charts=True,
        scripts=["js/promchart.js", "js/hosts.js"],
    )
