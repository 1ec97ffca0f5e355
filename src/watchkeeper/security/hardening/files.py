"""World-writable files in the profile's system paths.

The walk looks at entries without following symbolic links (a link's own mode is always
0777 and means nothing; following links could leave the tree or loop), stays on the file
system of each system path (like ``find -xdev``), and stops after ``max_files`` entries.

What fails: a regular file anyone may write, and a directory anyone may write that lacks
the sticky bit (anyone could delete or replace the files in it). A world-writable directory
*with* the sticky bit (``/tmp``-style) is accepted — the exemption is for directories only:
a sticky regular file is still a finding, and the files inside a sticky directory are
checked like any other. Devices, sockets and FIFOs are left out (``/dev/null`` is meant to be
0666).
"""

from __future__ import annotations

import os
import stat
from pathlib import PurePosixPath

from watchkeeper.security.hardening.interface import (
    AuditContext,
    Result,
    check,
    failed,
    passed,
    skipped,
)

SHOWN = 10


def world_writable(ctx: AuditContext) -> tuple[list[str], int, list[str], bool]:
    """Walk the profile's system paths; return (offending system paths, entries looked at,
    unreadable directories, whether the walk stopped at ``max_files``)."""
    found: list[str] = []
    unreadable: list[str] = []
    seen = 0
    for system_path in ctx.profile.system_paths:
        start = ctx.path(system_path)
        try:
            top = os.lstat(start)
        except OSError:
            continue
        if stat.S_ISLNK(top.st_mode) or not stat.S_ISDIR(top.st_mode):
            continue
        if top.st_mode & stat.S_IWOTH and not top.st_mode & stat.S_ISVTX:
            found.append(system_path.rstrip("/") + "/")
        stack = [str(start)]
        while stack:
            directory = stack.pop()
            try:
                with os.scandir(directory) as entries:
                    listed = list(entries)
            except OSError:
                unreadable.append(_system(ctx, directory))
                continue
            for entry in listed:
                seen += 1
                if seen > ctx.max_files:
                    return found, seen - 1, unreadable, True
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                mode = info.st_mode
                if stat.S_ISDIR(mode):
                    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
                        found.append(_system(ctx, entry.path) + "/")
                    if info.st_dev == top.st_dev:
                        stack.append(entry.path)
                elif stat.S_ISREG(mode) and mode & stat.S_IWOTH:
                    found.append(_system(ctx, entry.path))
    return sorted(found), seen, unreadable, False


def _system(ctx: AuditContext, path: str) -> str:
    """The system path of a path under ``ctx.root``."""
    return str(PurePosixPath("/") / os.path.relpath(path, ctx.root))


@check(
    "FILES-WORLD-WRITABLE",
    title="No world-writable files in system paths",
    weight=4,
    scope="host",
    rationale="Any local user or compromised service could change a world-writable program "
    "or configuration file and run code as whoever uses it next, root included; a "
    "world-writable directory without the sticky bit lets anyone replace the files in it.",
    remediation="Remove the write permission for others (`chmod o-w FILE`); for a directory "
    "that really must be shared, set the sticky bit (`chmod +t DIR`). Find out which "
    "package or script created it (`dpkg -S FILE`) so that it does not come back.",
)
def world_writable_files(ctx: AuditContext) -> Result:
    present = [p for p in ctx.profile.system_paths if ctx.path(p).is_dir()]
    if not present:
        listed = ", ".join(ctx.profile.system_paths) or "none"
        return skipped(f"none of the system paths exists here ({listed})")
    found, seen, unreadable, stopped = world_writable(ctx)
    extra = f"; {len(unreadable)} director(ies) could not be read" if unreadable else ""
    if found:
        shown = ", ".join(found[:SHOWN]) + (
            f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        )
        partial = f" in the first {seen} entries" if stopped else ""
        return failed(f"{len(found)} world-writable{partial}: {shown}{extra}")
    if stopped:
        return Result(
            "error",
            f"none in the first {seen} entries of {', '.join(present)}, then the walk stopped "
            "(at most that many are looked at); the rest was not checked",
        )
    entries = "entry" if seen == 1 else "entries"
    return passed(f"none in {seen} {entries} of {', '.join(present)}{extra}")
