"""The server process freezes its start-up objects and collects the young generation less
often (checked in a child process: the test process keeps its own collector settings)."""

from __future__ import annotations

import subprocess
import sys

from watchkeeper.runtime.gc_tuning import YOUNG_THRESHOLD

CHILD = """
import gc, json
import watchkeeper.plan.models  # long-lived objects, as a server has after start-up
from watchkeeper.runtime.gc_tuning import settle
before = gc.get_freeze_count()
settle()
print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()[0]]))
"""


def test_settle_freezes_what_start_up_made_and_raises_the_young_threshold() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    before, after, young = (int(x) for x in out.strip().strip("[]").split(","))
    assert before == 0
    assert after > 10_000  # the modules and models loaded at start-up
    assert young == YOUNG_THRESHOLD
