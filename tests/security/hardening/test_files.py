"""World-writable files in system paths, on a prepared tree: regular files and directories
without the sticky bit fail; a sticky directory is accepted but its files are still looked
at; symbolic links (always 0777) and device-like entries are left out; the walk is bounded."""

from __future__ import annotations

import os
from pathlib import Path

from tests.security.hardening.support import tree_context, write
from watchkeeper.security.hardening.files import world_writable_files


def _tree(root: Path) -> None:
    write(root, "/usr/bin/ls", "binary", 0o755)
    write(root, "/usr/bin/evil", "#!/bin/sh", 0o777)
    sticky = root / "usr/bin/shared"
    sticky.mkdir()
    sticky.chmod(0o1777)  # a /tmp-style directory: accepted
    write(root, "/usr/bin/shared/inside", "x", 0o666)  # ...but not what is in it
    sticky_file = write(root, "/usr/bin/sticky-file", "x", 0o1666)  # the exemption is for dirs
    assert sticky_file.stat().st_mode & 0o1000
    open_dir = root / "etc/drop"
    open_dir.mkdir(parents=True)
    open_dir.chmod(0o777)
    os.symlink("/usr/bin/ls", root / "usr/bin/link")  # lrwxrwxrwx: not a finding
    os.mkfifo(root / "usr/bin/fifo", 0o666)


def test_world_writable_findings(tmp_path: Path) -> None:
    _tree(tmp_path)
    ctx = tree_context(tmp_path, system_paths=["/usr/bin", "/etc", "/sbin"])
    result = world_writable_files(ctx)
    assert result.status == "fail"
    assert result.detail.startswith("4 world-writable: ")
    for path in ("/etc/drop/", "/usr/bin/evil", "/usr/bin/shared/inside", "/usr/bin/sticky-file"):
        assert path in result.detail
    assert "/usr/bin/shared/" not in result.detail.replace("/usr/bin/shared/inside", "")
    assert "link" not in result.detail and "fifo" not in result.detail


def test_clean_tree_passes_and_missing_paths_skip(tmp_path: Path) -> None:
    write(tmp_path, "/usr/bin/ls", "binary", 0o755)
    assert world_writable_files(tree_context(tmp_path, system_paths=["/usr/bin"])).status == "pass"
    skipped = world_writable_files(tree_context(tmp_path, system_paths=["/opt/none"]))
    assert skipped.status == "skip"


def test_the_walk_stops_at_its_limit(tmp_path: Path) -> None:
    for i in range(20):
        write(tmp_path, f"/usr/bin/f{i:02d}", "x", 0o755)
    ctx = tree_context(tmp_path, system_paths=["/usr/bin"])
    ctx.max_files = 5
    result = world_writable_files(ctx)
    assert result.status == "error"
    assert "first 5 entries" in result.detail
