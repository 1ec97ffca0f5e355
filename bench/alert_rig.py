"""The rig of bench/alert_latency.py: a `watchkeeper up` process, its store and log, and the
loopback peers it talks to (the check's target and the webhook receiver)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from watchkeeper.auth.audit import Actor
from watchkeeper.auth.tokens import create_service_account, create_token
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.store.engine import display_url, make_engine, normalise_url, session_factory
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import CheckResult, User

WAIT = 60.0  # longest wait for any one notification before the bench gives up


class BenchError(Exception):
    """The bench cannot go on (the server did not start, a notification never came)."""


@dataclass(frozen=True)
class Delivery:
    """One webhook request as the receiver got it (``at``: time.monotonic())."""

    at: float
    body: dict[str, Any]

    @property
    def alertname(self) -> str:
        return str(self.body.get("commonLabels", {}).get("alertname", ""))

    @property
    def status(self) -> str:
        return str(self.body.get("status", ""))

    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self.body.get("alerts", []) if a.get("status") == "firing"]

    def fired_at(self) -> float:
        """The earliest ``startsAt`` of its firing alerts, as a Unix time."""
        return min(datetime.fromisoformat(a["startsAt"]).timestamp() for a in self.firing())


def is_(alertname: str, status: str) -> Callable[[Delivery], bool]:
    return lambda d: d.alertname == alertname and d.status == status


class Peers:
    """The check's target (200 while ``up``, else 500) and the webhook receiver."""

    def __init__(self) -> None:
        self.up = True
        self.deliveries: list[Delivery] = []
        self._arrived = asyncio.Condition()
        self._runners: list[web.AppRunner] = []

    async def _target(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self.up else 500, text="ok" if self.up else "down")

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._arrived:
            self.deliveries.append(Delivery(time.monotonic(), body))
            self._arrived.notify_all()
        return web.Response(text="ok")

    async def start(self) -> tuple[int, int]:
        """Serve both on loopback; return (target port, receiver port)."""
        ports = []
        for path, handler in (("/", self._target), ("/hook", self._hook)):
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", path, handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            self._runners.append(runner)
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            await web.SockSite(runner, sock).start()
            ports.append(int(sock.getsockname()[1]))
        return ports[0], ports[1]

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    async def wait(self, since: int, match: Callable[[Delivery], bool]) -> tuple[int, Delivery]:
        """Return the first delivery from index ``since`` on that ``match``es, and its index;
        raise BenchError after WAIT seconds."""
        try:
            async with asyncio.timeout(WAIT), self._arrived:
                while True:
                    for i in range(since, len(self.deliveries)):
                        if match(self.deliveries[i]):
                            return i, self.deliveries[i]
                    since = len(self.deliveries)
                    await self._arrived.wait()
        except TimeoutError:
            raise BenchError(f"no matching notification within {WAIT:.0f} s") from None


@contextmanager
def database(url: str | None, home: Path) -> Iterator[tuple[str, str]]:
    """Yield (store URL, description): SQLite in ``home``, or a throw-away database on the
    PostgreSQL server of ``url``, dropped afterwards."""
    if not url:
        yield f"sqlite:///{home / 'watchkeeper.db'}", f"SQLite {sqlite3.sqlite_version} (WAL)"
        return
    name = f"wk_bench_alerts_{uuid.uuid4().hex[:8]}"
    try:
        parsed = make_url(normalise_url(url))
        if parsed.get_backend_name() != "postgresql":
            raise BenchError("--database-url must be a postgresql:// URL")
        admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except (WatchkeeperError, SQLAlchemyError) as exc:
        reason = getattr(exc, "orig", None) or exc
        raise BenchError(f"cannot create a database on {display_url(url)}: {reason}") from None
    try:
        yield (
            parsed.set(database=name).render_as_string(hide_password=False),
            f"PostgreSQL {version} (throw-away database {name} on {parsed.host}:{parsed.port})",
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def watchkeeper_up(home: Path, plan: Path, url: str, port: int) -> Iterator[ServerLog]:
    """Run `watchkeeper up` (JSON logs) until the block ends; yield its log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env.update(
        WATCHKEEPER_HOME=str(home),
        WATCHKEEPER_DATABASE_URL=url,
        WATCHKEEPER_LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    log = ServerLog(home / "server.log")
    exe = Path(sys.executable).with_name("watchkeeper")
    cmd = [str(exe), "up", "--plan", str(plan), "--listen", f"127.0.0.1:{port}"]
    with log.path.open("wb") as out:
        # its own session: Ctrl-C reaches the bench only, which then stops the server
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield log
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class ServerLog:
    """The server's log: when it logged what (its JSON lines carry UTC milliseconds)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def times(self, logger: str, prefix: str, since: float) -> list[float]:
        """Unix times of the lines of ``logger`` whose message starts with ``prefix``."""
        out = []
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.startswith("{") or prefix not in line:
                    continue
                doc = json.loads(line)
                if doc.get("logger") == logger and str(doc.get("msg", "")).startswith(prefix):
                    at = datetime.fromisoformat(doc["ts"]).timestamp()
                    if at >= since:
                        out.append(at)
        return out

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.path.read_text(errors="replace").splitlines()[-lines:])


class Store:
    """The bench's own connection to the server's store."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def operator_token(self) -> str:
        """Migrate the store and return an operator API token for remote-write."""
        upgrade(self.engine)
        with session_factory(self.engine)() as db:
            create_service_account(db, Actor("bench"), "bench-writer", "operator")
            user = db.scalar(select(User).where(User.username == "bench-writer"))
            assert user is not None
            token = create_token(db, Actor("bench"), user, "remote-write", "operator").token
            db.commit()
        return token

    def failing_runs(self, check: str, since: float) -> list[float]:
        """Start times (Unix) of the failing runs of ``check`` from ``since`` on."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(CheckResult.at)
                .where(
                    CheckResult.name == check,
                    CheckResult.ok.is_(False),
                    CheckResult.at >= datetime.fromtimestamp(since, UTC),
                )
                .order_by(CheckResult.at)
            )
            return [r.at.timestamp() for r in rows]
