"""The server process reuses freed memory for large blocks instead of faulting fresh pages
in for each (checked in child processes: the allocator settings are process-wide)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

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


def child_result(code: str, *args: str, **env: str) -> dict[str, Any]:
    """Run ``code`` in a child process without the allocator settings of this one's
    environment; return the JSON it printed."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=environ | env,
    )
    return dict(json.loads(done.stdout))


def run_child(mode: str, **env: str) -> tuple[bool | None, list[int]]:
    """Run CHILD; return whether the settings were applied and each round's page faults."""
    # 4 KB pages, so that a fresh block costs one fault per page whatever THP is set to.
    result = child_result(CHILD, mode, NUMPY_MADVISE_HUGEPAGE="0", **env)
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


RELEASE_CHILD = """
import json, sys
from watchkeeper.runtime.malloc_tuning import keep_freed_memory, release_free_memory
def rss_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
keep_freed_memory()
# What loading a large plan leaves: many mid-sized blocks freed, a few kept between them.
blocks = [bytearray(4096) for _ in range(60_000)]
kept = blocks[::500]
del blocks
before = rss_kb()
released = release_free_memory()
print(json.dumps({"before": before, "after": rss_kb(), "released": released, "n": len(kept)}))
"""


def test_free_memory_kept_by_the_settings_is_given_back_on_request() -> None:
    result = child_result(RELEASE_CHILD)
    assert result["released"] is True
    assert result["before"] - result["after"] > 150_000  # of ≈240 MB freed, in KB
