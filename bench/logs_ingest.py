"""Log ingest end to end (issue 7): lines/s from a sender process until every line is stored.

    .venv/bin/python bench/logs_ingest.py [--lines 1000000] [--only syslog|http]

A real server (the app under uvicorn, in its own process, on a temporary home with a plan
enabling ``logs.syslog.tcp``) receives N ~120-byte RFC 3164 lines over one TCP connection,
then N NDJSON lines over HTTP (``POST /api/v1/logs``, 5,000 lines a request, two
connections, an operator token). The sender is a separate process so that it does not share
the server's GIL; the bodies are built before the clock starts. The clock stops when the
server's ``watchkeeper_log_lines_total{outcome="accepted"}`` (counted once the lines are in
the store's write-ahead log and heads) reaches N. Printed per receiver: lines/s, CPU seconds
of the server process (psutil), and the store's bytes on disk per raw byte sent (WAL
included: the heads are not yet cut into chunks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import platform
import random
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from logs_storage import lines  # noqa: E402

from watchkeeper.auth.audit import Actor  # noqa: E402
from watchkeeper.auth.tokens import create_service_account, create_token  # noqa: E402
from watchkeeper.runtime.context import AppContext  # noqa: E402
from watchkeeper.runtime.server import serve as up  # noqa: E402
from watchkeeper.settings import load_settings  # noqa: E402
from watchkeeper.store.engine import make_engine, session_factory  # noqa: E402
from watchkeeper.store.migrate import upgrade  # noqa: E402
from watchkeeper.store.tables import User  # noqa: E402

console = Console(stderr=True)
HTTP_BATCH = 5_000
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
SEVERITY = {"error": 3, "warn": 4, "info": 6, "debug": 7}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def syslog_body(count: int) -> bytes:
    """``count`` RFC 3164 lines, newline-framed."""
    out = []
    for ts, host, app, level, message in lines(count, time.time() - 86400):
        t = time.gmtime(ts)
        stamp = (
            f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        )
        pri = 8 + SEVERITY[level]  # facility user
        out.append(f"<{pri}>{stamp} {host} {app}[{random.randrange(1, 32768)}]: {message}\n")
    return "".join(out).encode()


def ndjson_bodies(count: int) -> list[bytes]:
    bodies, part = [], []
    for ts, host, app, level, message in lines(count, time.time() - 86400, seed=11):
        part.append(
            json.dumps(
                {
                    "timestamp": int(ts * 1e9),
                    "host": host,
                    "app": app,
                    "level": level,
                    "message": message,
                },
                separators=(",", ":"),
            )
        )
        if len(part) == HTTP_BATCH:
            bodies.append(("\n".join(part) + "\n").encode())
            part = []
    if part:
        bodies.append(("\n".join(part) + "\n").encode())
    return bodies


def serve(home: str, port: int, plan: str) -> None:
    """The real ``watchkeeper up`` process: plan applied, log receivers and writer running."""
    settings = load_settings(
        env={},
        home=home,
        database_url=f"sqlite:///{home}/wk.db",
        plan_path=plan,
        listen=f"127.0.0.1:{port}",
    )
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(up(AppContext.create(settings, env={}), lambda _: None))


def operator_token(home: str) -> str:
    engine = make_engine(f"sqlite:///{home}/wk.db")
    upgrade(engine)
    with session_factory(engine)() as db:
        create_service_account(db, Actor("bench"), "shipper", "operator")
        user = db.scalar(select(User).where(User.username == "shipper"))
        assert user is not None
        token = create_token(db, Actor("bench"), user, "logs", "operator").token
        db.commit()
    engine.dispose()
    return token


@contextmanager
def server(home: str, plan: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = multiprocessing.Process(target=serve, args=(home, port, plan), daemon=True)
    proc.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not proc.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.1)
    try:
        assert proc.pid is not None
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.join(10)


def accepted(base: str, source: str) -> int:
    """The server's count of lines stored from ``source``."""
    total = 0.0
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if (
            line.startswith("watchkeeper_log_lines_total{")
            and f'source="{source}"' in line
            and 'outcome="accepted"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def send_tcp(port: int, body: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(body)


def send_http(base: str, token: str, bodies: list[bytes], worker: int, workers: int) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for body in bodies[worker::workers]:
            resp = client.post("/api/v1/logs", content=body)
            if resp.status_code != 200:
                raise RuntimeError(f"/api/v1/logs answered {resp.status_code}: {resp.text[:200]}")


def wait_stored(base: str, source: str, count: int, before: int, label: str) -> None:
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(label, total=count)
        while True:
            done = accepted(base, source) - before
            progress.update(task, completed=done)
            if done >= count:
                return
            time.sleep(0.2)


def run(kind: str, count: int, base: str, pid: int, port: int, token: str, home: str) -> None:
    server_proc = psutil.Process(pid)
    if kind == "syslog":
        payload: bytes | list[bytes] = syslog_body(count)
        raw = len(payload)  # type: ignore[arg-type]
        source = "syslog_tcp"
    else:
        payload = ndjson_bodies(count)
        raw = sum(len(json.loads(line)["message"]) for line in payload[0].splitlines())
        raw = raw * len(payload)  # messages only: what a syslog line would carry, roughly
        source = "http"
    before = accepted(base, source)
    store_before = dir_size(Path(home) / "logs")
    cpu0 = sum(server_proc.cpu_times()[:2]) + sum(
        sum(c.cpu_times()[:2]) for c in server_proc.children(recursive=True)
    )
    start = time.perf_counter()
    if kind == "syslog":
        senders = [multiprocessing.Process(target=send_tcp, args=(port, payload))]
    else:
        senders = [
            multiprocessing.Process(target=send_http, args=(base, token, payload, w, 2))
            for w in range(2)
        ]
    for s in senders:
        s.start()
    wait_stored(base, source, count, before, kind)
    elapsed = time.perf_counter() - start
    for s in senders:
        s.join(30)
    cpu = sum(server_proc.cpu_times()[:2]) - cpu0
    stored = dir_size(Path(home) / "logs") - store_before
    print(
        f"{kind:7} {count:>10,} lines: {count / elapsed:>9,.0f} lines/s end to end"
        f" ({elapsed:.1f} s), server CPU {cpu:.1f} s ({count / max(cpu, 1e-9):,.0f} lines per"
        f" CPU second), stored {stored / max(raw, 1):.2f} x raw ({raw / 1e6:,.0f} MB raw)"
    )


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("syslog", "http"))
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, python"
        f" {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="wk-logs-ingest-") as home:
        syslog_port = free_port()
        plan = Path(home) / "watchkeeper.yaml"
        plan.write_text(f"logs:\n  syslog:\n    tcp: 127.0.0.1:{syslog_port}\n")
        token = operator_token(home)
        with server(home, str(plan)) as (base, pid):
            for kind in ("syslog", "http"):
                if args.only and kind != args.only:
                    continue
                if kind == "syslog" and not listening(syslog_port, 15):
                    print("syslog  skipped: nothing listens on the plan's logs.syslog.tcp port")
                    continue
                run(kind, args.lines, base, pid, syslog_port, token, home)


def listening(port: int, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


if __name__ == "__main__":
    main()
