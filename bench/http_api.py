"""Throughput and latency of the HTTP API served by a real `watchkeeper up` process.

python bench/http_api.py [--seconds 10] [--concurrency 16]
Starts the server on a free loopback port with the example plan, signs in, then drives
/healthz (no store access) and /api/v1/objects/checks (session lookup + store read) with
concurrent keep-alive connections. Uses wrk (`apt-get install wrk`) when installed, since a
Python load generator on the same cores measures itself more than the server; otherwise an
httpx client. Prints requests/s and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "benchmark passphrase, long enough"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def drive(
    base: str, path: str, seconds: float, concurrency: int, cookies: httpx.Cookies
) -> tuple[int, list[float]]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                resp = await client.get(path)
                latencies.append(time.perf_counter() - t0)
                resp.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), latencies


def run_wrk(url: str, seconds: float, concurrency: int, cookie: str) -> None:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{concurrency}",
            f"-d{int(seconds)}s",
            "--latency",
            "-H",
            f"Cookie: {cookie}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    pct = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert rate and not errors, out
    path = url.split("/", 3)[3]
    print(
        f"/{path:25} {float(rate.group(1)):8,.0f} req/s   p50 {pct['50']:>8}   "
        f"p90 {pct['90']:>8}   p99 {pct['99']:>8}   (wrk)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        env.update(WATCHKEEPER_HOME=home, PYTHONUNBUFFERED="1", COLUMNS="200")
        exe = Path(sys.executable).with_name("watchkeeper")
        proc = subprocess.Popen(
            [
                str(exe),
                "up",
                "--plan",
                str(ROOT / "examples/watchkeeper.yaml"),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert proc.stdout is not None
            link = None
            for line in proc.stdout:
                found = re.search(r"(http://\S+/setup\?token=[\w-]+)", line)
                if found:
                    link = found.group(1)
                    break
            assert link, "server did not print a setup link"
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base) as client:
                page = client.get(link)
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                assert csrf
                client.post(
                    "/setup",
                    data={
                        "token": link.split("token=")[1],
                        "username": "loadtester",
                        "password": PASSWORD,
                        "csrf_token": csrf.group(1),
                    },
                )
                cookies = client.cookies
            print(
                f"machine: {os.cpu_count()} cores, {platform.machine()}, python "
                f"{platform.python_version()}; {args.concurrency} clients x "
                f"{args.seconds:.0f}s, one server process (SQLite)"
            )
            if shutil.which("wrk"):
                cookie = f"wk_session={cookies.get('wk_session')}"
                for path in ("/healthz", "/api/v1/objects/checks"):
                    run_wrk(base + path, args.seconds, args.concurrency, cookie)
                return
            for path in ("/healthz", "/api/v1/objects/checks"):
                count, lat = asyncio.run(drive(base, path, args.seconds, args.concurrency, cookies))
                q = statistics.quantiles(lat, n=100)
                print(
                    f"{path:26} {count / args.seconds:8,.0f} req/s   p50 {q[49] * 1000:6.1f} ms"
                    f"   p95 {q[94] * 1000:6.1f} ms   p99 {q[98] * 1000:6.1f} ms"
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
