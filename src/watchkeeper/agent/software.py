"""The agent's inventories of installed software (the plan's ``security.inventories``).

What to collect is asked of the server (``GET /api/v1/agent/inventories?host=NAME``: the
matching inventories, merged) at start and every ``log_sources_every`` seconds, and kept in
the state directory (``software.json``) with what was last sent, so that collection goes on
while the server is away and a restart does not resend everything.

Every ``interval`` the inventories are collected in a worker thread (each location bounded
by a timeout, see ``security/inventory/collect.py``) and one report is put into the spool
(kind ``packages``), which sends it to ``POST /api/v1/agent/packages`` whenever the server
takes it: nothing is lost while the server is down or restarting. The report lists every
location: in full when its digest changed since it was last sent (and at least once a day),
else by its digest only; a failed location with its error. When the server lacks a digest
(a batch dropped from a full spool, a restored store) it asks for that inventory again and
the next collection runs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from watchkeeper import __version__
from watchkeeper.agent.checkpoint import write_atomically
from watchkeeper.agent.config import AgentConfig
from watchkeeper.agent.push import Pusher, PushFailed
from watchkeeper.agent.spool import PACKAGES, Spool
from watchkeeper.security.inventory.collect import DEFAULT_TIMEOUT, collect
from watchkeeper.security.inventory.model import Collected
from watchkeeper.security.inventory.spec import InventorySpec
from watchkeeper.security.inventory.wire import report_entry

log = logging.getLogger(__name__)

SPECS_PATH = "/api/v1/agent/inventories"
PACKAGES_PATH = "/api/v1/agent/packages"
STATE_FILE = "software.json"
FULL_EVERY = 86400.0
"""Each inventory is sent in full at least this often (seconds), even when unchanged."""


def _key(ecosystem: str, location: str) -> str:
    return f"{ecosystem}\n{location}"


class SoftwareReporter:
    """Collects this host's inventories into the spool, and sends one spooled report."""

    def __init__(
        self,
        config: AgentConfig,
        spool: Spool,
        pusher: Pusher,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.config = config
        self.spool = spool
        self.pusher = pusher
        self.timeout = timeout
        self.spec: InventorySpec | None = None
        """None until the server answered once (or a saved answer was read)."""
        self.sent: dict[str, dict[str, Any]] = {}
        """Per location: the digest last spooled in full and when (Unix seconds)."""
        self.collected_at = 0.0
        self.collections = 0
        self.errors = 0
        """Locations that failed in the last collection."""
        self._lock = threading.Lock()
        self._wake = asyncio.Event()
        self._fetched_at = float("-inf")
        self._fetch_failing = False
        self._load_state()

    # -- state -----------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.config.state_directory / STATE_FILE

    def _load_state(self) -> None:
        try:
            doc = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("cannot read the saved inventory state %s: %s", self.state_path, exc)
            return
        if not isinstance(doc, dict):
            return
        if isinstance(doc.get("spec"), dict):
            try:
                self.spec = InventorySpec.model_validate(doc["spec"])
            except ValidationError:
                self.spec = None
        sent = doc.get("sent")
        if isinstance(sent, dict):
            self.sent = {
                k: v
                for k, v in sent.items()
                if isinstance(v, dict)
                and isinstance(v.get("digest"), str)
                and isinstance(v.get("at"), int | float)
            }
        at = doc.get("collected_at")
        self.collected_at = float(at) if isinstance(at, int | float) else 0.0

    def _state_text(self) -> str:
        with self._lock:
            return json.dumps(
                {
                    "spec": self.spec.model_dump() if self.spec is not None else None,
                    "sent": self.sent,
                    "collected_at": self.collected_at,
                }
            )

    def _save_state(self) -> None:
        """Write the state atomically. Blocking."""
        path = self.state_path
        try:
            write_atomically(path, self._state_text().encode())
        except OSError as exc:
            log.warning("cannot save the inventory state in %s: %s", path, exc)

    # -- specs -----------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Ask the server which inventories this host collects; keep the last answer when
        it cannot say."""
        self._fetched_at = time.monotonic()
        try:
            doc = await self.pusher.get_json(SPECS_PATH, {"host": self.config.host_name})
        except PushFailed as exc:
            if exc.status == 404 and self.spec is None:
                log.info("%s takes no inventories (an older server?)", self.pusher.server)
                self.spec = InventorySpec()
            elif not self._fetch_failing:
                log.warning("cannot get this host's inventories: %s; keeping the last ones", exc)
            self._fetch_failing = True
            return
        self._fetch_failing = False
        try:
            spec = InventorySpec.model_validate(doc)
        except ValidationError as exc:
            log.warning("cannot use the inventories the server sent: %s", exc)
            return
        if spec == self.spec:
            return
        self.spec = spec
        await asyncio.to_thread(self._save_state)
        if spec.empty:
            log.info("no inventory of installed software applies to this host")
        else:
            log.info(
                "inventories %s: collected every %gs",
                ", ".join(spec.inventories),
                spec.interval_seconds,
            )
        self._wake.set()

    def due_in(self, now: float) -> float:
        """Seconds until the next collection is due (infinite when nothing is collected)."""
        spec = self.spec
        if spec is None or spec.empty:
            return float("inf")
        wait = self.collected_at + spec.interval_seconds - now
        return 0.0 if wait <= 0 or wait > spec.interval_seconds else wait

    # -- collecting ------------------------------------------------------------------------

    def collect_and_spool(self) -> bool:
        """Collect the inventories and spool one report; return True when it was spooled.
        Blocking: runs in a worker thread."""
        spec = self.spec
        if spec is None or spec.empty:
            return False
        started = time.time()
        found = collect(spec, timeout=self.timeout)
        with self._lock:
            sent = dict(self.sent)
        full = {
            c.key
            for c in found
            if not c.error
            and (
                (last := sent.get(_key(*c.key))) is None
                or last["digest"] != c.digest
                or started - last["at"] >= FULL_EVERY
            )
        }
        report = {
            "host": self.config.host_name,
            "collected_at": datetime.fromtimestamp(started, UTC).isoformat(),
            "complete": True,
            "agent_version": __version__,
            "inventories": [report_entry(c, full=c.key in full) for c in found],
        }
        body = gzip.compress(json.dumps(report, separators=(",", ":")).encode(), 6)
        self.collections += 1
        self.collected_at = started
        try:
            self.spool.put(body, PACKAGES)
        except OSError as exc:
            log.error("cannot spool the inventories in %s: %s", self.spool.directory, exc)
            self._save_state()
            return False
        with self._lock:
            self._mark_sent(found, full, started)
        self._save_state()
        self._log(found, full)
        return True

    def _mark_sent(self, found: list[Collected], full: set[tuple[str, str]], at: float) -> None:
        present = {_key(*c.key) for c in found}
        self.sent = {k: v for k, v in self.sent.items() if k in present}
        for c in found:
            if c.key in full:
                self.sent[_key(*c.key)] = {"digest": c.digest, "at": at}

    def _log(self, found: list[Collected], full: set[tuple[str, str]]) -> None:
        failed = [c for c in found if c.error]
        self.errors = len(failed)
        log.info(
            "inventories collected: %d location(s), %d changed or due in full, %d failed",
            len(found),
            len(full),
            len(failed),
        )
        for c in failed:
            log.warning("inventory of %s %s failed: %s", c.ecosystem, c.location, c.error)

    # -- sending ---------------------------------------------------------------------------

    async def deliver(self, body: bytes) -> None:
        """Send one spooled report; raise PushFailed as the other sends do. Inventories
        the server asks for again are collected and sent in full at once."""
        answer = await self.pusher.post_gzip_json(PACKAGES_PATH, body)
        resend = answer.get("resend") if isinstance(answer, dict) else None
        if not isinstance(resend, list) or not resend:
            return
        keys = [
            _key(str(item.get("ecosystem")), str(item.get("location")))
            for item in resend
            if isinstance(item, dict)
        ]
        log.info("the server asks again for %d inventory(ies) in full", len(keys))
        with self._lock:
            for key in keys:
                self.sent.pop(key, None)
        self.collected_at = 0.0
        await asyncio.to_thread(self._save_state)
        self._wake.set()

    # -- loops -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, spooled: Callable[[], None]) -> None:
        """Ask for the specs and collect when due, until ``stop`` is set; call ``spooled``
        after each report put into the spool."""
        every = self.config.log_sources_every
        while not stop.is_set():
            if time.monotonic() - self._fetched_at >= every:
                await self.refresh()
            if self.due_in(time.time()) <= 0:
                try:
                    if await asyncio.to_thread(self.collect_and_spool):
                        spooled()
                except Exception as exc:  # one bad collection must not end the agent
                    log.error("collecting the inventories failed", exc_info=exc)
                    self.collected_at = time.time()
                continue
            next_fetch = self._fetched_at + every - time.monotonic()
            await self._sleep(stop, max(0.0, min(self.due_in(time.time()), next_fetch)))

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait ``seconds``, or until ``stop`` or a wake-up."""
        self._wake.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter

    async def once(self) -> bool:
        """Ask for the specs and collect now; return True when a report was spooled."""
        await self.refresh()
        return await asyncio.to_thread(self.collect_and_spool)
