"""The agent's hardening audits: ask the server every minute for the profile matching this
host (``GET /api/v1/agent/hardening?host=``), audit the host when the profile's interval has
passed since the last audit (or an admin asked for one), and send the results (``POST
/api/v1/agent/hardening``).

The last profile and when the host was last audited are kept in the state directory, so a
restart neither audits again early nor forgets the profile while the server is away; a run
the server has not taken yet waits there too (``hardening-pending.json``) and is sent when
it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from watchkeeper.agent.checkpoint import write_atomically
from watchkeeper.agent.config import AgentConfig
from watchkeeper.agent.push import Pusher, PushFailed
from watchkeeper.security.hardening.audits import audit_host
from watchkeeper.security.hardening.profiles import AppliedProfile
from watchkeeper.security.hardening.runner import Report
from watchkeeper.security.hardening.wire import applied_from
from watchkeeper.store.tables import utcnow

log = logging.getLogger(__name__)

PROFILE_PATH = "/api/v1/agent/hardening"
STATE_FILE = "hardening.json"
PENDING_FILE = "hardening-pending.json"


class HardeningAuditor:
    """One agent's hardening audits (see the module docstring)."""

    def __init__(self, config: AgentConfig, pusher: Pusher, *, every: float = 60.0) -> None:
        self.config = config
        self.pusher = pusher
        self.every = every
        self.state_dir = config.state_directory
        self.applied: AppliedProfile | None = None
        self.last_ran: datetime | None = None
        self._fetch_failing = False
        self._load_state()

    def own_files(self) -> list[tuple[str, Path]]:
        """The agent's own data and key files, for ``WK-FILE-MODES``."""
        files = [
            ("spool directory", self.config.spool_dir),
            ("state directory", self.state_dir),
        ]
        if self.config.token_file is not None:
            files.append(("API token file", self.config.token_file))
        return files

    async def run(self, stop: asyncio.Event) -> None:
        """Ask, audit and send every ``every`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.cycle()
            except Exception as exc:  # one bad audit must not end the agent
                log.error("hardening audit failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)

    async def cycle(self) -> Report | None:
        """Refresh the profile, send a waiting run, audit when due; return the new report."""
        requested = await self._refresh()
        await self._send_pending()
        if self.applied is None or not self._due(requested):
            return None
        report = await asyncio.to_thread(
            audit_host, self.applied, self.config.host_name, self.own_files()
        )
        self.last_ran = report.ran_at
        body = {
            "host": report.host,
            "profile": report.profile,
            "ran_at": report.ran_at.isoformat(),
            "results": [o.as_dict() for o in report.outcomes],
        }
        await asyncio.to_thread(self._write, PENDING_FILE, body)
        await asyncio.to_thread(self._save_state)
        log.info(
            "hardening audit: index %s, %d failed",
            f"{report.index:g}" if report.possible else "n/a",
            report.count("fail"),
        )
        await self._send_pending()
        return report

    def _due(self, requested: datetime | None) -> bool:
        assert self.applied is not None
        if self.last_ran is None:
            return True
        if requested is not None and requested > self.last_ran:
            return True
        return utcnow() - self.last_ran >= self.applied.profile.interval

    async def _refresh(self) -> datetime | None:
        try:
            doc = await self.pusher.get_json(PROFILE_PATH, {"host": self.config.host_name})
        except PushFailed as exc:
            if not self._fetch_failing:
                level = logging.INFO if exc.status == 404 else logging.WARNING
                log.log(level, "cannot get this host's hardening profile: %s", exc)
            self._fetch_failing = True
            return None
        if self._fetch_failing:
            log.info("got this host's hardening profile again")
        self._fetch_failing = False
        applied, requested = applied_from(doc)
        if applied != self.applied:
            self.applied = applied
            await asyncio.to_thread(self._save_state)
            if applied is not None:
                log.info("hardening profile: %s", applied.label)
        return requested

    async def _send_pending(self) -> None:
        path = self.state_dir / PENDING_FILE
        try:
            raw = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read the waiting hardening results %s: %s", path, exc)
            return
        try:
            await self.pusher.post_gzip_json(PROFILE_PATH, gzip.compress(raw, 5))
        except PushFailed as exc:
            if exc.permanent:
                log.error("hardening results refused, dropped: %s", exc)
                path.unlink(missing_ok=True)
            else:
                log.debug("hardening results wait for the server: %s", exc)
            return
        path.unlink(missing_ok=True)

    # -- state -----------------------------------------------------------------------------

    def _load_state(self) -> None:
        path = self.state_dir / STATE_FILE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("cannot read the saved hardening state %s: %s", path, exc)
            return
        if isinstance(doc, dict):
            with contextlib.suppress(TypeError, ValueError):
                self.last_ran = datetime.fromisoformat(str(doc.get("last_ran")))
            self.applied, _ = applied_from(doc.get("answer"))

    def _save_state(self) -> None:
        answer: dict[str, Any] | None = None
        if self.applied is not None:
            answer = {
                "profiles": list(self.applied.names),
                "profile": self.applied.profile.model_dump(mode="json"),
            }
        doc = {
            "last_ran": self.last_ran.isoformat() if self.last_ran else None,
            "answer": answer,
        }
        self._write(STATE_FILE, doc)

    def _write(self, name: str, doc: dict[str, Any]) -> None:
        path = self.state_dir / name
        try:
            write_atomically(path, json.dumps(doc).encode())
        except OSError as exc:
            log.warning("cannot save %s: %s", path, exc)
