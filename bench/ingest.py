"""Remote-write ingest: samples per second into SQLite and PostgreSQL, end to end.

python bench/ingest.py [--seconds 15] [--concurrency 4] [--postgres-url URL | --no-postgres]

A real server (uvicorn serving the app, in its own process so that it does not share this
process's GIL) receives remote-write requests over loopback HTTP with an operator API token,
in Prometheus's batch shapes: 2,000 series x 1 sample and 500 series x 10 samples. The
requests are encoded before the clock starts (Prometheus's own cost), and the series exist
before it starts (Prometheus sends the same series every scrape): the figure is the steady
state of receiving, decoding, checking and storing. Each store gets a fresh database
(PostgreSQL: a throw-away database on the given server, dropped afterwards).

For a breakdown the script also times, in this process, the decoding alone and the store's
``write()`` alone on the same batches.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cramjam
import httpx
import uvicorn
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from watchkeeper.auth.audit import Actor
from watchkeeper.auth.tokens import create_service_account, create_token
from watchkeeper.metrics.labels import Labels, make_labels
from watchkeeper.metrics.remote_write import (
    HEADERS,
    WriteRequest,
    decode_write_request,
    encode_write_request,
)
from watchkeeper.metrics.store import MetricStore
from watchkeeper.runtime import gc_tuning
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine, normalise_url, session_factory
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import User

T0 = 1_700_000_000_000
SHAPES = ((2000, 1), (500, 10))  # (series, samples per series) per request


def node_series(count: int) -> list[Labels]:
    """Label sets like node_exporter's: a few metric names over CPUs, devices and hosts."""
    names = ("node_cpu_seconds_total", "node_network_receive_bytes_total", "node_disk_io_now")
    return [
        make_labels(
            {
                "__name__": names[i % len(names)],
                "job": "node",
                "instance": f"host-{i // 100}:9100",
                "cpu": str(i % 8),
                "device": f"dev{i % 100}",
                "mode": ("user", "system", "idle", "iowait")[i % 4],
            }
        )
        for i in range(count)
    ]


def requests(series: list[Labels], per_series: int, count: int) -> list[bytes]:
    """``count`` request bodies, each a later stretch of 15 s samples of every series.

    The first is made by ``encode_write_request``; the others reuse its decoded message
    with new timestamps and values (encoding thousands of requests from scratch would
    take longer than the run).
    """
    stamps = [T0 + k * 15_000 for k in range(per_series)]
    first = encode_write_request([(s, [(t, 0.0) for t in stamps]) for s in series])
    message = WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(first)))
    bodies = [first]
    for n in range(1, count):
        shift = n * per_series * 15_000
        for ts in message.timeseries:
            for k, sample in enumerate(ts.samples):
                sample.timestamp = stamps[k] + shift
                sample.value = float(n + k)
        bodies.append(bytes(cramjam.snappy.compress_raw(message.SerializeToString())))
    return bodies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(database_url: str, home: str, port: int) -> None:
    settings = load_settings(env={}, home=home, database_url=database_url)
    app = create_app(AppContext.create(settings, env={}))
    if os.environ.get("BENCH_GC_DEFAULTS") != "1":  # as `watchkeeper up` does
        gc_tuning.settle()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def operator_token(database_url: str) -> str:
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    with sessions() as db:
        create_service_account(db, Actor("bench"), "prometheus", "operator")
        user = db.scalar(select(User).where(User.username == "prometheus"))
        assert user is not None
        token = create_token(db, Actor("bench"), user, "remote-write", "operator").token
        db.commit()
    engine.dispose()
    return token


@contextmanager
def server(database_url: str) -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        proc = multiprocessing.Process(target=serve, args=(database_url, home, port), daemon=True)
        proc.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not proc.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        try:
            yield base
        finally:
            proc.terminate()
            proc.join(10)


def push(
    base: str, token: str, bodies: list[bytes], seconds: float, concurrency: int
) -> tuple[int, float]:
    """Send ``bodies`` round-robin from ``concurrency`` connections for ``seconds``; return
    (requests answered 204, elapsed seconds)."""
    headers = {**HEADERS, "Authorization": f"Bearer {token}"}
    lock = threading.Lock()
    next_body = iter(range(len(bodies)))
    done = [0]
    stop = time.monotonic() + seconds

    def worker() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            while time.monotonic() < stop:
                with lock:
                    index = next(next_body, None)
                if index is None:
                    return
                resp = client.post("/api/v1/write", content=bodies[index])
                if resp.status_code != 204:
                    raise RuntimeError(
                        f"remote-write answered {resp.status_code}: {resp.text[:200]}"
                    )
                with lock:
                    done[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0], time.perf_counter() - start


@contextmanager
def database(kind: str, postgres_url: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    admin = create_engine(normalise_url(postgres_url), isolation_level="AUTOCOMMIT")
    name = f"wk_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(normalise_url(postgres_url))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def in_process(database_url: str, bodies: list[bytes]) -> tuple[float, float]:
    """Decode-only and store-only samples/s on the same requests (after a warm-up)."""
    decoded = [decode_write_request(b) for b in bodies]
    samples = sum(d.samples for d in decoded)
    start = time.perf_counter()
    for body in bodies:
        decode_write_request(body)
    decode_rate = samples / (time.perf_counter() - start)
    engine = make_engine(database_url)
    store = MetricStore(engine)
    store.write(decoded[0].series)  # series exist, as in steady state
    start = time.perf_counter()
    for d in decoded[1:]:
        store.write(d.series)
    store_rate = (samples - decoded[0].samples) / (time.perf_counter() - start)
    engine.dispose()
    return decode_rate, store_rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=4, help="parallel connections")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "WATCHKEEPER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} (other work on "
        "the machine lowers the figures)"
    )
    kinds = ["sqlite"] if args.no_postgres else ["sqlite", "postgresql"]
    for kind in kinds:
        for series_count, per_series in SHAPES:
            series = node_series(series_count)
            per_request = series_count * per_series
            # Enough distinct requests for the run, plus one to create the series first.
            count = max(20, int(args.seconds * 400_000 / per_request))
            bodies = requests(series, per_series, count + 1)
            with database(kind, args.postgres_url) as url:
                upgrade_engine = make_engine(url)
                upgrade(upgrade_engine)
                upgrade_engine.dispose()
                token = operator_token(url)
                with server(url) as base:
                    push(base, token, bodies[:1], 60, 1)  # creates the series
                    answered, elapsed = push(
                        base, token, bodies[1:], args.seconds, args.concurrency
                    )
            rate = answered * per_request / elapsed
            with database(kind, args.postgres_url) as url:
                engine = make_engine(url)
                upgrade(engine)
                engine.dispose()
                decode_rate, store_rate = in_process(url, bodies[: min(len(bodies), 21)])
            print(
                f"{kind:10} {series_count:>5} series x {per_series:>2} samples/request, "
                f"{args.concurrency} connections: {rate:>9,.0f} samples/s end to end "
                f"({answered} requests in {elapsed:.1f}s); in process: decode "
                f"{decode_rate:,.0f}/s, store.write {store_rate:,.0f}/s"
            )


if __name__ == "__main__":
    main()
