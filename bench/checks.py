"""Check throughput and memory: HTTP checks per second against a local target, and the
resident memory of a server running many scheduled checks.

python bench/checks.py [--checks 2000] [--seconds 20] [--database-url URL]
                       [--scheduled 10000] [--settle 360]

The target is a minimal keep-alive HTTP responder in its own process (so that it does not
compete for this process's GIL). Every check runs each second; the figure is the number of
results the runner stores per second, i.e. checks run, judged and written to the store.

The memory figure is the whole server's: ``watchkeeper up`` (SQLite store, every service
running) with a plan of ``--scheduled`` HTTP checks every 5 minutes, its RSS sampled every
5 s for ``--settle`` seconds (longer than one interval, so every check has run at least
once). It prints the RSS at the end and the peak (``VmHWM``: the plan's first apply).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from watchkeeper.checks.runner import CheckRunner
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime import malloc_tuning
from watchkeeper.store.engine import make_engine, session_factory
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import CheckResult

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def serve(sock: socket.socket) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=sock, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def status_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def server_memory(plan_text: str, settle: float) -> tuple[float, float]:
    """Run ``watchkeeper up`` with ``plan_text`` for ``settle`` seconds; return its RSS at the
    end and its peak, in MB."""
    cli = Path(sys.executable).with_name("watchkeeper")
    with tempfile.TemporaryDirectory() as tmp:
        plan_file = Path(tmp) / "plan.yaml"
        plan_file.write_text(plan_text)
        env = {**os.environ, "WATCHKEEPER_HOME": tmp}
        env.pop("WATCHKEEPER_DATABASE_URL", None)
        subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            listen = f"127.0.0.1:{probe.getsockname()[1]}"
        server = subprocess.Popen(
            [cli, "up", "--plan", plan_file, "--listen", listen],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + settle
            while time.monotonic() < deadline:
                time.sleep(5)
                if server.poll() is not None:
                    raise SystemExit(f"watchkeeper up exited with {server.returncode}")
                print(
                    f"\r  server RSS {status_mb(server.pid, 'VmRSS'):.0f} MB "
                    f"({deadline - time.monotonic():.0f}s to go)   ",
                    end="",
                    flush=True,
                )
            print()
            return status_mb(server.pid, "VmRSS"), status_mb(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=30)


def plan(n: int, port: int, interval: str) -> str:
    lines = ["checks:"]
    for i in range(n):
        lines.append(
            f"  - {{name: svc-{i}, type: http, url: 'http://127.0.0.1:{port}/h{i}', "
            f"interval: {interval}, timeout: 5s}}"
        )
    return "\n".join(lines) + "\n"


async def drive(sessions, seconds: float) -> None:  # type: ignore[no-untyped-def]
    runner = CheckRunner(sessions, flush_interval=1.0, reload_interval=3600)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(seconds)
    await runner.stop(grace=5)
    await task


def count(sessions) -> int:  # type: ignore[no-untyped-def]
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(CheckResult)) or 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--scheduled",
        type=int,
        default=10_000,
        help="checks scheduled (interval 5m) in the server of the memory figure",
    )
    parser.add_argument(
        "--settle", type=float, default=360, help="seconds the server runs before its RSS is read"
    )
    parser.add_argument("--database-url")
    args = parser.parse_args()
    malloc_tuning.keep_freed_memory()  # the allocator settings of `watchkeeper up`
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    port = sock.getsockname()[1]
    target = multiprocessing.Process(target=serve, args=(sock,), daemon=True)
    target.start()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, python {platform.python_version()}"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
            engine = make_engine(url)
            upgrade(engine)
            sessions = session_factory(engine)
            with sessions() as db:
                apply_plan(db, load_plan_text(plan(args.checks, port, "1s")))
                db.commit()
            start = time.perf_counter()
            asyncio.run(drive(sessions, args.seconds))
            elapsed = time.perf_counter() - start
            done = count(sessions)
            print(
                f"{args.checks} HTTP checks every 1s for {args.seconds:.0f}s "
                f"({engine.dialect.name}): {done / elapsed:,.0f} checks/s stored "
                f"({done:,} results; {done / (args.checks * elapsed) * 100:.0f}% of schedule)"
            )
            engine.dispose()
        rss, peak = server_memory(plan(args.scheduled, port, "5m"), args.settle)
        print(
            f"watchkeeper up with {args.scheduled:,} HTTP checks every 5m: RSS {rss:.0f} MB "
            f"after {args.settle:.0f}s, peak {peak:.0f} MB (the plan's first apply)"
        )
    finally:
        target.terminate()


if __name__ == "__main__":
    main()
