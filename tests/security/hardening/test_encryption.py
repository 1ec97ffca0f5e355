"""Disk encryption of declared mounts on a prepared /proc and /sys: a mount on dm-crypt
passes, LVM on LUKS is followed through the slaves, a plain partition fails, and a path
that is not a mount point is judged by the mount holding it."""

from __future__ import annotations

from pathlib import Path

from tests.security.hardening.support import tree_context, write
from watchkeeper.security.hardening.encryption import disk_encryption

MOUNTS = (
    "/dev/vda1 / ext4 rw,relatime 0 0\n"
    "proc /proc proc rw 0 0\n"
    "/dev/mapper/cryptdata /srv/data ext4 rw 0 0\n"
    "/dev/mapper/vg0-pg /var/lib/postgresql xfs rw 0 0\n"
    "/dev/vdb1 /mnt/my\\040backups ext4 rw 0 0\n"
)


def _sys(root: Path) -> None:
    write(root, "/proc/mounts", MOUNTS)
    write(root, "/sys/block/dm-0/dm/name", "cryptdata\n")
    write(root, "/sys/block/dm-0/dm/uuid", "CRYPT-LUKS2-0c3a6f...-cryptdata\n")
    write(root, "/sys/block/dm-1/dm/name", "cryptlvm\n")
    write(root, "/sys/block/dm-1/dm/uuid", "CRYPT-LUKS2-9f1e...-cryptlvm\n")
    write(root, "/sys/block/dm-2/dm/name", "vg0-pg\n")
    write(root, "/sys/block/dm-2/dm/uuid", "LVM-abcdef\n")
    (root / "sys/block/dm-2/slaves/dm-1").mkdir(parents=True)


def test_encrypted_mounts_pass(tmp_path: Path) -> None:
    _sys(tmp_path)
    ctx = tree_context(tmp_path, encrypted_mounts=["/srv/data", "/var/lib/postgresql/16/main"])
    result = disk_encryption(ctx)
    assert result.status == "pass"
    assert "/srv/data (/dev/mapper/cryptdata) on dm-crypt cryptdata" in result.detail
    assert (
        "/var/lib/postgresql/16/main (mount /var/lib/postgresql, /dev/mapper/vg0-pg) "
        "on dm-crypt cryptlvm" in result.detail
    )


def test_plain_devices_fail(tmp_path: Path) -> None:
    _sys(tmp_path)
    ctx = tree_context(tmp_path, encrypted_mounts=["/srv/data", "/home", "/mnt/my backups"])
    result = disk_encryption(ctx)
    assert result.status == "fail"
    assert "/home (mount /, /dev/vda1) is not on a dm-crypt device" in result.detail
    assert "/mnt/my backups (/dev/vdb1) is not on a dm-crypt device" in result.detail
    assert "on dm-crypt cryptdata" in result.detail


def test_nothing_declared_or_no_proc(tmp_path: Path) -> None:
    assert disk_encryption(tree_context(tmp_path)).status == "skip"
    assert disk_encryption(tree_context(tmp_path, encrypted_mounts=["/srv"])).status == "skip"
