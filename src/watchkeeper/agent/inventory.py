"""What the host is: OS, kernel, CPUs, memory, disks, addresses, installed packages.

Sent with the first batch and again when it changes (or hourly), so the server's host list
shows facts that change rarely without the agent resending them every few seconds. Only
stable facts belong here (disk sizes, not free space), or every gathering would "change".
"""

from __future__ import annotations

import logging
import platform
import shutil
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from watchkeeper import __version__
from watchkeeper.agent.filesystems import UsageReader, real_mounts

log = logging.getLogger(__name__)

DPKG_STATUS = Path("/var/lib/dpkg/status")
APK_INSTALLED = Path("/lib/apk/db/installed")
CPUINFO = Path("/proc/cpuinfo")
RPM_TIMEOUT = 60.0


def gather_inventory(usage: UsageReader) -> dict[str, Any]:
    """Return the host's inventory as JSON-ready values. Blocking: call it from a thread."""
    vm = psutil.virtual_memory()
    return {
        "hostname": socket.gethostname(),
        "os": _os(),
        "kernel": platform.release(),
        "architecture": platform.machine(),
        "cpu": {
            "logical": psutil.cpu_count(logical=True),
            "physical": psutil.cpu_count(logical=False),
            "model": _cpu_model(),
        },
        "memory_bytes": vm.total,
        "swap_bytes": psutil.swap_memory().total,
        "disks": _disks(usage),
        "addresses": _addresses(),
        "packages": package_count(),
        "boot_time": datetime.fromtimestamp(psutil.boot_time(), UTC).isoformat(),
        "agent_version": __version__,
    }


def _os() -> dict[str, str]:
    system = platform.system()
    if system == "Linux":
        try:
            release = platform.freedesktop_os_release()
        except OSError:
            return {"name": "Linux", "version": "", "id": "linux"}
        return {
            "name": release.get("NAME", "Linux"),
            "version": release.get("VERSION", release.get("VERSION_ID", "")),
            "id": release.get("ID", "linux"),
        }
    if system == "Darwin":
        return {"name": "macOS", "version": platform.mac_ver()[0], "id": "macos"}
    return {"name": system, "version": platform.version(), "id": system.lower()}


def _cpu_model() -> str | None:
    try:
        for line in CPUINFO.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def _disks(usage: UsageReader) -> list[dict[str, Any]]:
    out = []
    for mount in real_mounts():
        used = usage.usage(mount.mountpoint)
        out.append(
            {
                "mountpoint": mount.mountpoint,
                "device": mount.device,
                "fstype": mount.fstype,
                "size_bytes": used.size if used else None,
            }
        )
    return sorted(out, key=lambda d: d["mountpoint"])


def _addresses() -> dict[str, list[str]]:
    wanted = (socket.AF_INET, socket.AF_INET6)
    out = {}
    for nic, addrs in psutil.net_if_addrs().items():
        found = sorted(a.address for a in addrs if a.family in wanted)
        if found:
            out[nic] = found
    return dict(sorted(out.items()))


def package_count() -> dict[str, Any] | None:
    """Return ``{"manager": "dpkg"|"rpm"|"apk", "count": n}``, or None when no known package
    manager is present (or it cannot be read)."""
    if DPKG_STATUS.exists():
        count = _count_dpkg(DPKG_STATUS)
        return None if count is None else {"manager": "dpkg", "count": count}
    if APK_INSTALLED.exists():
        try:
            text = APK_INSTALLED.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        return {"manager": "apk", "count": sum(1 for ln in text.splitlines() if ln[:2] == "P:")}
    rpm = shutil.which("rpm")
    if rpm:
        try:
            done = subprocess.run(
                [rpm, "-qa", "--qf", ".\n"],
                capture_output=True,
                text=True,
                timeout=RPM_TIMEOUT,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log.debug("cannot count rpm packages: %s", exc)
            return None
        return {"manager": "rpm", "count": done.stdout.count("\n")}
    return None


def _count_dpkg(path: Path) -> int | None:
    """Count the packages whose status is "installed" (removed ones keep a stanza too)."""
    count = 0
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("Status:") and line.split()[-1] == "installed":
                    count += 1
    except OSError:
        return None
    return count
