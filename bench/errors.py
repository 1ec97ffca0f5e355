"""Error ingest through the Sentry envelope endpoint: events/s accepted and grouped, latency.

    .venv/bin/python bench/errors.py [--seconds 15] [--connections 16,32] [--bugs 20]
                                     [--database-url postgresql://...]

A real ``watchkeeper up`` (its own process, a temporary home, a plan with one error
project without a rate limit) receives envelopes as the Python SDK sends them: one event
each, an exception with a 12-frame stack (6 in-app) and local variables, 10 breadcrumbs,
request headers, user, tags and contexts (~4.5 KB of JSON), spread over ``--bugs`` distinct
bugs so that grouping finds existing issues and the writer updates several per batch. Every
event has its own event id. The load comes from wrk (``apt-get install wrk``; a Lua script
makes each request) with keep-alive connections; wrk's own latency percentiles are printed.
One run per connection count in ``--connections`` (SDKs of many processes each keep their
own connection), against the same server.

The figure that counts is events accepted *and grouped*: the server's
``watchkeeper_error_events_total{outcome="accepted"}`` (counted once the batch holding the
event is committed, issue counters included) divided by the run's length. Also printed: the
server's CPU seconds per 1,000 events, and the requests that were not answered 200.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil

KEY = "b0" * 16
PLAN = f"""
errors:
  events_per_issue: 100
  projects:
    - name: bench
      platform: python
      rate_limit: 0
      public_key: {KEY}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sdk_event(bug: int, event_id: str) -> dict[str, object]:
    """An event shaped like the Python SDK's for an exception in a web request."""
    frames = []
    for depth in range(12):
        in_app = depth >= 6
        frames.append(
            {
                "filename": f"{'shop' if in_app else 'django/core'}/mod{depth}.py",
                "abs_path": f"/srv/app/{'shop' if in_app else 'venv/django/core'}/mod{depth}.py",
                "module": f"shop.mod{depth}" if in_app else f"django.core.mod{depth}",
                "function": f"handler_{bug}_{depth}" if in_app else f"dispatch{depth}",
                "lineno": 40 + depth,
                "context_line": f"    result = step_{depth}(request, order_id)",
                "pre_context": ["", "def handler(request):", "    order_id = request.GET['id']"],
                "post_context": ["    return result", ""],
                "in_app": in_app,
                "vars": {"request": "<WSGIRequest: POST '/checkout'>", "order_id": "'A-1042'"},
            }
        )
    return {
        "event_id": event_id,
        "timestamp": time.time(),
        "platform": "python",
        "level": "error",
        "logger": "django.request",
        "server_name": "web-1",
        "release": "shop@1.4.2",
        "environment": "production",
        "transaction": "/checkout",
        "exception": {
            "values": [
                {
                    "type": f"ValueError{bug}",
                    "value": f"invalid order state for order {bug * 7919}",
                    "module": None,
                    "mechanism": {"type": "django", "handled": False},
                    "stacktrace": {"frames": frames},
                }
            ]
        },
        "breadcrumbs": {
            "values": [
                {
                    "timestamp": time.time(),
                    "category": "query",
                    "message": f"SELECT * FROM orders WHERE id = {i}",
                    "level": "info",
                }
                for i in range(10)
            ]
        },
        "request": {
            "url": "https://shop.example/checkout",
            "method": "POST",
            "headers": {
                "Host": "shop.example",
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)",
                "Accept": "text/html",
                "Cookie": "sessionid=abc; csrftoken=def",
                "Authorization": "Bearer not-a-real-token",
            },
            "query_string": "id=A-1042&password=hunter2",
            "data": {"quantity": "2", "card_number": "4111111111111111"},
        },
        "user": {"id": f"user-{bug}", "ip_address": "203.0.113.7"},
        "tags": {"browser": "Firefox 133", "region": "eu-west"},
        "contexts": {
            "os": {"name": "Linux", "version": "6.1"},
            "runtime": {"name": "CPython", "version": "3.11.7"},
        },
        "sdk": {"name": "sentry.python.django", "version": "2.19.0"},
    }


def lua_script(path: str, bugs: int) -> str:
    """A wrk script sending one envelope per request, each event with its own id."""
    marker = "f" * 32
    parts = []
    for bug in range(bugs):
        payload = json.dumps(sdk_event(bug, marker), separators=(",", ":"))
        body = "\n".join(
            [
                json.dumps({"event_id": marker, "sent_at": "2026-12-06T04:00:00Z"}),
                json.dumps({"type": "event", "length": len(payload.encode())}),
                payload,
                "",
            ]
        )
        pieces = body.split(marker)
        parts.append("{" + ", ".join(f"[==[{p}]==]" for p in pieces) + "}")
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "X-Sentry-Auth": f"Sentry sentry_key={KEY}, sentry_version=7, sentry_client=bench/1",
    }
    lua_headers = "{" + ", ".join(f'["{k}"] = {json.dumps(v)}' for k, v in headers.items()) + "}"
    return f"""
local bodies = {{{", ".join(parts)}}}
local counter = 0
local tid = 0
local made = 0
function setup(thread)
  made = made + 1
  thread:set("tid", made)
end
function init(args)
  math.randomseed(os.time() * 1000 + tid)
end
request = function()
  counter = counter + 1
  local id = string.format("%08x%08x%08x%08x", tid, math.random(0, 2147483647),
                           math.random(0, 2147483647), counter)
  local parts = bodies[counter % #bodies + 1]
  return wrk.format("POST", "{path}", {lua_headers},
                    table.concat(parts, id))
end
"""


def accepted(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.search(
        r'^watchkeeper_error_events_total\{outcome="accepted",project="bench"\} (\S+)$|'
        r'^watchkeeper_error_events_total\{project="bench",outcome="accepted"\} (\S+)$',
        text,
        re.M,
    )
    return float(next(g for g in found.groups() if g)) if found else 0.0


def run(
    wrk: str, base: str, script: Path, server: psutil.Process, connections: int, seconds: float
) -> None:
    """Load the server from ``connections`` keep-alive connections; print what it took."""
    before_events, before_cpu = accepted(base), server.cpu_times()
    started = time.monotonic()
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds:.0f}s",
            "--latency",
            "-s",
            str(script),
            f"{base}/api/1/envelope/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    elapsed = time.monotonic() - started
    after_cpu = server.cpu_times()
    time.sleep(0.5)  # the last batches' counters
    events = accepted(base) - before_events
    cpu = (after_cpu.user + after_cpu.system) - (before_cpu.user + before_cpu.system)
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    print(
        f"{connections:3d} connections: {events / elapsed:,.0f} events/s accepted and grouped "
        f"({events:,.0f} in {elapsed:.1f}s, not 200: {errors.group(1) if errors else 0}); "
        f"latency p50 {pct.get('50', '?')} p90 {pct.get('90', '?')} p99 {pct.get('99', '?')}; "
        f"server CPU {cpu / max(events, 1) * 1000:.2f} s per 1,000 events"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", default="16,32", help="comma-separated counts")
    parser.add_argument("--bugs", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("bench/errors.py needs wrk (apt-get install wrk)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as home:
        plan = Path(home) / "plan.yaml"
        plan.write_text(PLAN)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        env.update(WATCHKEEPER_HOME=home, PYTHONUNBUFFERED="1", COLUMNS="200")
        if args.database_url:
            env["WATCHKEEPER_DATABASE_URL"] = args.database_url
        exe = Path(sys.executable).with_name("watchkeeper")
        command = [str(exe), "up", "--plan", str(plan), "--listen", f"127.0.0.1:{port}"]
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "Watchkeeper is running" in line:
                    break
            else:
                sys.exit("the server did not start")
            # The project's first event makes its id (1 on a new store) and warms the ingest.
            warm = sdk_event(0, uuid.uuid4().hex)
            payload = json.dumps(warm).encode()
            body = b"{}\n" + json.dumps({"type": "event"}).encode() + b"\n" + payload + b"\n"
            auth = {"X-Sentry-Auth": f"Sentry sentry_key={KEY}, sentry_version=7"}
            resp = httpx.post(f"{base}/api/1/envelope/", content=body, headers=auth, timeout=10)
            resp.raise_for_status()
            script = Path(home) / "envelope.lua"
            script.write_text(lua_script("/api/1/envelope/", args.bugs))
            server = psutil.Process(proc.pid)
            store = "PostgreSQL" if args.database_url else "SQLite"
            print(
                f"machine: {os.cpu_count()} cores, {platform.machine()}, python "
                f"{platform.python_version()}; one server process ({store}); {args.bugs} "
                f"bugs, ~{len(payload) / 1024:.1f} KB events, {args.seconds:.0f} s per run"
            )
            for connections in [int(c) for c in args.connections.split(",") if c.strip()]:
                run(wrk, base, script, server, connections, args.seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
