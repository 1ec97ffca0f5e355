"""The agent's loops: collect metrics every interval into the spool, read the log sources
into the spool (``logship.py``), collect the inventories of installed software into the
spool (``software.py``), and send the spool, oldest first, whenever the server takes it: one
sender per kind of batch, so that any can wait for the server without holding the others
back.

They are separate so that an absent or slow server never delays a collection: batches pile
up on disk (bounded, see ``spool.py``) and go out in order when the server is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

from watchkeeper.agent.batch import BatchBuilder
from watchkeeper.agent.checkpoint import split_header
from watchkeeper.agent.collect import Collector, Sample
from watchkeeper.agent.config import AgentConfig
from watchkeeper.agent.hardening import HardeningAuditor
from watchkeeper.agent.inventory import gather_inventory
from watchkeeper.agent.logship import LogShipper
from watchkeeper.agent.push import Backoff, Pusher, PushFailed
from watchkeeper.agent.software import SoftwareReporter
from watchkeeper.agent.spool import KINDS, LOGS, METRICS, PACKAGES, Entry, Spool

log = logging.getLogger(__name__)
STOP_GRACE = 5.0


class Agent:
    """One host's agent. ``run`` until ``stop``; or ``collect_once`` then ``flush``."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.spool = Spool(config.spool_dir, config.spool_max_bytes)
        self.collector = Collector()
        self.builder = BatchBuilder(config.host_name)
        self.pusher = Pusher(config.server, config.token, config.timeout)
        self.logs = LogShipper(config, self.spool, self.pusher)
        self.software = SoftwareReporter(config, self.spool, self.pusher)
        self.hardening = HardeningAuditor(config, self.pusher)
        self.backoffs = {kind: Backoff(config.retry_initial, config.retry_max) for kind in KINDS}
        self.backoff = self.backoffs[METRICS]
        self.collections = 0
        self.refused = 0
        self.push_failures = 0
        self._stop = asyncio.Event()
        self._wakes = {kind: asyncio.Event() for kind in KINDS}
        self._wake = self._wakes[METRICS]
        self._inventory: dict[str, Any] | None = None
        self._inventory_sent_at = 0.0
        self._inventory_checked_at = 0.0
        self._server_down = dict.fromkeys(KINDS, False)

    async def run(self) -> None:
        """Collect and send until ``stop()``; batches not yet sent stay in the spool."""
        log.info(
            "agent for host %s: pushing to %s every %gs; spool %s holds %d batch(es)",
            self.config.host_name,
            self.config.server,
            self.config.interval,
            self.spool.directory,
            len(self.spool),
        )
        senders = [
            asyncio.create_task(self._send_loop(kind), name=f"agent-send-{kind}") for kind in KINDS
        ]
        reader = asyncio.create_task(
            self.logs.run(self._stop, self._wakes[LOGS].set), name="agent-logs"
        )
        software = asyncio.create_task(
            self.software.run(self._stop, self._wakes[PACKAGES].set), name="agent-software"
        )
        hardening = asyncio.create_task(self.hardening.run(self._stop), name="agent-hardening")
        try:
            await self._collect_loop()
        finally:
            self.stop()
            # A send in flight may wait for a slow server; it is resent next time anyway.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(reader, software, hardening, *senders), STOP_GRACE
                )

    def stop(self) -> None:
        self._stop.set()
        for wake in self._wakes.values():
            wake.set()

    async def close(self) -> None:
        await self.logs.close()
        await self.pusher.close()
        self.collector.close()

    async def _collect_loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self._stop.is_set():
            try:
                await self.collect_once()
            except Exception as exc:  # one bad reading must not end the agent
                log.error("collection failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
            due += self.config.interval
            if due < loop.time():  # fell behind (a suspended VM): skip, do not burst
                due = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), due - loop.time())

    async def collect_once(self) -> Entry | None:
        """Collect one batch and spool it; return its spool entry (None if the disk
        refused it, which is logged)."""
        ts_ms = int(time.time() * 1000)
        samples = await asyncio.to_thread(self.collector.collect)
        self.collections += 1
        inventory = await self._inventory_due()
        body = self.builder.build(ts_ms, samples + self._self_metrics(), inventory)
        try:
            entry = await asyncio.to_thread(self.spool.put, body)
        except OSError as exc:
            log.error("cannot spool a batch in %s: %s", self.spool.directory, exc)
            return None
        if inventory is not None:
            self._inventory_sent_at = time.monotonic()
        self._wake.set()
        return entry

    async def _inventory_due(self) -> dict[str, Any] | None:
        """Return the inventory when it must go with this batch: the first time, when it
        changed, and at least every ``inventory_every`` seconds."""
        now = time.monotonic()
        first = self._inventory is None
        if not first and now - self._inventory_checked_at < self.config.inventory_check_every:
            return None
        self._inventory_checked_at = now
        try:
            current = await asyncio.to_thread(gather_inventory, self.collector.usage)
        except Exception as exc:  # the metrics must go out even when the inventory cannot
            log.warning("cannot gather the inventory: %s: %s", type(exc).__name__, exc)
            return None
        current["interval_seconds"] = self.config.interval  # the server judges staleness by it
        stale = now - self._inventory_sent_at >= self.config.inventory_every
        if first or current != self._inventory or stale:
            self._inventory = current
            return current
        return None

    def _self_metrics(self) -> list[Sample]:
        """The agent's own health, sent with the host's metrics."""
        logs, read = self.logs, self.logs.counters
        return [
            Sample("watchkeeper_agent_log_files", (), float(logs.files_tailed())),
            Sample("watchkeeper_agent_log_lines_read_total", (), float(read.lines)),
            Sample("watchkeeper_agent_log_lines_spooled_total", (), float(logs.lines_spooled)),
            Sample("watchkeeper_agent_log_lines_repaired_total", (), float(read.repaired)),
            Sample("watchkeeper_agent_log_lines_cut_total", (), float(read.cut)),
            Sample("watchkeeper_agent_log_truncations_total", (), float(read.truncations)),
            Sample(
                "watchkeeper_agent_log_dropped_batches_total",
                (),
                float(self.spool.dropped_by_kind[LOGS]),
            ),
            Sample("watchkeeper_agent_log_reading_paused", (), float(logs.paused)),
            Sample("watchkeeper_agent_collections_total", (), float(self.collections)),
            Sample("watchkeeper_agent_spool_bytes", (), float(self.spool.size_bytes)),
            Sample("watchkeeper_agent_spool_batches", (), float(len(self.spool))),
            Sample("watchkeeper_agent_dropped_batches_total", (), float(self.spool.dropped_total)),
            Sample("watchkeeper_agent_refused_batches_total", (), float(self.refused)),
            Sample("watchkeeper_agent_push_failures_total", (), float(self.push_failures)),
            Sample(
                "watchkeeper_agent_inventory_collections_total",
                (),
                float(self.software.collections),
            ),
            Sample("watchkeeper_agent_inventory_errors", (), float(self.software.errors)),
        ]

    async def _send_loop(self, kind: str) -> None:
        wake = self._wakes[kind]
        while not self._stop.is_set():
            if self.spool.oldest(kind) is None:
                wake.clear()
                await wake.wait()
                continue
            delay = await self.send_oldest(kind)
            if delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)

    async def send_oldest(self, kind: str | None = None) -> float:
        """Send the oldest spooled batch (of ``kind``, or of any kind); return 0 when it is
        done with (stored, or refused for good and dropped), else the seconds to wait
        before trying again."""
        entry = self.spool.oldest(kind)
        if entry is None:
            return 0.0
        backoff = self.backoffs[entry.kind]
        try:
            body = await asyncio.to_thread(self.spool.read, entry)
        except OSError as exc:
            log.error("cannot read spooled batch %s: %s", entry.path, exc)
            return backoff.next_delay()
        if body is None:  # dropped by the bound while we looked
            return 0.0
        what = {LOGS: "log batch", PACKAGES: "inventory batch"}.get(entry.kind, "batch")
        try:
            if entry.kind == LOGS:
                await self.pusher.send_logs(split_header(body)[1])
                result = None
            elif entry.kind == PACKAGES:
                await self.software.deliver(body)
                result = None
            else:
                result = await self.pusher.send(body)
        except PushFailed as exc:
            if exc.permanent:
                self.refused += 1
                log.error("%s refused, dropped: %s", what, exc)
                await asyncio.to_thread(self.spool.remove, entry)
                return 0.0
            self.push_failures += 1
            delay = backoff.next_delay(exc.retry_after)
            if not self._server_down[entry.kind]:
                # Refused credentials need a person (a new token); an absent server does not.
                level = logging.ERROR if exc.refused_credentials else logging.WARNING
                log.log(level, "%s; %ses stay in the spool until it answers", exc, what)
                self._server_down[entry.kind] = True
            log.debug("%s; next attempt in %.1fs", exc, delay)
            return delay
        await asyncio.to_thread(self.spool.remove, entry)
        backoff.reset()
        if self._server_down[entry.kind]:
            self._server_down[entry.kind] = False
            log.info(
                "%s is reachable again; sending %d spooled %s(es)",
                self.config.server,
                len(self.spool.entries(entry.kind)),
                what,
            )
        if result is not None and result.rejected:
            log.warning(
                "%s refused %d series of a batch, e.g. %s: %s",
                self.config.server,
                len(result.rejected),
                result.rejected[0].get("field"),
                result.rejected[0].get("message"),
            )
        return 0.0

    async def flush(self) -> bool:
        """Send every spooled batch now; return False when the server stopped taking them
        (they stay spooled)."""
        while self.spool.oldest() is not None:
            if await self.send_oldest():
                return False
        return True


async def run_agent(config: AgentConfig, *, once: bool = False) -> int:
    """Run an agent until SIGINT/SIGTERM; with ``once``, collect one batch, send what the
    spool holds and return. Return the exit status (1 when ``once`` left batches unsent)."""
    agent = Agent(config)
    loop = asyncio.get_running_loop()
    try:
        if once:
            await agent.collect_once()
            await agent.logs.once()
            await agent.software.once()
            await agent.hardening.cycle()
            return 0 if await agent.flush() else 1
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, agent.stop)
        try:
            await agent.run()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        log.info("agent stopped; %d batch(es) left in the spool", len(agent.spool))
        return 0
    finally:
        await agent.close()
