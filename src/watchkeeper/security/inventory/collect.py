"""Collect one host's inventories as an ``InventorySpec`` asks: each location once, globs
expanded, each bounded by a timeout and failing on its own (an unreadable lock file is one
failed inventory, not a failed collection).

A glob that matches nothing gives no inventory (a host without that application); a path
without glob characters that does not exist is an error, since it was named on purpose.
Of the files a ``python`` glob matches, only those named as interpreters are inventoried
(``/opt/*/bin/*`` reads each environment's ``python3``, never runs its other programs).
Blocking: call ``collect`` from a worker thread.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from collections.abc import Callable
from functools import partial
from glob import glob
from pathlib import Path
from typing import TypeVar

from watchkeeper.globs import is_glob
from watchkeeper.security.inventory.debian import (
    APT_LOCATION,
    DPKG_LOCATION,
    OS_RELEASE,
    collect_debian,
    collect_os_updates,
)
from watchkeeper.security.inventory.model import (
    DEBIAN,
    KERNEL,
    NPM,
    OS_UPDATES,
    PYPI,
    Collected,
    CollectError,
    failed,
    finish,
)
from watchkeeper.security.inventory.npm import collect_npm_lock
from watchkeeper.security.inventory.pylocks import collect_python_lock
from watchkeeper.security.inventory.python_env import INTERPRETER_NAME, collect_python
from watchkeeper.security.inventory.spec import InventorySpec

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 120.0
"""Longest one location's collection may take, in seconds."""
KERNEL_LOCATION = "running"
_GRACE = 5.0
"""Added to the bound of a thread whose subprocess has ``timeout`` of its own."""
T = TypeVar("T")


def expand(pattern: str) -> list[str]:
    """Return the paths ``pattern`` names: its glob matches, sorted (``~`` expanded), or
    the path itself when it has no glob characters."""
    path = os.path.expanduser(pattern)
    if is_glob(path):
        return sorted(glob(path))
    return [path]


def python_locations(pattern: str) -> list[str]:
    """The paths a ``python`` pattern names: of a glob's matches the directories and the
    files named as interpreters, or the path itself."""
    found = expand(pattern)
    if not is_glob(pattern):
        return found
    return [p for p in found if os.path.isdir(p) or INTERPRETER_NAME.fullmatch(Path(p).name)]


def bounded(work: Callable[[], T], timeout: float, what: str) -> T:
    """Return ``work()``, run in a daemon thread; raise CollectError naming ``what`` when
    it takes longer than ``timeout`` seconds (the thread is left to finish on its own: a
    read stuck on a dead network mount cannot be interrupted)."""
    box: dict[str, T] = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"inventory {what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise CollectError(f"{what}: took longer than {timeout:g}s")
    if failure:
        raise failure[0]
    return box["result"]


def kernel() -> Collected:
    """The running kernel: one row ``[system, release]`` (``["linux", "6.1.0-18-amd64"]``)."""
    return finish(KERNEL, KERNEL_LOCATION, [(platform.system().lower(), platform.release())])


def collect(
    spec: InventorySpec,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    os_release: Path = OS_RELEASE,
) -> list[Collected]:
    """Return the inventories ``spec`` asks for on this host, each location once; a
    location that cannot be inventoried is returned with its ``error``."""
    jobs: dict[tuple[str, str], Callable[[], Collected | None]] = {}
    for pattern in spec.python:
        for path in python_locations(pattern):
            jobs.setdefault((PYPI, path), partial(collect_python, path, timeout))
    for pattern in spec.requirements:
        for path in expand(pattern):
            jobs.setdefault((PYPI, path), partial(collect_python_lock, path))
    for pattern in spec.npm:
        for path in expand(pattern):
            jobs.setdefault((NPM, path), partial(collect_npm_lock, path))
    if spec.debian:
        jobs[(DEBIAN, DPKG_LOCATION)] = partial(collect_debian, timeout, os_release)
    if spec.os_updates:
        jobs[(OS_UPDATES, APT_LOCATION)] = partial(collect_os_updates, timeout, os_release)
    if spec.kernel:
        jobs[(KERNEL, KERNEL_LOCATION)] = kernel
    out = []
    for (ecosystem, location), work in jobs.items():
        try:
            got = bounded(work, timeout + _GRACE, location)
        except CollectError as exc:
            got = failed(ecosystem, location, str(exc))
        except Exception as exc:  # a parser's bug must cost one location, not the others
            log.error("inventory of %s failed", location, exc_info=exc)
            got = failed(ecosystem, location, f"{location}: {type(exc).__name__}: {exc}")
        if got is not None:
            out.append(got)
    return out
