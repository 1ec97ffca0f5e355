"""Agent tests: API tokens for pushes, and agent settings pointing at a test server."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import remember_secret
from watchkeeper.agent.config import AgentConfig
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.tokens import create_service_account, create_token, get_service_account
from watchkeeper.exceptions import NotFoundError
from watchkeeper.metrics.labels import STALE_NAN, make_labels
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Host


def agent_token(ctx: AppContext, role: str = "operator") -> str:
    """Make a service account (once per store) and return a new token of ``role`` for it."""
    with ctx.sessions() as db:
        try:
            owner = get_service_account(db, "agents")
        except NotFoundError:
            create_service_account(db, Actor("test"), "agents", "admin")
            owner = get_service_account(db, "agents")
        token = create_token(
            db, Actor("test"), owner, f"agent-{role}-{uuid.uuid4().hex[:6]}", role
        ).token
        db.commit()
    return remember_secret(token)


def agent_config(server: str, token: str, spool: Path, **overrides: object) -> AgentConfig:
    """Settings of an agent for host "test-host" with a short interval and quick retries."""
    values: dict[str, object] = {
        "server": server,
        "token": token,
        "host_name": "test-host",
        "interval": 0.2,
        "spool_dir": spool,
        "spool_max_bytes": 10 * 1024 * 1024,
        "retry_initial": 0.05,
        "retry_max": 0.5,
    }
    values.update(overrides)
    return AgentConfig(**values)  # type: ignore[arg-type]


INVENTORY = {"os": {"name": "Debian GNU/Linux", "version": "12 (bookworm)"}, "interval_seconds": 10}


def labels(name: str, host: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return make_labels({"__name__": name, "instance": host, "job": "agent", **extra})


def add_host(
    ctx: AppContext, name: str, now: datetime, *, seen: timedelta = timedelta(0), busy: float = 0.5
) -> None:
    """A host with 2 CPUs ``busy`` for the last minute, 75 % memory used, and two
    filesystems: / at 60 % and /data at 95 % (and a full one since unmounted)."""
    end = int(now.timestamp() * 1000)
    times = [end - 60_000 + i * 10_000 for i in range(7)]
    idle = 1 - busy
    batch = [
        (
            labels("node_cpu_seconds_total", name, cpu=str(c), mode=mode),
            [
                (t, 1000.0 + (i * 10 * (idle if mode == "idle" else busy)))
                for i, t in enumerate(times)
            ],
        )
        for c in range(2)
        for mode in ("idle", "user")
    ]
    batch += [
        (labels("node_memory_MemTotal_bytes", name), [(times[-1], 1000.0)]),
        (labels("node_memory_MemAvailable_bytes", name), [(times[-1], 250.0)]),
    ]
    for mount, avail in (("/", 40.0), ("/data", 5.0), ("/gone", 0.0)):
        fs = {"mountpoint": mount, "device": "/dev/x", "fstype": "ext4"}
        # /gone was full, then unmounted: its series end with staleness markers.
        last_size, last_avail = (STALE_NAN, STALE_NAN) if mount == "/gone" else (100.0, avail)
        batch += [
            (
                labels("node_filesystem_size_bytes", name, **fs),
                [(times[-2], 100.0), (times[-1], last_size)],
            ),
            (
                labels("node_filesystem_avail_bytes", name, **fs),
                [(times[-2], avail), (times[-1], last_avail)],
            ),
        ]
    ctx.metrics.write(batch)
    with ctx.sessions() as db:
        db.add(
            Host(
                name=name,
                first_seen=now - timedelta(days=1),
                last_seen=now - seen,
                agent_version="0.3.0",
                inventory=INVENTORY,
            )
        )
        db.commit()
