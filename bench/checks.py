"""Check throughput and memory: HTTP checks per second against a local target, and RSS with
many scheduled checks.

python bench/checks.py [--checks 2000] [--seconds 20] [--database-url URL]

The target is a minimal keep-alive HTTP responder in its own process (so that it does not
compete for this process's GIL). Every check runs each second; the figure is the number of
results the runner stores per second, i.e. checks run, judged and written to the store.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import resource
import socket
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


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
        help="checks scheduled (interval 5m) for the memory figure",
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
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'mem.db'}")
            upgrade(engine)
            sessions = session_factory(engine)
            with sessions() as db:
                apply_plan(db, load_plan_text(plan(args.scheduled, port, "5m")))
                db.commit()
            asyncio.run(drive(sessions, 10))
            print(
                f"{args.scheduled:,} checks scheduled (every 5m, first runs spread over 10s): "
                f"peak RSS {rss_mb():.0f} MB for the whole process"
            )
            engine.dispose()
    finally:
        target.terminate()


if __name__ == "__main__":
    main()
