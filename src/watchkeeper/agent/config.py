"""The agent's settings: command-line flags, then the environment, then defaults.

The environment is passed in (``watchkeeper.settings.environment()``), so that this module,
like the server's settings, never reads ``os.environ`` itself.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pydantic_core import PydanticCustomError

from watchkeeper.agent.wire import HOST_RE
from watchkeeper.exceptions import ConfigError
from watchkeeper.plan.types import parse_duration

DEFAULT_INTERVAL = "10s"
DEFAULT_SPOOL_MAX = "100MB"
MIN_INTERVAL = timedelta(milliseconds=100)
MIN_SPOOL_BYTES = 64 * 1024
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?))?b?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class AgentConfig:
    """Resolved settings of one agent process."""

    server: str
    token: str = field(repr=False)
    host_name: str
    interval: float
    spool_dir: Path
    spool_max_bytes: int
    retry_initial: float = 1.0
    retry_max: float = 60.0
    timeout: float = 30.0
    inventory_every: float = 3600.0
    inventory_check_every: float = 60.0
    log_format: str = "text"
    log_level: str = "INFO"
    tail: tuple[str, ...] = ()
    """Local ``--tail`` globs, tailed whatever the plan says."""
    state_dir: Path | None = None
    """Where log read positions are kept (default: ``state`` inside the spool directory)."""
    log_poll: float = 0.5
    log_glob_every: float = 5.0
    log_close_after: float = 5.0
    log_sources_every: float = 60.0
    journalctl: str = "journalctl"
    journald_restart: float = 5.0
    token_file: Path | None = None
    """Where the token was read from (its mode is audited), None when given directly."""

    @property
    def state_directory(self) -> Path:
        return self.state_dir if self.state_dir is not None else self.spool_dir / "state"


def parse_size(value: str) -> int:
    """Return bytes for ``100MB``, ``512k``, ``1GiB`` or a plain number of bytes; raise
    ValueError otherwise (kB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024)."""
    match = _SIZE.match(value)
    if not match:
        raise ValueError(value)
    number, prefix, binary = match.groups()
    power = "kmgt".index(prefix.lower()) + 1 if prefix else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


def _server_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f'--server "{value}" is not an http(s) URL, e.g. https://watchkeeper.example.com'
        )
    if parts.username or parts.password:
        raise ConfigError("--server: put no credentials in the URL; use --token-file")
    if parts.query or parts.fragment:
        raise ConfigError(f'--server "{value}": give the base URL only (no "?" or "#")')
    return value.strip().rstrip("/")


def _token(env: Mapping[str, str], token: str | None, token_file: Path | None) -> str:
    """Return the API token; errors name where it came from, never the token itself."""
    if token and token_file:
        raise ConfigError("give either --token or --token-file, not both")
    source = "--token"
    if token_file is None and not token:
        token = env.get("WATCHKEEPER_AGENT_TOKEN") or None
        source = "WATCHKEEPER_AGENT_TOKEN"
        file_name = env.get("WATCHKEEPER_AGENT_TOKEN_FILE")
        if token and file_name:
            raise ConfigError(
                "set either WATCHKEEPER_AGENT_TOKEN or WATCHKEEPER_AGENT_TOKEN_FILE, not both"
            )
        token_file = Path(file_name) if file_name else None
    if token_file is not None:
        source = str(token_file)
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {token_file}: {exc.strerror}") from None
    if not token:
        raise ConfigError(
            "no API token: give --token-file FILE (or set WATCHKEEPER_AGENT_TOKEN_FILE); make "
            "one on the server with `watchkeeper token create --user USER --name HOST "
            "--role operator`"
        )
    if any(c.isspace() for c in token):
        raise ConfigError(f"the token from {source} contains white space; is it the token?")
    return token


def load_agent_config(
    env: Mapping[str, str],
    *,
    server: str | None = None,
    token: str | None = None,
    token_file: Path | None = None,
    interval: str | None = None,
    spool_dir: Path | None = None,
    spool_max_bytes: str | None = None,
    host_name: str | None = None,
    home: str | None = None,
    log_format: str | None = None,
    tail: list[str] | None = None,
) -> AgentConfig:
    """Return the agent's settings; raise ConfigError naming the bad flag or variable."""
    server = server or env.get("WATCHKEEPER_AGENT_SERVER")
    if not server:
        raise ConfigError("no server: give --server URL (or set WATCHKEEPER_AGENT_SERVER)")
    secret = _token(env, token, token_file)
    try:
        every = parse_duration(interval or DEFAULT_INTERVAL)
    except PydanticCustomError:
        raise ConfigError(f'--interval "{interval}" is not a duration (use 10s, 1m)') from None
    if every < MIN_INTERVAL:
        raise ConfigError(f'--interval "{interval}" is too short (at least 100ms)')
    try:
        max_bytes = parse_size(spool_max_bytes or DEFAULT_SPOOL_MAX)
    except ValueError:
        raise ConfigError(
            f'--spool-max-bytes "{spool_max_bytes}" is not a size (use 100MB, 1GiB or bytes)'
        ) from None
    if max_bytes < MIN_SPOOL_BYTES:
        raise ConfigError(f'--spool-max-bytes "{spool_max_bytes}" is too small (at least 64kB)')
    name = host_name or socket.gethostname()
    if not HOST_RE.fullmatch(name):
        raise ConfigError(
            f'host name "{name}" is not usable (letters, digits, ".", "-", "_", ":"); '
            "give one with --host-name"
        )
    home_dir = home or env.get("WATCHKEEPER_HOME")
    default_spool = (
        Path(home_dir) / "agent-spool" if home_dir else Path("~/.watchkeeper-agent/spool")
    )
    fmt = log_format or env.get("WATCHKEEPER_LOG_FORMAT") or "text"
    if fmt not in ("text", "json"):
        raise ConfigError(f'WATCHKEEPER_LOG_FORMAT: "{fmt}" is not one of text, json')
    level = (env.get("WATCHKEEPER_LOG_LEVEL") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f'WATCHKEEPER_LOG_LEVEL: "{level}" is not DEBUG, INFO, WARNING or ERROR')
    globs = tuple(pattern.strip() for pattern in tail or ())
    if any(not pattern for pattern in globs):
        raise ConfigError("--tail needs a file name or glob, e.g. /var/log/app/*.log")
    return AgentConfig(
        server=_server_url(server),
        token=secret,
        host_name=name,
        interval=every.total_seconds(),
        spool_dir=(spool_dir or default_spool).expanduser(),
        spool_max_bytes=max_bytes,
        log_format=fmt,
        log_level=level,
        tail=globs,
        token_file=token_file
        or (None if token else _path(env.get("WATCHKEEPER_AGENT_TOKEN_FILE"))),
    )


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
