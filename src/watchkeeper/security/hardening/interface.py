"""What a hardening check is, what it is given and what it returns.

A check is a plain function registered with :func:`check`, under an id such as
``SSH-ROOT-LOGIN``, with a title, a weight (the points it is worth), the rationale and the
remediation shown next to a failure. It takes an :class:`AuditContext` and returns a
:class:`Result`: ``pass``, ``fail``, ``skip`` (it does not apply or cannot be judged here,
and says why) or ``error`` (something went wrong; the detail says what).

Every file a check reads goes through :meth:`AuditContext.path`, so that the same check
audits the live system (root ``/``) or a prepared directory tree (the tests, a mounted
image); every command goes through :meth:`AuditContext.run`, with a timeout.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.security.config import HardeningProfile
from watchkeeper.security.system_path import SYSTEM_PATH

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from watchkeeper.settings import Settings

Status = Literal["pass", "fail", "skip", "error"]
STATUSES: tuple[Status, ...] = ("fail", "error", "pass", "skip")
"""Every status, in the order they are shown (what needs attention first)."""
Scope = Literal["host", "server", "endpoint"]
"""Where a check runs: on every audited host; on the Watchkeeper server (its own posture,
which needs the store and the settings); against each monitored TLS endpoint."""


class CheckError(WatchkeeperError):
    """A check could not reach a verdict; the message says why (becomes an ``error``)."""


@dataclass(frozen=True)
class Result:
    """A check's verdict and the one-line detail shown with it."""

    status: Status
    detail: str


def passed(detail: str) -> Result:
    return Result("pass", detail)


def failed(detail: str) -> Result:
    return Result("fail", detail)


def skipped(detail: str) -> Result:
    return Result("skip", detail)


@dataclass(frozen=True)
class Endpoint:
    """A TLS endpoint the plan monitors (from its ``http`` checks with https URLs and its
    ``tls`` checks)."""

    host: str
    port: int
    server_name: str | None = None
    url: str | None = None
    """An https URL on it, requested for the HSTS header (None for ``tls`` checks only)."""
    checks: tuple[str, ...] = ()
    """The plan's checks that name it."""

    @property
    def name(self) -> str:
        """The pseudo-host its audits are stored under: ``tls://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tls://{host}:{self.port}"

    @property
    def origin(self) -> str:
        """``https://host:port``: what details show of it (never a check's path or query)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def sni(self) -> str:
        return self.server_name or self.host


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class AuditContext:
    """What a check is given: the profile, where the system's files are (``root``), how to
    run its commands, and for Watchkeeper's own posture its settings and store."""

    profile: HardeningProfile
    root: Path = Path("/")
    search_path: str = SYSTEM_PATH
    """Where commands are looked up, first (then the system's directories)."""
    command_timeout: float = 10.0
    max_files: int = 200_000
    """How many entries the world-writable walk looks at, at most, over all system paths."""
    own_files: Sequence[tuple[str, Path]] = ()
    """Watchkeeper's own data and key files on this host, with what each is."""
    settings: Settings | None = None
    sessions: Callable[[], Session] | None = None
    endpoint: Endpoint | None = None
    network_timeout: float = 5.0

    @property
    def live(self) -> bool:
        """True when auditing the running system itself (root ``/``)."""
        return self.root == Path("/")

    def path(self, absolute: str | Path) -> Path:
        """Return where the system path ``absolute`` is under ``root``."""
        return self.root / str(absolute).lstrip("/")

    def which(self, name: str) -> str | None:
        """Return the full path of command ``name``, or None when it is not installed."""
        return shutil.which(name, path=self.search_path)

    def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        """Run a command (looked up on ``search_path``) and return what it printed; raise
        CheckError when it is missing, cannot start or takes longer than the timeout."""
        program = self.which(argv[0])
        if program is None:
            raise CheckError(f"{argv[0]} is not installed")
        limit = self.command_timeout if timeout is None else timeout
        path = (
            self.search_path
            if self.search_path == SYSTEM_PATH
            else f"{self.search_path}:{SYSTEM_PATH}"
        )
        env = {"PATH": path, "LC_ALL": "C"}
        try:
            done = subprocess.run(
                [program, *argv[1:]],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=limit,
                check=False,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise CheckError(f"{argv[0]} did not finish within {limit:g} s") from None
        except OSError as exc:
            raise CheckError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        return CommandResult(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class HardeningCheck:
    """One registered check and what is shown about it."""

    id: str
    title: str
    weight: int
    scope: Scope
    rationale: str
    remediation: str
    run: Callable[[AuditContext], Result]


REGISTRY: dict[str, HardeningCheck] = {}


def check(
    id: str, *, title: str, weight: int, scope: Scope, rationale: str, remediation: str
) -> Callable[[Callable[[AuditContext], Result]], Callable[[AuditContext], Result]]:
    """Register the decorated function as the check ``id``; raise ValueError on a second
    check with the same id."""

    def register(func: Callable[[AuditContext], Result]) -> Callable[[AuditContext], Result]:
        if id in REGISTRY:
            raise ValueError(f"hardening check {id} is registered twice")
        REGISTRY[id] = HardeningCheck(id, title, weight, scope, rationale, remediation, func)
        return func

    return register
