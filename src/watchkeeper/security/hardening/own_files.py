"""File modes of Watchkeeper's own data and key files: nobody but their owner may read
them (no permission bit for group or others). A file inside one of these directories that
is itself private (no group or other permission) cannot be reached by others whatever its
own mode, and is not a finding: SQLite and the log store create their files with the umask.

On the server: ``$WATCHKEEPER_HOME``, the SQLite store and its ``-wal``/``-shm`` files (a
PostgreSQL store is the database server's business), the secret key file that every sealed
secret is derived from, the log store, and the key of Watchkeeper's own TLS certificate. On
an agent: its spool and state directories and its API token file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from watchkeeper.security.hardening.interface import (
    AuditContext,
    Result,
    check,
    failed,
    passed,
    skipped,
)
from watchkeeper.settings import SECRET_KEY_FILENAME, Settings


def server_files(settings: Settings) -> list[tuple[str, Path]]:
    """The server's data and key files, with what each is."""
    files = [("data directory", settings.home)]
    if settings.database_url.startswith("sqlite"):
        database = make_url(settings.database_url).database
        if database and database != ":memory:":
            store = Path(database)
            files += [
                ("store", store),
                ("store write-ahead log", store.with_name(store.name + "-wal")),
                ("store shared memory", store.with_name(store.name + "-shm")),
            ]
    files += [
        ("secret key", settings.home / SECRET_KEY_FILENAME),
        ("log store", settings.home / "logs"),
    ]
    if settings.tls_keyfile:
        files.append(("TLS key", Path(settings.tls_keyfile)))
    return files


def too_open(path: Path) -> str | None:
    """``"0644"`` when ``path`` has a permission bit for group or others, else None (and
    None when it does not exist). Raise OSError when it cannot be examined."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    if mode & 0o077:
        return f"{stat.S_IMODE(mode):04o}"
    return None


@check(
    "WK-FILE-MODES",
    title="Watchkeeper's data and key files are private",
    weight=4,
    scope="host",
    rationale="The store holds the audit trail, users and sealed secrets, and the secret key "
    "opens every sealed secret; any other account on the host that can read them can read "
    "every password and token Watchkeeper keeps.",
    remediation="`chmod 700` the data directory (`$WATCHKEEPER_HOME`, the agent's spool) "
    "and `chmod 600` the files in it, the secret key, the TLS key and the agent's token "
    "file; run Watchkeeper as its own user with `umask 077`.",
)
def file_modes(ctx: AuditContext) -> Result:
    if not ctx.own_files:
        return skipped("no Watchkeeper data or key files on this host")
    bad: list[str] = []
    good: list[str] = []
    errors: list[str] = []
    private_dirs: list[Path] = []
    for _, path in ctx.own_files:
        try:
            if path.is_dir() and too_open(path) is None:
                private_dirs.append(path.resolve())
        except OSError:
            continue
    for label, path in ctx.own_files:
        try:
            mode = too_open(path)
        except OSError as exc:
            errors.append(f"{label} {path}: {exc.strerror or exc}")
            continue
        shielded = any(d in path.resolve().parents for d in private_dirs)
        if mode is not None and not shielded:
            bad.append(f"{label} {path} is {mode}")
        elif path.exists():
            good.append(label)
    if bad:
        return failed("; ".join(bad + errors))
    if errors:
        return Result("error", "; ".join(errors))
    if not good:
        return skipped("none of Watchkeeper's data or key files exists yet")
    return passed(f"owner only: {', '.join(good)}")
