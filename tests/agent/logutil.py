"""Helpers of the agent's log tests: drive a log shipper, read what it spooled."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.agent.conftest import agent_config
from watchkeeper.agent.checkpoint import split_header
from watchkeeper.agent.log_sources import LogSources
from watchkeeper.agent.logship import LogShipper
from watchkeeper.agent.push import Pusher
from watchkeeper.agent.spool import LOGS, Spool
from watchkeeper.logs.config import FileSource


def spooled_lines(spool: Spool, *, remove: bool = True) -> list[dict[str, Any]]:
    """The NDJSON objects of the spooled log batches, oldest first (acknowledged, unless
    ``remove`` is False)."""
    out = []
    for entry in spool.entries(LOGS):
        body = spool.read(entry)
        assert body is not None
        header, payload = split_header(body)
        assert header is not None
        out += [json.loads(line) for line in gzip.decompress(payload).splitlines() if line]
        if remove:
            spool.remove(entry)
    return out


def append(path: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    with path.open("ab") as fh:
        fh.write(data)


def with_plan(shipper: Shipper, *sources: FileSource) -> None:
    """Give the shipper plan sources, as if the server had sent them."""
    shipper.shipper._plan = LogSources(files=list(sources))
    shipper.shipper.reconcile()


def messages(spool: Spool) -> list[str]:
    return [line["message"] for line in spooled_lines(spool)]


class Shipper:
    """A log shipper of an agent with no reachable server (its plan sources are given
    here), driven cycle by cycle."""

    def __init__(self, tmp_path: Path, tail: list[str], **overrides: Any) -> None:
        values: dict[str, Any] = {
            "tail": tuple(tail),
            "log_glob_every": 0.0,
            "log_close_after": 0.0,
            "log_poll": 0.02,
        }
        values.update(overrides)
        self.config = dataclasses.replace(
            agent_config("http://127.0.0.1:9", "wk_token", tmp_path / "spool"), **values
        )
        self.spool = Spool(self.config.spool_dir, self.config.spool_max_bytes)
        self.pusher = Pusher(self.config.server, self.config.token)
        self.shipper = LogShipper(self.config, self.spool, self.pusher)
        self.shipper.reconcile()

    def cycle(self, times: int = 3) -> int:
        """Run ``times`` cycles (a rename is seen by one, the rotated file closed by the
        next); return the lines spooled."""
        total = 0
        for _ in range(times):
            busy = True
            while busy:
                busy, lines = self.shipper.cycle()
                total += lines
        return total

    def close(self) -> None:
        asyncio.run(self._close())

    async def _close(self) -> None:
        await self.shipper.close()
        await self.pusher.close()


def until(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
