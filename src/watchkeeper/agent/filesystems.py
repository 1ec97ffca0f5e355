"""Which mounted filesystems the agent reports, and reading their sizes without hanging.

The selection follows node_exporter's defaults (so dashboards built for it show the same
filesystems), and also leaves out memory-backed filesystems (tmpfs, ramfs): their usage is
memory, already reported, and a tiny read-only tmpfs would otherwise be "the fullest disk".

``statvfs`` on a dead network mount blocks forever. Like node_exporter, each call gets a
time limit; a mount that does not answer is skipped until its stuck call returns.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psutil

log = logging.getLogger(__name__)

PSEUDO_FSTYPES = frozenset(
    {
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "erofs",
        "fusectl",
        "hugetlbfs",
        "iso9660",
        "mqueue",
        "nsfs",
        "overlay",
        "proc",
        "procfs",
        "pstore",
        "ramfs",
        "rpc_pipefs",
        "securityfs",
        "selinuxfs",
        "squashfs",
        "sysfs",
        "tmpfs",
        "tracefs",
    }
)
IGNORED_MOUNTPOINTS = re.compile(
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
STATVFS_TIMEOUT = 5.0


@dataclass(frozen=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str


@dataclass(frozen=True)
class Usage:
    """Sizes in bytes, as statvfs reports them: ``free`` includes the blocks reserved for
    root, ``avail`` is what ordinary users can still write (node_exporter's meaning)."""

    size: int
    free: int
    avail: int
    files: int
    files_free: int


def real_mounts() -> list[Mount]:
    """Return the mounted filesystems worth reporting, one per mount point."""
    seen: dict[str, Mount] = {}
    for part in psutil.disk_partitions(all=True):
        if part.fstype in PSEUDO_FSTYPES or IGNORED_MOUNTPOINTS.match(part.mountpoint):
            continue
        seen.setdefault(part.mountpoint, Mount(part.device, part.mountpoint, part.fstype))
    return list(seen.values())


class UsageReader:
    """Read filesystem usage with a time limit per mount point (see the module docstring)."""

    def __init__(
        self,
        statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
        timeout: float = STATVFS_TIMEOUT,
    ) -> None:
        self._statvfs = statvfs
        self._timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="statvfs")
        self._stuck: set[str] = set()
        self._lock = threading.Lock()

    def usage(self, mountpoint: str) -> Usage | None:
        """Return the usage of ``mountpoint``; None when it cannot be read or is stuck."""
        with self._lock:
            if mountpoint in self._stuck:
                return None
        future = self._pool.submit(self._statvfs, mountpoint)
        try:
            st = future.result(timeout=self._timeout)
        except concurrent.futures.TimeoutError:
            with self._lock:
                self._stuck.add(mountpoint)
            log.warning(
                "filesystem %s did not answer within %gs; skipped until it does",
                mountpoint,
                self._timeout,
            )
            future.add_done_callback(lambda _: self._unstick(mountpoint))
            return None
        except OSError as exc:
            log.debug("cannot read filesystem %s: %s", mountpoint, exc)
            return None
        return Usage(
            size=st.f_blocks * st.f_frsize,
            free=st.f_bfree * st.f_frsize,
            avail=st.f_bavail * st.f_frsize,
            files=st.f_files,
            files_free=st.f_ffree,
        )

    def _unstick(self, mountpoint: str) -> None:
        with self._lock:
            self._stuck.discard(mountpoint)
        log.info("filesystem %s answers again", mountpoint)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
