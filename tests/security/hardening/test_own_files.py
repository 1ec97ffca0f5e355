"""Modes of Watchkeeper's own data and key files, on a fake WATCHKEEPER_HOME."""

from __future__ import annotations

from pathlib import Path

from tests.security.hardening.support import profile
from watchkeeper.security.hardening.interface import AuditContext
from watchkeeper.security.hardening.own_files import file_modes, server_files
from watchkeeper.settings import load_settings


def _home(tmp_path: Path) -> tuple[AuditContext, Path]:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "logs").mkdir(mode=0o700)
    for name in ("watchkeeper.db", "watchkeeper.db-wal", "secret_key"):
        (home / name).write_text("x")
        (home / name).chmod(0o600)
    settings = load_settings(env={}, home=home)
    return AuditContext(profile=profile(), own_files=server_files(settings)), home


def test_private_files_pass(tmp_path: Path) -> None:
    ctx, _ = _home(tmp_path)
    result = file_modes(ctx)
    assert result.status == "pass"
    assert result.detail == (
        "owner only: data directory, store, store write-ahead log, secret key, log store"
    )


def test_readable_files_fail_naming_their_mode(tmp_path: Path) -> None:
    ctx, home = _home(tmp_path)
    (home / "secret_key").chmod(0o644)
    (home / "logs").chmod(0o755)
    assert file_modes(ctx).status == "pass"  # inside the private data directory: unreachable
    home.chmod(0o750)
    result = file_modes(ctx)
    assert result.status == "fail"
    assert result.detail == (
        f"data directory {home} is 0750; secret key {home / 'secret_key'} is 0644; "
        f"log store {home / 'logs'} is 0755"
    )


def test_the_tls_key_is_included(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("k")
    key.chmod(0o640)
    settings = load_settings(
        env={
            "WATCHKEEPER_TLS_CERT_FILE": str(tmp_path / "c.pem"),
            "WATCHKEEPER_TLS_KEY_FILE": str(key),
        },
        home=tmp_path / "nohome",
    )
    result = file_modes(AuditContext(profile=profile(), own_files=server_files(settings)))
    assert result.status == "fail"
    assert result.detail == f"TLS key {key} is 0640"


def test_nothing_to_look_at_skips(tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path / "absent")
    ctx = AuditContext(profile=profile(), own_files=server_files(settings))
    assert file_modes(ctx).status == "skip"
    assert file_modes(AuditContext(profile=profile())).status == "skip"
