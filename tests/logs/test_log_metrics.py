"""/metrics carries the log store's totals (streams, bytes), not one series per stream."""

from __future__ import annotations

import time

import httpx

from tests.helpers import LiveServer
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.runtime.context import AppContext


def test_streams_and_stored_bytes_are_totals(ctx: AppContext, server: LiveServer) -> None:
    now = time.time_ns()
    ctx.logs.store.append(
        [
            LogLine(now, now, make_labels({"app": app}), f"hello from {app}")
            for app in ("api", "web", "worker")
        ]
    )
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(f"{server.url}/metrics").text
        if "watchkeeper_log_streams 3.0" in text:
            break
        time.sleep(0.05)
    assert "watchkeeper_log_streams 3.0" in text
    stored = [ln for ln in text.splitlines() if ln.startswith("watchkeeper_log_stored_bytes")]
    assert len(stored) == 1 and float(stored[0].split()[1]) > 0
    assert 'app="api"' not in text
