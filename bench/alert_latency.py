"""Alert latency: from a condition becoming true to a webhook receiver holding the notification.

python bench/alert_latency.py [--runs 100] [--promql-runs 20] [--load-alerts 10000]
                              [--load-runs 10] [--database-url URL] [--server-log FILE]

A real `watchkeeper up` process (SQLite under a temporary home; with --database-url, a
throw-away database on that PostgreSQL server, dropped afterwards) runs a plan whose alerts
go to a webhook receiver in this process, through a route with `group_interval: 1s`:

1. Check-state rule: an `http` check (interval 1s, retries 0, recover_after 1) against a
   loopback target in this process, and a `check:` rule (critical). Each run waits until the
   alert is resolved, waits a random 0.5-1.5 s (so that the target fails at a random point of
   the check's cycle), makes the target answer 500 at a recorded instant, and times the
   arrival of the firing notification.
2. PromQL rule `bench_signal == 0` (interval 5s): the series is pushed by remote-write every
   second with value 1; at a recorded instant (a random point of the evaluation cycle) a 0 is
   pushed, and the arrival of the notification is timed.
3. Load: `--load-alerts` series `bench_load{shard="0".."99", id="..."} 1` pushed in one
   remote-write request (and again every 15 s, as Prometheus would) make a rule
   `bench_load > 0` (interval 5s) fire that many alerts, routed with `group_by: [shard]`.
   Timed: push -> evaluation -> every group notification received. While they fire, the
   check-state latency of 1. is measured again; the evaluator's pass durations come from
   /metrics, and the outbox queue is read afterwards.

Each latency is split into stages with the alert's `startsAt` (the evaluation that fired it),
the start of the first failing check run (from the store) and the server's log lines (check
state stored, alerts recorded). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import numpy as np
from alert_rig import (
    WAIT,
    BenchError,
    Delivery,
    Peers,
    ServerLog,
    Store,
    database,
    is_,
    watchkeeper_up,
)
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from watchkeeper.metrics.remote_write import HEADERS, encode_write_request

CHECK = "bench-target"
CHECK_RULE, PROMQL_RULE, LOAD_RULE = "BenchCheckDown", "BenchSignalZero", "BenchLoad"
PROMQL_INTERVAL = 5.0
SHARDS = 100
REPUSH_EVERY = 15.0
RUNNER, EVALUATOR = "watchkeeper.checks.runner", "watchkeeper.alerts.evaluator"

PLAN = """\
version: 1
name: Alert latency benchmark
checks:
  - {{name: {check}, type: http, url: "http://127.0.0.1:{target}/", interval: 1s,
     timeout: 2s, retries: 0, recover_after: 1}}
alerts:
  rules:
    - {{name: {check_rule}, check: {check}, severity: critical}}
    - {{name: {promql_rule}, expr: bench_signal == 0, interval: 5s, severity: critical}}
    - {{name: {load_rule}, expr: bench_load > 0, interval: 5s, severity: critical}}
  route:
    receiver: bench
    group_interval: 1s
    routes:
      - {{matchers: ['alertname="{load_rule}"'], group_by: [shard]}}
notifications:
  channels:
    - {{name: bench, type: webhook, url: "http://127.0.0.1:{receiver}/hook"}}
"""

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]
Series = list[tuple[dict[str, str], float]]


@dataclass(frozen=True)
class Run:
    """One latency run, in Unix times: the condition became true (``down``), the evaluation
    that fired the alert; for check rules the start of the first failing check run and the
    moment the runner stored the state change. ``latency`` is measured with time.monotonic()."""

    down: float
    fired: float
    latency: float
    detected: float | None = None
    stored: float | None = None


def first_after(times: list[float], moment: float | None) -> float | None:
    if moment is None:
        return None
    return next((t for t in times if t >= moment), None)


class Bench:
    """The measurements, against one running server."""

    def __init__(
        self,
        peers: Peers,
        http: httpx.AsyncClient,
        store: Store,
        log: ServerLog,
        token: str,
        progress: Progress,
    ) -> None:
        self.peers = peers
        self.http = http
        self.store = store
        self.log = log
        self.progress = progress
        self.headers = {**HEADERS, "Authorization": f"Bearer {token}"}
        self.signal = 1.0
        self._push_lock = asyncio.Lock()
        self._last_ms = 0

    async def metrics(self) -> Metrics:
        resp = await self.http.get("/metrics")
        resp.raise_for_status()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text)
            for s in family.samples
        }

    async def push(self, series: Series) -> float:
        """Remote-write one sample of each series, stamped now; return the stamp (Unix)."""
        async with self._push_lock:
            now_ms = max(int(time.time() * 1000), self._last_ms + 1)
            self._last_ms = now_ms
            body = await asyncio.to_thread(
                encode_write_request, [(labels, [(now_ms, v)]) for labels, v in series]
            )
            resp = await self.http.post("/api/v1/write", content=body, headers=self.headers)
        if resp.status_code != 204:
            raise BenchError(f"remote-write answered {resp.status_code}: {resp.text[:300]}")
        return now_ms / 1000

    async def keep_pushing(self, series: Callable[[], Series], every: float) -> None:
        """Push ``series()`` every ``every`` seconds, the first time after one interval."""
        while True:
            await asyncio.sleep(every)
            await self.push(series())

    async def ready(self) -> None:
        """Wait until the server answers and has judged the check up."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                if (await self.metrics()).get(("watchkeeper_checks", (("status", "up"),))) == 1:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        raise BenchError("the server did not start, or never judged the check up")

    async def check_runs(self, count: int, label: str) -> list[Run]:
        """Take the target down ``count`` times; time each firing notification."""
        task = self.progress.add_task(label, total=count)
        since = time.time() - 1
        runs = []
        for _ in range(count):
            mark = len(self.peers.deliveries)
            await asyncio.sleep(random.uniform(0.5, 1.5))
            down, start = time.time(), time.monotonic()
            self.peers.up = False
            _, got = await self.peers.wait(mark, is_(CHECK_RULE, "firing"))
            runs.append(Run(down, got.fired_at(), got.at - start))
            mark = len(self.peers.deliveries)
            self.peers.up = True
            await self.peers.wait(mark, is_(CHECK_RULE, "resolved"))
            self.progress.update(
                task, advance=1, description=f"{label} (last {got.at - start:.2f} s)"
            )
        starts = await asyncio.to_thread(self.store.failing_runs, CHECK, since)
        stored = await asyncio.to_thread(self.log.times, RUNNER, f"check {CHECK} is down", since)
        out = []
        for run in runs:
            # a run in flight when the target went down got the 500 too
            detected = first_after(starts, run.down - 0.2)
            out.append(replace(run, detected=detected, stored=first_after(stored, detected)))
        return out

    async def promql_runs(self, count: int) -> list[Run]:
        """Push a 0 ``count`` times; time each firing notification."""
        task = self.progress.add_task("PromQL rule", total=count)
        labels = {"__name__": "bench_signal", "job": "bench"}
        await self.push([(labels, 1.0)])
        pusher = asyncio.create_task(self.keep_pushing(lambda: [(labels, self.signal)], 1.0))
        runs = []
        try:
            await asyncio.sleep(2)
            for _ in range(count):
                mark = len(self.peers.deliveries)
                await asyncio.sleep(random.uniform(0, PROMQL_INTERVAL))
                start = time.monotonic()
                self.signal = 0.0
                down = await self.push([(labels, 0.0)])
                _, got = await self.peers.wait(mark, is_(PROMQL_RULE, "firing"))
                runs.append(Run(down, got.fired_at(), got.at - start))
                mark = len(self.peers.deliveries)
                self.signal = 1.0
                await self.push([(labels, 1.0)])
                await self.peers.wait(mark, is_(PROMQL_RULE, "resolved"))
                self.progress.update(task, advance=1)
        finally:
            pusher.cancel()
        return runs


# -- the report -----------------------------------------------------------------------------


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} (other work on the machine slows the figures)"
    )


def histogram(before: Metrics, after: Metrics, kind: str) -> tuple[int, float]:
    """(count, total seconds) of watchkeeper_rule_evaluation_seconds{kind} between reads."""
    name, labels = "watchkeeper_rule_evaluation_seconds", (("kind", kind),)
    count = after.get((f"{name}_count", labels), 0) - before.get((f"{name}_count", labels), 0)
    total = after.get((f"{name}_sum", labels), 0) - before.get((f"{name}_sum", labels), 0)
    return int(count), total


class Report:
    """Two tables: latency percentiles, and single figures (the load part, pass durations)."""

    def __init__(self) -> None:
        self.latencies = Table(title="Latency, seconds", title_justify="left")
        for column in ("measurement", "n", "p50", "p90", "p99", "max", "target"):
            self.latencies.add_column(
                column, justify="left" if column == "measurement" else "right"
            )
        self.figures = Table(title="Figures", title_justify="left")
        self.figures.add_column("measurement")
        self.figures.add_column("value", justify="right")

    def row(self, name: str, values: list[float], target: str = "", style: str = "") -> None:
        q = [float(np.percentile(values, p)) for p in (50, 90, 99, 100)]
        self.latencies.add_row(
            name, str(len(values)), *(f"{v:.3f}" for v in q), target, style=style
        )

    def figure(self, name: str, value: str = "") -> None:
        self.figures.add_row(name, value, style="" if value else "bold")

    def latency(self, title: str, runs: list[Run], goal: float, first_stage: str = "") -> None:
        """Add the percentiles of ``runs`` and of their stages."""
        lat = [r.latency for r in runs]
        met = float(np.percentile(lat, 99)) < goal
        self.row(title, lat, f"p99 < {goal:g}: {'met' if met else 'MISSED'}", style="bold")
        staged = [
            (r, r.detected, r.stored)
            for r in runs
            if r.detected is not None and r.stored is not None
        ]
        if runs and len(staged) == len(runs):
            self.row("  wait for the next check run (0-1 s)", [d - r.down for r, d, _ in staged])
            self.row(
                "  check run -> state stored (run, runner flush)", [s - d for _, d, s in staged]
            )
            self.row(
                "  state stored -> alert fires (event bus, evaluator pass starts)",
                [r.fired - s for r, _, s in staged],
            )
        elif first_stage:
            self.row(f"  {first_stage}", [r.fired - r.down for r in runs])
        self.row(
            "  alert fires -> received (pass ends, outbox, worker, POST)",
            [r.down + r.latency - r.fired for r in runs],
        )

    def passes(self, what: str, before: Metrics, after: Metrics) -> None:
        for kind, label in (("check", "evaluator check passes"), ("promql", "PromQL queries")):
            count, total = histogram(before, after, kind)
            if count:
                self.figure(f"  {label} {what}: {count}, mean", f"{total / count:.3f} s")


# -- the whole run --------------------------------------------------------------------------


async def load_phase(bench: Bench, report: Report, alerts: int, runs: int) -> None:
    """Make ``alerts`` alerts fire at once; time their notifications, then check latency."""
    shards = min(SHARDS, alerts)
    series = [
        ({"__name__": "bench_load", "shard": str(i % shards), "id": str(i)}, 1.0)
        for i in range(alerts)
    ]
    task = bench.progress.add_task(f"{alerts:,} alerts: groups notified", total=shards)
    before = await bench.metrics()
    mark = len(bench.peers.deliveries)
    start = time.monotonic()
    pushed = await bench.push(series)
    push_took = time.monotonic() - start
    repush = asyncio.create_task(bench.keep_pushing(lambda: series, REPUSH_EVERY))
    try:
        seen: dict[str, set[str]] = {}
        got: list[Delivery] = []
        while sum(len(v) for v in seen.values()) < alerts:
            mark, d = await bench.peers.wait(mark, is_(LOAD_RULE, "firing"))
            mark += 1
            got.append(d)
            seen.setdefault(d.body["groupLabels"].get("shard", ""), set()).update(
                a["fingerprint"] for a in d.firing()
            )
            bench.progress.update(task, completed=len(seen))
        firing = await bench.metrics()
        check = await bench.check_runs(runs, f"check-state rule, {alerts:,} alerts firing")
        after = await bench.metrics()
    finally:
        repush.cancel()
    evaluated = min(d.fired_at() for d in got)
    received = [d.at - start + pushed for d in got]  # as Unix times
    logged = await asyncio.to_thread(
        bench.log.times, EVALUATOR, f"alert {LOAD_RULE} firing", pushed
    )
    report.figure(f"{alerts:,} alerts of a PromQL rule (interval 5s), {shards} groups by shard")
    report.figure("  remote-write request with the series answered in", f"{push_took:.3f} s")
    report.figure("  push -> the evaluation that fires them starts", f"{evaluated - pushed:.3f} s")
    if len(logged) >= alerts:
        report.figure(
            "  evaluation starts -> alerts recorded (query, step, alert rows)",
            f"{logged[0] - evaluated:.3f} s",
        )
        report.figure("  -> their 'firing' lines logged", f"{logged[alerts - 1] - logged[0]:.3f} s")
        report.figure(
            "  -> first group received (dispatch, commit, outbox, worker, POST)",
            f"{received[0] - logged[alerts - 1]:.3f} s",
        )
    else:
        report.figure(
            "  evaluation starts -> first group received", f"{received[0] - evaluated:.3f} s"
        )
    report.figure(
        f"  first -> last group received ({len(got)} notifications)",
        f"{received[-1] - received[0]:.3f} s",
    )
    report.figure("  push -> all received", f"{received[-1] - pushed:.3f} s")
    report.passes("until then", before, firing)
    report.latency(f"check-state rule while {alerts:,} alerts fire", check, 2.0)
    report.passes(f"during the {runs} check runs under load", firing, after)
    await asyncio.sleep(2)  # the worker refreshes its gauges every second
    final = await bench.metrics()
    report.figure(
        "  firing alerts afterwards (watchkeeper_alerts)",
        f"{final.get(('watchkeeper_alerts', (('state', 'firing'),)), 0):,.0f}",
    )
    report.figure(
        "  outbox queue afterwards (watchkeeper_notifications_queued)",
        f"{final.get(('watchkeeper_notifications_queued', ()), 0):,.0f}",
    )


async def run_phases(args: argparse.Namespace, bench: Bench, report: Report) -> None:
    await bench.ready()
    before = await bench.metrics()
    runs = await bench.check_runs(args.runs, "check-state rule")
    after = await bench.metrics()
    report.latency("check-state rule (check every 1s): down -> received", runs, 2.0)
    report.figure("Idle server")
    report.passes(f"during the {args.runs} check runs", before, after)
    if args.promql_runs:
        runs = await bench.promql_runs(args.promql_runs)
        report.latency(
            "PromQL rule (interval 5s): 0 pushed -> received",
            runs,
            PROMQL_INTERVAL + 1,
            "wait for the next evaluation (0-5 s)",
        )
    if args.load_alerts:
        await load_phase(bench, report, args.load_alerts, args.load_runs)


async def measure(args: argparse.Namespace, home: Path, url: str, report: Report) -> None:
    """Start the loopback peers and the server, and run the measurements."""
    peers = Peers()
    target, receiver = await peers.start()
    store = Store(url)
    log = ServerLog(home / "server.log")
    try:
        plan = home / "watchkeeper.yaml"
        plan.write_text(
            PLAN.format(
                check=CHECK,
                target=target,
                receiver=receiver,
                check_rule=CHECK_RULE,
                promql_rule=PROMQL_RULE,
                load_rule=LOAD_RULE,
            )
        )
        token = await asyncio.to_thread(store.operator_token)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with (
            watchkeeper_up(home, plan, url, port) as log,
            Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as progress,
        ):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                bench = Bench(peers, http, store, log, token, progress)
                try:
                    await run_phases(args, bench, report)
                except (BenchError, httpx.HTTPError) as exc:
                    raise BenchError(f"{exc}\nthe server's last log lines:\n{log.tail()}") from None
    finally:
        store.close()
        await peers.stop()
        if args.server_log and log.path.exists():
            shutil.copyfile(log.path, args.server_log)


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="check-state rule runs")
    parser.add_argument("--promql-runs", type=int, default=20, help="PromQL rule runs (0: skip)")
    parser.add_argument(
        "--load-alerts", type=int, default=10_000, help="alerts firing at once (0: skip)"
    )
    parser.add_argument(
        "--load-runs", type=int, default=10, help="check-state rule runs while they fire"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server: the bench creates a throw-away database on it and drops it",
    )
    parser.add_argument("--server-log", type=Path, help="keep the server's log in this file")
    args = parser.parse_args()
    if args.runs < 1 or args.promql_runs < 0 or args.load_alerts < 0 or args.load_runs < 1:
        parser.error("--runs and --load-runs must be at least 1, the others at least 0")
    # SIGTERM stops the bench as Ctrl-C does: the server is stopped and its data removed
    signal.signal(signal.SIGTERM, interrupt)
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    report = Report()
    try:
        with tempfile.TemporaryDirectory(prefix="wk-bench-alerts-") as tmp:
            home = Path(tmp)
            with database(args.database_url, home) as (url, described):
                out.print(f"machine: {machine()}")
                out.print(f"database: {described}")
                asyncio.run(measure(args, home, url, report))
    except BenchError as exc:
        out.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        out.print("interrupted; the server was stopped and its data removed")
        raise SystemExit(130) from None
    out.print(report.latencies)
    out.print(report.figures)


if __name__ == "__main__":
    main()
