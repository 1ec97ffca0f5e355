"""Nothing is lost across a server restart: `watchkeeper agent` and `watchkeeper up` run as
users run them, the server is stopped while the agent keeps collecting, and every batch
spooled meanwhile arrives once the server is back on the same port and store."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests import helpers
from tests.agent.conftest import agent_token
from tests.helpers import LOG_GUARD, UpProcess, current_test
from watchkeeper.metrics.labels import Matcher
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings

HOST = "restart-host"


def until(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stored(ctx: AppContext, name: str) -> tuple[list[int], list[float]]:
    """Timestamps and values of the agent's series ``name``, through the store's read."""
    found = ctx.metrics.select(
        [Matcher("__name__", "=", name), Matcher("instance", "=", HOST)], 0, 2**62
    )
    if not found:
        return [], []
    (series,) = found
    return series.ts.tolist(), series.values.tolist()


def spooled(spool: Path) -> int:
    return len(list(spool.glob("*.batch")))


def test_every_batch_spooled_while_the_server_was_down_arrives(tmp_path: Path) -> None:
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text("version: 1\nname: agent restart\n", encoding="utf-8")
    port = helpers.free_port()  # both servers on one port
    spool, log_path = tmp_path / "spool", tmp_path / "agent.log"
    settings = load_settings(env={}, home=tmp_path / "home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    exe = Path(sys.executable).with_name("watchkeeper")

    with UpProcess(tmp_path, plan, port) as up:
        up.wait_for(r"running at")
        ctx = AppContext.create(settings, {})
        token_file = tmp_path / "token"
        token_file.write_text(agent_token(ctx) + "\n", encoding="utf-8")
        with log_path.open("w", encoding="utf-8") as log:
            agent = subprocess.Popen(
                [
                    str(exe),
                    "agent",
                    "--server",
                    f"http://127.0.0.1:{port}",
                    "--token-file",
                    str(token_file),
                    "--interval",
                    "0.2s",
                    "--spool-dir",
                    str(spool),
                    "--host-name",
                    HOST,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            until(lambda: len(stored(ctx, "node_time_seconds")[0]) >= 3, "the first pushes")
            assert up.stop() == 0

            # The server is away: the agent keeps collecting, into its spool.
            until(lambda: spooled(spool) >= 15, "15 batches in the spool")
            before_restart = len(stored(ctx, "node_time_seconds")[0])

            with UpProcess(tmp_path, plan, port) as again:
                again.wait_for(r"running at")
                until(
                    lambda: len(stored(ctx, "node_time_seconds")[0]) >= before_restart + 15,
                    "the spooled batches to arrive",
                )
                agent.send_signal(signal.SIGTERM)
                assert agent.wait(timeout=30) == 0
                assert again.stop() == 0
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            output = log_path.read_text(encoding="utf-8")
            LOG_GUARD.note(f"{current_test()} (watchkeeper agent output)", output)

    left = re.search(r"agent stopped; (\d+) batch\(es\) left in the spool", output)
    assert left, output
    assert spooled(spool) == int(left.group(1))
    ts, counts = stored(ctx, "watchkeeper_agent_collections_total")
    clock_ts, clock = stored(ctx, "node_time_seconds")
    ctx.engine.dispose()
    # Each collection numbers itself: stored numbers 1..N without a hole mean no batch was
    # lost, and the ones still spooled at the end are the ones after N.
    assert counts == [float(n) for n in range(1, len(counts) + 1)], counts
    assert clock_ts == ts
    assert np.all(np.diff(clock) > 0)
    assert len(counts) >= before_restart + 15
    assert "is reachable again; sending" in output
    assert "Traceback" not in output
