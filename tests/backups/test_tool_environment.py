"""The tools and hooks backups run do not inherit Watchkeeper's own secrets."""

from __future__ import annotations

import pytest

from watchkeeper.backups.engine import tool_environment


def test_watchkeeper_settings_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_SECRET_KEY", "not-for-pg_dump")
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", "postgresql://u:pw@db/wk")
    monkeypatch.setenv("PATH_FOR_TEST", "/x")
    env = tool_environment()
    assert not any(key.startswith("WATCHKEEPER_") for key in env)
    assert env["PATH_FOR_TEST"] == "/x"
