"""The server process reuses freed memory for large blocks instead of faulting fresh pages
in for each (checked in child processes: the allocator settings are process-wide)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from watchkeeper.runtime.malloc_tuning import is_glibc

pytestmark = pytest.mark.skipif(not is_glibc(), reason="the settings are glibc's")

CHILD = """
import json, resource, sys, threading
import numpy as np
from watchkeeper.runtime.malloc_tuning import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tuned" else None
faults = []
def query():
    # What a range query does: fill and drop arrays of tens of megabytes, on a worker thread.
    for _ in range(4):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        arrays = [np.ones(6_000_000) for _ in range(4)]
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        del arrays
worker = threading.Thread(target=query)
worker.start()
worker.join()
print(json.dumps({"applied": applied, "faults": faults}))
"""


def run_child(mode: str, **env: str) -> tuple[bool | None, list[int]]:
    """Run CHILD; return whether the settings were applied and each round's page faults."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    # 4 KB pages, so that a fresh block costs one fault per page whatever THP is set to.
    environ |= {"NUMPY_MADVISE_HUGEPAGE": "0", **env}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=environ,
    )
    result = json.loads(done.stdout)
    return result["applied"], [int(f) for f in result["faults"]]


def test_large_blocks_are_reused_without_page_faults() -> None:
    pages = 4 * 6_000_000 * 8 // 4096  # 187 MB a round, 46,875 pages
    _, untuned = run_child("default")
    assert all(f > pages // 2 for f in untuned[1:])  # each round faults anew
    applied, tuned = run_child("tuned")
    assert applied is True
    assert tuned[0] > pages // 2  # the first round grows the heap
    assert all(f < pages // 20 for f in tuned[1:])  # later rounds reuse it


def test_the_operators_own_allocator_settings_are_kept() -> None:
    applied, faults = run_child("tuned", MALLOC_ARENA_MAX="4")
    assert applied is False
    assert all(f > 4 * 6_000_000 * 8 // 4096 // 2 for f in faults[1:])
