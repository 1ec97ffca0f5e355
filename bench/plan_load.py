"""Time loading, validating, diffing and applying a large plan file.

python bench/plan_load.py [--checks 2000] [--database-url URL]
Prints one line per step with the median of 5 runs.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

from watchkeeper.plan.apply import apply_plan, diff_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.engine import make_engine, session_factory
from watchkeeper.store.migrate import upgrade


def make_plan(n: int) -> str:
    lines = ["name: bench", "checks:"]
    for i in range(n):
        if i % 2:
            lines += [
                f"  - name: web-{i}",
                "    type: http",
                f"    url: https://svc-{i}.example.com/health",
                "    interval: 30s",
                "    expected_status: [200, 204]",
                "    tags: [bench, web]",
            ]
        else:
            lines += [
                f"  - name: tcp-{i}",
                "    type: tcp",
                f"    host: db-{i}.internal",
                "    port: 5432",
                "    retries: 2",
            ]
    return "\n".join(lines) + "\n"


def median_ms(fn, runs: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    text = make_plan(args.checks)
    print(
        f"machine: {platform.processor() or platform.machine()}, python "
        f"{platform.python_version()}; plan: {args.checks} checks, {len(text) // 1024} KiB"
    )
    load_ms = median_ms(lambda: load_plan_text(text))
    print(f"load + validate: {load_ms:8.1f} ms  ({args.checks / load_ms * 1000:,.0f} objects/s)")
    loaded = load_plan_text(text)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        with sessions() as db:
            t0 = time.perf_counter()
            apply_plan(db, loaded)
            db.commit()
            first_ms = (time.perf_counter() - t0) * 1000
        print(f"first apply:     {first_ms:8.1f} ms  ({engine.dialect.name})")

        def noop_apply() -> None:
            with sessions() as db:
                apply_plan(db, loaded)
                db.commit()

        def diff() -> None:
            with sessions() as db:
                diff_plan(db, loaded)

        print(f"diff (no change): {median_ms(diff):7.1f} ms")
        print(f"re-apply (no-op): {median_ms(noop_apply):7.1f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
