"""The agent's state files are written atomically: owner-only, the directory made when
missing, no temporary file left behind, an error raised (and the old file kept) when the
disk refuses."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from watchkeeper.agent.checkpoint import write_atomically


def test_write_replaces_the_file_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "hardening.json"
    write_atomically(path, b'{"a": 1}')
    write_atomically(path, b'{"a": 2}')
    assert path.read_bytes() == b'{"a": 2}'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["hardening.json"]


def test_a_refused_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "software.json"
    write_atomically(path, b"old")
    (tmp_path / "blocker").mkdir()
    with pytest.raises(OSError):
        write_atomically(tmp_path / "blocker", b"new")  # a directory cannot be replaced
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "software.json"]
