"""Settings: the only module that reads the environment.

Order of precedence: environment (``WATCHKEEPER_*``, with ``*_FILE`` variants for secrets),
then the plan file, then defaults.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from watchkeeper.exceptions import ConfigError

DEFAULT_LISTEN = "127.0.0.1:8470"
SECRET_KEY_FILENAME = "secret_key"


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one Watchkeeper process."""

    home: Path
    database_url: str
    listen_host: str
    listen_port: int
    plan_path: Path | None
    secret_key_value: str | None = field(default=None, repr=False)
    log_format: str = "text"
    log_level: str = "INFO"
    public_url: str | None = None
    secret_key_previous: tuple[str, ...] = field(default=(), repr=False)
    trusted_proxies: tuple[str, ...] = ()
    tls_certfile: str | None = None
    """PEM certificate (chain) the listener serves HTTPS with; None: plain HTTP."""
    tls_keyfile: str | None = None

    @property
    def uses_tls(self) -> bool:
        """True when the listener itself serves HTTPS."""
        return self.tls_certfile is not None

    @property
    def uses_default_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        """Return the URL people should open to reach the UI."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.listen_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.uses_tls else "http"
        return f"{scheme}://{host}:{self.listen_port}"

    def secret_key(self) -> str:
        """Return the secret key, generating it into the data dir (mode 0600) when absent."""
        if self.secret_key_value:
            return self.secret_key_value
        path = self.home / SECRET_KEY_FILENAME
        if path.exists():
            key = path.read_text(encoding="utf-8").strip()
            if not key:
                raise ConfigError(
                    f"secret key file {path} is empty; delete it to have a new "
                    "key generated, or set WATCHKEEPER_SECRET_KEY"
                )
            return key
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
        return key


def parse_listen(value: str) -> tuple[str, int]:
    """Return ``(host, port)`` from ``host:port`` or ``[v6]:port``; raise ConfigError if bad."""
    value = value.strip()
    host, sep, port_s = value.rpartition(":")
    if not sep:
        raise ConfigError(f'WATCHKEEPER_LISTEN: "{value}" is not host:port (e.g. 127.0.0.1:8470)')
    if host.startswith("["):
        if not host.endswith("]"):
            raise ConfigError(f'WATCHKEEPER_LISTEN: "{value}" has an unclosed "["')
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(
            f'WATCHKEEPER_LISTEN: "{value}": write IPv6 addresses in brackets, e.g. [::1]:8470'
        )
    try:
        port = int(port_s)
    except ValueError:
        raise ConfigError(f'WATCHKEEPER_LISTEN: port "{port_s}" is not a number') from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"WATCHKEEPER_LISTEN: port {port} is out of range 0-65535")
    return host, port


def _secret(env: Mapping[str, str], name: str) -> str | None:
    direct = env.get(name)
    file_name = env.get(f"{name}_FILE")
    if direct and file_name:
        raise ConfigError(f"set either {name} or {name}_FILE, not both")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {file_name}: {exc.strerror}") from None
    return direct or None


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    plan_path: Path | str | None = None,
    database_url: str | None = None,
    listen: str | None = None,
    home: Path | str | None = None,
    log_format: str | None = None,
) -> Settings:
    """Return settings from the environment, with explicit arguments (CLI flags) winning."""
    env = os.environ if env is None else env
    home_path = Path(home or env.get("WATCHKEEPER_HOME") or ".watchkeeper").expanduser()
    db_url = database_url or _secret(env, "WATCHKEEPER_DATABASE_URL")
    if not db_url:
        db_url = f"sqlite:///{home_path.resolve() / 'watchkeeper.db'}"
    host, port = parse_listen(listen or env.get("WATCHKEEPER_LISTEN") or DEFAULT_LISTEN)
    plan = plan_path or env.get("WATCHKEEPER_PLAN")
    fmt = log_format or env.get("WATCHKEEPER_LOG_FORMAT") or "text"
    if fmt not in ("text", "json"):
        raise ConfigError(f'WATCHKEEPER_LOG_FORMAT: "{fmt}" is not one of text, json')
    level = (env.get("WATCHKEEPER_LOG_LEVEL") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f'WATCHKEEPER_LOG_LEVEL: "{level}" is not DEBUG, INFO, WARNING or ERROR')
    certfile = env.get("WATCHKEEPER_TLS_CERT_FILE") or None
    keyfile = env.get("WATCHKEEPER_TLS_KEY_FILE") or None
    if bool(certfile) != bool(keyfile):
        raise ConfigError(
            "set both WATCHKEEPER_TLS_CERT_FILE and WATCHKEEPER_TLS_KEY_FILE (or neither); "
            "`watchkeeper tls self-signed` makes a pair"
        )
    return Settings(
        home=home_path,
        database_url=db_url,
        listen_host=host,
        listen_port=port,
        plan_path=Path(plan) if plan else None,
        secret_key_value=_secret(env, "WATCHKEEPER_SECRET_KEY"),
        log_format=fmt,
        log_level=level,
        public_url=env.get("WATCHKEEPER_PUBLIC_URL") or None,
        secret_key_previous=tuple(
            k.strip()
            for k in (_secret(env, "WATCHKEEPER_SECRET_KEY_PREVIOUS") or "")
            .replace(",", "\n")
            .splitlines()
            if k.strip()
        ),
        trusted_proxies=tuple(
            p.strip()
            for p in (env.get("WATCHKEEPER_TRUSTED_PROXIES") or "").split(",")
            if p.strip()
        ),
        tls_certfile=certfile,
        tls_keyfile=keyfile,
    )


def environment() -> Mapping[str, str]:
    """Return the process environment, for ``${VAR}`` substitution in the plan file."""
    return os.environ
