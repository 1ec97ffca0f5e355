"""Disk encryption of the profile's ``encrypted_mounts``, from the kernel's own view (no
``lsblk``): the device a mount point lives on (``/proc/mounts``, the longest mounted prefix
of the path, the last mount of it winning) is a device-mapper device
(``/dev/dm-N`` or ``/dev/mapper/NAME``) that is itself dm-crypt
(``/sys/block/dm-N/dm/uuid`` starts with ``CRYPT-``: LUKS, plain dm-crypt, VeraCrypt) or
sits on one (LVM on LUKS: followed through ``/sys/block/dm-N/slaves``).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from watchkeeper.security.hardening.interface import (
    AuditContext,
    Result,
    check,
    failed,
    passed,
    skipped,
)

MOUNTS = "/proc/mounts"
SYS_BLOCK = "/sys/block"
MAX_LAYERS = 8


def _unescape(field: str) -> str:
    r"""``/proc/mounts`` writes space, tab, newline and backslash as octal (``\040``)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_of(ctx: AuditContext, path: str) -> tuple[str, str] | None:
    """``(device, mount point)`` holding the system path ``path``; None when unknown.
    Raise FileNotFoundError when there is no ``/proc/mounts``."""
    text = ctx.path(MOUNTS).read_text(encoding="utf-8", errors="replace")
    target = PurePosixPath(path)
    best: tuple[str, str] | None = None
    best_len = -1
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        device, point = _unescape(fields[0]), _unescape(fields[1])
        mounted = PurePosixPath(point)
        if target == mounted or mounted in target.parents:
            length = len(mounted.parts)
            if length >= best_len:  # the later of two mounts on one point hides the first
                best, best_len = (device, point), length
    return best


def dm_name(ctx: AuditContext, device: str) -> str | None:
    """The ``dm-N`` kernel name of a device-mapper device path; None for other devices."""
    name = PurePosixPath(device).name
    if device.startswith("/dev/dm-"):
        return name
    link = ctx.path(device)
    if device.startswith("/dev/") and link.is_symlink():  # /dev/mapper/X, /dev/disk/by-*/...
        target = Path(os.path.realpath(link)).name
        if target.startswith("dm-"):
            return target
    if device.startswith("/dev/mapper/"):
        block = ctx.path(SYS_BLOCK)
        if block.is_dir():
            for entry in sorted(block.glob("dm-*")):
                if _read(entry / "dm" / "name") == name:
                    return entry.name
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def crypt_layer(ctx: AuditContext, dm: str, depth: int = 0) -> str | None:
    """The dm-crypt device ``dm`` is or sits on (its ``dm/name``), or None."""
    base = ctx.path(SYS_BLOCK) / dm
    if _read(base / "dm" / "uuid").startswith("CRYPT-"):
        return _read(base / "dm" / "name") or dm
    slaves = base / "slaves"
    if depth < MAX_LAYERS and slaves.is_dir():
        for lower in sorted(slaves.iterdir(), key=lambda p: p.name):
            if lower.name.startswith("dm-"):
                found = crypt_layer(ctx, lower.name, depth + 1)
                if found:
                    return found
    return None


@check(
    "CRYPT-DISK",
    title="Declared mounts are on encrypted devices",
    weight=4,
    scope="host",
    rationale="A disk that leaves the building — a failed drive sent back, a stolen laptop, "
    "a decommissioned cloud volume — gives its data away unless it was encrypted; the "
    "profile names the mounts whose data must not leave that way.",
    remediation="Put the data on a LUKS volume (`cryptsetup luksFormat`, then open it and "
    "make the file system on /dev/mapper/NAME, listed in /etc/crypttab), move the data "
    "there and mount it at the declared point; or remove the mount from the profile's "
    "`encrypted_mounts` when it needs no encryption.",
)
def disk_encryption(ctx: AuditContext) -> Result:
    wanted = ctx.profile.encrypted_mounts
    if not wanted:
        return skipped("the profile declares no encrypted_mounts")
    good: list[str] = []
    bad: list[str] = []
    for point in wanted:
        try:
            found = mount_of(ctx, point)
        except FileNotFoundError:
            return skipped(f"{MOUNTS} does not exist: the mounts cannot be seen here")
        if found is None:
            bad.append(f"{point}: not mounted")
            continue
        device, mounted = found
        on = f"{point} (mount {mounted}, {device})" if mounted != point else f"{point} ({device})"
        dm = dm_name(ctx, device)
        crypt = crypt_layer(ctx, dm) if dm else None
        if crypt:
            good.append(f"{on} on dm-crypt {crypt}")
        else:
            bad.append(f"{on} is not on a dm-crypt device")
    if bad:
        return failed("; ".join(bad + good))
    return passed("; ".join(good))
