"""Backups (issue 8): backup and restore throughput through Watchkeeper, next to bare restic.

    .venv/bin/python bench/backup.py [--size-gb 2] [--quick] [--repeat 1] [--workdir /var/tmp]
                                     [--postgres-url URL] [--only pg|dir]

Target: Watchkeeper's time over restic run by hand on the same data, under 10%.

The data, made before any clock starts and removed at the end (also on Ctrl-C or SIGTERM):

- a throw-away PostgreSQL database of ``--size-gb`` (``pg_database_size``, indexes
  included) on the given server: orders and events with integers, timestamps, numerics,
  text of varying length with some repetition (filled on the server with ``INSERT ... SELECT
  generate_series``), primary keys and an index, then ``VACUUM (FREEZE, ANALYZE)`` so that
  the first reader does not pay for setting hint bits;
- a directory of ``--size-gb``: ~20% of the bytes in small files (0.5-64 KiB), ~40% in
  medium ones (0.1-4 MiB), ~40% in large ones (32-128 MiB); half the files random bytes
  (incompressible), half text over a 32-letter alphabet (compresses to about two thirds).

Watchkeeper goes through its real product paths, as subprocesses: ``watchkeeper backup run
POLICY --plan PLAN`` on a plan whose repositories are local directories, and ``watchkeeper
restore database POLICY DB --to NEW --plan PLAN`` / ``watchkeeper restore files POLICY --to
DIR --plan PLAN``, with ``WATCHKEEPER_HOME`` a temporary directory holding the SQLite store
(migrated with ``watchkeeper db upgrade`` before the clocks start). Its first backup of a
repository includes creating it (``restic init``), as the product does.

Bare restic gets the same data, the same password and its own fresh repository:
``restic init`` + ``pg_dump -Fc DB | restic backup --stdin --stdin-filename DB.pgdump``,
``restic init`` + ``restic backup DIR``; restores are ``createdb NEW && restic dump latest
/DB.pgdump | pg_restore -d NEW`` and ``restic restore latest --target EMPTY``. Both sides get
a fresh restic cache per repository. Each repetition uses fresh repositories; the order of
the two sides alternates between repetitions, and the disks are synced (``sync``) outside
the clocks between steps. A second backup of the unchanged data ("incremental") is timed for
both sides too.

Figures: wall-clock seconds of each command (median over ``--repeat``), MB/s of the source
(10^6 bytes: the database's size on disk, the directory's bytes), and the overhead of
Watchkeeper over bare restic per row; then the CPU seconds (user + system) of each command
and everything it ran (Python, restic, pg_dump / pg_restore; not the PostgreSQL server),
which waiting for a busy CPU does not inflate: on a shared machine compare those. A second
table splits Watchkeeper's extra seconds using the run the store recorded (``backup_runs``):
outside the run (wall time minus the run's ``duration_s``: process start-up, imports, plan
and store; for a restore also finding the snapshot and its size) and inside it
(``duration_s`` minus bare restic's wall time: ``restic init``, the inventory, progress
writes). The inventory alone (row counts, sampled checksums) is then timed in this process
with the product's own functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
WATCHKEEPER = str(ROOT / ".venv" / "bin" / "watchkeeper")
MB = 1_000_000
console = Console(width=None if sys.stdout.isatty() else 140)
log = Console(stderr=True)


# -- the machine ------------------------------------------------------------------------------


def _output(argv: Sequence[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "not found"


def machine(workdir: Path, admin: str) -> list[str]:
    """Lines describing the machine: CPU, RAM, the work directory's disk, tool versions."""
    model = platform.processor() or platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    disk = psutil.disk_usage(str(workdir))
    device = next(
        (
            p.device
            for p in sorted(psutil.disk_partitions(all=True), key=lambda p: -len(p.mountpoint))
            if str(workdir.resolve()).startswith(p.mountpoint)
        ),
        "?",
    )
    rotational = Path(f"/sys/block/{Path(device).name}/queue/rotational")
    kind = ""
    with suppress(OSError):
        kind = ", rotational" if rotational.read_text().strip() == "1" else ", non-rotational"
    with psycopg.connect(admin, autocommit=True) as conn:
        server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    return [
        f"CPU: {model}, {os.cpu_count()} cores; RAM {psutil.virtual_memory().total / 2**30:.0f}"
        f" GiB; load average {os.getloadavg()[0]:.1f} (other work on the machine slows both"
        " sides)",
        f"disk: {workdir} on {device}{kind}, {disk.total / 2**30:.0f} GiB,"
        f" {disk.free / 2**30:.0f} GiB free",
        f"{_output(['restic', 'version'])}; PostgreSQL server {server},"
        f" {_output(['pg_dump', '--version'])}; python {platform.python_version()}",
    ]


# -- running commands -------------------------------------------------------------------------


class CommandFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds, and CPU seconds (user + system) of the command and every process
    it started and waited for (restic, pg_dump, pg_restore; not the PostgreSQL server)."""

    wall: float
    cpu: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    argv: Sequence[str],
    env: Mapping[str, str],
    what: str,
    cwd: Path | None = None,
) -> Timing:
    """Run ``argv`` in its own process group; return its Timing. Raise CommandFailed with
    its output's tail if it exits non-zero. Interrupted (Ctrl-C), the group gets SIGINT
    (restic then removes its lock), SIGKILL 10 s later."""
    with tempfile.TemporaryFile() as output:
        cpu = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait()
        except BaseException:
            stop(proc)
            raise
        timing = Timing(time.perf_counter() - start, _children_cpu() - cpu)
        if code != 0:
            output.seek(0)
            tail = output.read().decode("utf-8", "replace")[-3000:]
            raise CommandFailed(f"{what}: exit status {code}\n{tail}")
    return timing


def stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGKILL, 10.0)):
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
            return


def pipeline(commands: str, env: Mapping[str, str], what: str, *args: str) -> Timing:
    """Run a shell pipeline (``set -o pipefail``) with positional ``args`` ($1, $2...)."""
    return run(["bash", "-c", f"set -euo pipefail; {commands}", "bench", *args], env, what)


def base_env() -> dict[str, str]:
    """This process's environment without anything that would steer restic or Watchkeeper
    elsewhere."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "WATCHKEEPER_", "PG"))
    }


# -- the data ---------------------------------------------------------------------------------

ORDERS = """
INSERT INTO orders
SELECT i,
       (i * 7919) %% 200000,
       timestamptz '2022-01-01' + i * interval '3 seconds' + random() * interval '2 seconds',
       (ARRAY['new','paid','packed','shipped','delivered','returned'])[1 + i %% 6],
       round((random() * 500)::numeric, 2),
       CASE WHEN i %% 4 = 0 THEN NULL
            ELSE repeat((ARRAY['Leave at the door. ', 'Call before delivery. ',
                               'Gift wrap, no invoice in the box. ', 'Fragile: glassware. ',
                               'Deliver to the back entrance, ring twice. '])[1 + i %% 5],
                        (1 + i %% 3)::int) || md5(i::text)
       END
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i
"""
EVENTS = """
INSERT INTO events
SELECT i,
       i / 3,
       timestamptz '2022-01-01' + i * interval '1 second' + random() * interval '1 second',
       (ARRAY['view','cart','checkout','payment','refund','login'])[1 + (i * 31) %% 6],
       'ua=' || (ARRAY['Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
                       'Mozilla/5.0 (Macintosh; Intel Mac OS X 13_4) AppleWebKit/605.1.15',
                       'curl/8.1.2', 'okhttp/4.11.0',
                       'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)'])[1 + i %% 5]
       || ' ip=10.' || (i %% 250) || '.' || ((i / 250) %% 250) || '.' || ((i * 13) %% 250)
       || ' session=' || substr(md5((i / 7)::text), 1, 16)
       || ' ' || substr(repeat(md5(i::text) || md5((i + 1)::text), 4), 1,
                        ((i * 37) %% 200)::int)
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i
"""
SCHEMA = """
CREATE TABLE orders (id bigint NOT NULL, customer_id integer NOT NULL,
                     created_at timestamptz NOT NULL, status text NOT NULL,
                     amount numeric(12, 2) NOT NULL, note text);
CREATE TABLE events (id bigint NOT NULL, order_id bigint NOT NULL, at timestamptz NOT NULL,
                     kind text NOT NULL, payload text NOT NULL);
"""
INDEXES = """
ALTER TABLE orders ADD PRIMARY KEY (id);
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE INDEX events_order_id ON events (order_id);
"""
INDEX_SHARE = 0.12  # roughly the share of the database the indexes add


def database_size(conninfo: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def fill_database(conninfo: str, target: int) -> int:
    """Fill the (empty) database at ``conninfo`` to about ``target`` bytes; return its size.
    One unit is one order and three events; the bytes per unit come from a first batch."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(SCHEMA)
        units, batch = 0, 50_000
        heap_target = target * (1 - INDEX_SHARE)
        while True:
            conn.execute(ORDERS, {"lo": units + 1, "hi": units + batch})
            conn.execute(EVENTS, {"lo": 3 * units + 1, "hi": 3 * (units + batch)})
            units += batch
            size = database_size(conninfo)
            log.print(f"  database: {size / MB:,.0f} MB of {target / MB:,.0f}", highlight=False)
            if size >= heap_target:
                break
            per_unit = size / units
            batch = max(10_000, min(1_000_000, int((heap_target - size) / per_unit) + 1))
        conn.execute(INDEXES)
        conn.execute("VACUUM (FREEZE, ANALYZE)")
    return database_size(conninfo)


ALPHABET = b"etaoinshrdlcumwfgypbvkxjqz ,.:\n-"


def make_tree(root: Path, target: int, seed: int = 8) -> tuple[int, int]:
    """Write about ``target`` bytes of files under ``root``; return (bytes, files)."""
    rng = random.Random(seed)
    text = bytes.maketrans(bytes(range(256)), ALPHABET * 8)
    shares = ((0.2, 512, 64 << 10), (0.4, 100 << 10, 4 << 20), (0.4, 32 << 20, 128 << 20))
    written = files = 0
    for n, (share, low, high) in enumerate(shares):
        budget = int(target * share)
        high = max(low, min(high, budget))
        while budget > 0:
            size = min(budget, rng.randint(low, high))
            directory = root / f"set{n}" / f"d{files // 200:04d}"
            directory.mkdir(parents=True, exist_ok=True)
            data = rng.randbytes(size)
            if files % 2:
                data = data.translate(text)
            (directory / f"f{files:06d}.{'txt' if files % 2 else 'bin'}").write_bytes(data)
            budget -= size
            written += size
            files += 1
    return written, files


# -- the two sides ----------------------------------------------------------------------------


@dataclass
class Side:
    """One side's timings: row name -> Timing of each repetition."""

    seconds: dict[str, list[Timing]] = field(default_factory=lambda: defaultdict(list))


class Watchkeeper:
    """The product, through its CLI, on a temporary home with a SQLite store."""

    def __init__(self, home: Path, admin_url: str, password: str) -> None:
        self.home = home
        self.admin_url = admin_url
        self.password = password
        # Bytecode as an installed package has it (pip compiles at install): kept in a
        # private cache, so that the working tree is not written to.
        self.env = {
            **{k: v for k, v in base_env().items() if k != "PYTHONDONTWRITEBYTECODE"},
            "WATCHKEEPER_HOME": str(home),
            "PYTHONPYCACHEPREFIX": str(home.parent / "pycache"),
        }
        self.plan = home / "watchkeeper.yaml"
        self.runs: list[dict[str, Any]] = []

    def set_up(self) -> None:
        """Migrate the store and compile the package's bytecode."""
        python = str(Path(WATCHKEEPER).parent / "python")
        package = str(ROOT / "src" / "watchkeeper")
        run([python, "-m", "compileall", "-q", package], self.env, "compileall")
        run([WATCHKEEPER, "db", "upgrade"], self.env, "watchkeeper db upgrade")

    def write_plan(self, repos: Path, database: str, tree: Path) -> None:
        """A plan with a policy per source, each into its own fresh repository."""
        plan = {
            "backups": {
                "repositories": [
                    {"name": "pg", "url": str(repos / "wk-pg"), "password": self.password},
                    {"name": "dir", "url": str(repos / "wk-dir"), "password": self.password},
                ],
                "policies": [
                    {
                        "name": "bench-pg",
                        "source": {
                            "type": "postgres",
                            "url": self.admin_url,
                            "databases": [database],
                        },
                        "repositories": ["pg"],
                    },
                    {
                        "name": "bench-dir",
                        "source": {"type": "files", "paths": [str(tree)]},
                        "repositories": ["dir"],
                    },
                ],
            }
        }
        # JSON is YAML; the plan loader reads it with line numbers all the same.
        self.plan.write_text(json.dumps(plan, indent=2) + "\n")

    def _timed(self, argv: list[str], policy: str, kind: str, row: str, n: int) -> Timing:
        """Run a command; keep the run it recorded beside its wall time."""
        timing = run([*argv, "--plan", str(self.plan)], self.env, " ".join(argv[1:3]))
        self.runs.append({"row": row, "n": n, "wall": timing.wall, **self.last_run(policy, kind)})
        return timing

    def backup(self, policy: str, row: str, n: int) -> Timing:
        argv = [WATCHKEEPER, "backup", "run", policy]
        return self._timed(argv, policy, "backup", row, n)

    def restore_database(self, database: str, new: str, n: int) -> Timing:
        argv = [WATCHKEEPER, "restore", "database", "bench-pg", database, "--to", new]
        return self._timed(argv, "bench-pg", "restore", ROWS[2][1], n)

    def restore_files(self, target: Path, n: int) -> Timing:
        argv = [WATCHKEEPER, "restore", "files", "bench-dir", "--to", str(target)]
        return self._timed(argv, "bench-dir", "restore", ROWS[5][1], n)

    def startup(self) -> Timing:
        """Seconds of a command that only opens the store: the CLI's fixed cost."""
        return run([WATCHKEEPER, "backup", "list", "--limit", "1"], self.env, "backup list")

    def last_run(self, policy: str, kind: str) -> dict[str, Any]:
        """The latest ``kind`` row of ``policy``: duration, and restic's own seconds (None
        for a restore: restic does not report them)."""
        import sqlite3

        with sqlite3.connect(self.home / "watchkeeper.db") as db:
            row = db.execute(
                "SELECT duration_s, details, bytes_total, bytes_added FROM backup_runs "
                "WHERE policy = ? AND kind = ? ORDER BY id DESC LIMIT 1",
                (policy, kind),
            ).fetchone()
        details = json.loads(row[1]) if isinstance(row[1], str) else (row[1] or {})
        snapshots = details.get("snapshots")
        restic = sum(float(s.get("seconds") or 0) for s in snapshots) if snapshots else None
        return {"run": float(row[0] or 0), "restic": restic, "bytes": row[2], "added": row[3]}


class Bare:
    """restic by hand, on its own fresh repository per repetition."""

    def __init__(self, admin_url: str, password: str) -> None:
        self.admin = conninfo_to_dict(admin_url)
        self.password = password

    def env(self, repo: Path) -> dict[str, str]:
        return {
            **base_env(),
            "RESTIC_REPOSITORY": str(repo),
            "RESTIC_PASSWORD": self.password,
            "RESTIC_CACHE_DIR": str(repo.parent / f"cache-{repo.name}"),
        }

    def conninfo(self, database: str) -> str:
        return make_conninfo("", **{**self.admin, "dbname": database})

    def backup_database(self, repo: Path, database: str, first: bool) -> Timing:
        init = "restic init >/dev/null; " if first else ""
        return pipeline(
            f'{init}pg_dump -Fc --dbname "$1" | restic backup --stdin --stdin-filename "$2"',
            self.env(repo),
            "pg_dump | restic backup",
            self.conninfo(database),
            f"{database}.pgdump",
        )

    def backup_tree(self, repo: Path, tree: Path, first: bool) -> Timing:
        init = "restic init >/dev/null; " if first else ""
        return pipeline(f'{init}restic backup "$1"', self.env(repo), "restic backup", str(tree))

    def restore_database(self, repo: Path, database: str, new: str) -> Timing:
        return pipeline(
            'createdb --maintenance-db "$1" "$2" && '
            'restic dump latest "/$3.pgdump" | pg_restore --dbname "$4"',
            self.env(repo),
            "restic dump | pg_restore",
            self.conninfo(str(self.admin.get("dbname") or "postgres")),
            new,
            database,
            self.conninfo(new),
        )

    def restore_tree(self, repo: Path, target: Path) -> Timing:
        return pipeline(
            'restic restore latest --target "$1"', self.env(repo), "restic restore", str(target)
        )


def inventory_cost(conninfo: str | None, tree: Path | None) -> str:
    """Time Watchkeeper's inventory alone, in this process, with the product's own
    functions: the row counts of the 5 largest tables (the drill default) and the file
    walk plus the sampled checksums (20 files, read before and after the backup)."""
    from watchkeeper.backups.sources import sampling
    from watchkeeper.backups.sources.pgconn import table_counts

    out = []
    if conninfo is not None:

        async def count() -> float:
            conn = await psycopg.AsyncConnection.connect(conninfo)
            try:
                start = time.perf_counter()
                await table_counts(conn, 5)
                return time.perf_counter() - start
            finally:
                await conn.close()

        out.append(f"PG row counts {asyncio.run(count()):.2f} s")
    if tree is not None:
        start = time.perf_counter()
        chosen = sampling.pick(sampling.walk([tree]), 20)
        walked = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(2):
            sampling.checksums(chosen)
        summed = time.perf_counter() - start
        out.append(f"files: walk {walked:.2f} s + 2 x sha256 of 20 sampled files {summed:.2f} s")
    return "; ".join(out)


# -- clean-up ---------------------------------------------------------------------------------


@contextmanager
def scratch_database(admin: str, name: str) -> Iterator[str]:
    """Yield the conninfo of database ``name`` (created here); drop it afterwards."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin, dbname=name)
    finally:
        drop_database(admin, name)


def drop_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # run the finally blocks: drop the databases, remove the files


# -- the report -------------------------------------------------------------------------------

ROWS = (
    ("pg", "PG backup, first (fresh repository)"),
    ("pg", "PG backup, incremental (unchanged)"),
    ("pg", "PG restore (new database)"),
    ("dir", "dir backup, first (fresh repository)"),
    ("dir", "dir backup, incremental (unchanged)"),
    ("dir", "dir restore (empty directory)"),
)


def _overhead(a: list[Timing] | None, b: list[Timing] | None, kind: str) -> str:
    if not a or not b:
        return "-"
    mine = statistics.median(getattr(t, kind) for t in a)
    theirs = statistics.median(getattr(t, kind) for t in b)
    over = (mine / theirs - 1) * 100
    return f"[{'green' if over < 10 else 'red'}]{over:+.1f}%[/]"


def report(
    wk: Side, bare: Side, sizes: dict[str, int], repeat: int, runs: list[dict[str, Any]]
) -> None:
    table = Table(
        title=f"Wall-clock seconds (median of {repeat}), MB/s of the source, and CPU seconds"
        " of the commands (client side: Python, restic, pg_dump/pg_restore)",
        title_justify="left",
    )
    columns = ("Watchkeeper s", "MB/s", "bare restic s", "MB/s", "overhead")
    for column in ("measurement", *columns, "CPU s: Watchkeeper", "bare", "overhead"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for source, name in ROWS:
        a, b = wk.seconds.get(name), bare.seconds.get(name)
        if not a and not b:
            continue
        cells = [name]
        for values in (a, b):
            if values:
                median = statistics.median(t.wall for t in values)
                cells += [f"{median:.1f}", f"{sizes[source] / MB / median:,.0f}"]
            else:
                cells += ["-", "-"]
        cells.append(_overhead(a, b, "wall"))
        for values in (a, b):
            cells.append(f"{statistics.median(t.cpu for t in values):.1f}" if values else "-")
        cells.append(_overhead(a, b, "cpu"))
        table.add_row(*cells)
    console.print(table)
    if not runs:
        return
    parts = Table(
        title="Watchkeeper against bare restic, where the extra seconds go",
        title_justify="left",
    )
    for column in (
        "run",
        "Watchkeeper",
        "bare restic",
        "extra",
        "outside the recorded run (CLI start-up, store; restores: finding the snapshot)",
        "inside the run",
        "restic's total_duration",
    ):
        parts.add_column(column, justify="left" if column == "run" else "right")
    for r in runs:
        plain = bare.seconds[r["row"]][r["n"]].wall
        parts.add_row(
            f"{r['row'].split(' (')[0]} #{r['n'] + 1}",
            f"{r['wall']:.2f}",
            f"{plain:.2f}",
            f"{r['wall'] - plain:+.2f}",
            f"{r['wall'] - r['run']:.2f}",
            f"{r['run'] - plain:+.2f}",
            "-" if r["restic"] is None else f"{r['restic']:.2f}",
        )
    console.print(parts)


# -- main -------------------------------------------------------------------------------------


def restore_available() -> bool:
    proc = subprocess.run(
        [WATCHKEEPER, "restore", "--help"], capture_output=True, env=base_env(), check=False
    )
    return proc.returncode == 0


def one_round(
    n: int,
    repeat: int,
    work: Path,
    sources: list[str],
    database: str,
    tree: Path,
    wk: Watchkeeper,
    bare: Bare,
    sides: dict[str, Side],
    admin: str,
) -> None:
    """Repetition ``n``: both sides, on fresh repositories, in alternating order."""
    repos = work / f"repos-{n}"
    repos.mkdir()
    wk.write_plan(repos, database, tree)
    order = ["wk", "bare"] if n % 2 == 0 else ["bare", "wk"]
    with_restore = restore_available()

    def step(name: str, **calls: Callable[[], Timing] | None) -> None:
        for side in order:
            call = calls[side]
            if call is None:
                continue
            os.sync()  # the previous step's writes are not flushed on this one's clock
            timing = call()
            sides[side].seconds[name].append(timing)
            log.print(
                f"  {n + 1}/{repeat} {side:4} {name}: {timing.wall:.1f} s, CPU {timing.cpu:.1f} s"
            )

    if "pg" in sources:
        new_wk, new_bare = f"{database}_wk_{n}", f"{database}_restic_{n}"
        pg = repos / "restic-pg"
        step(
            ROWS[0][1],
            wk=partial(wk.backup, "bench-pg", ROWS[0][1], n),
            bare=partial(bare.backup_database, pg, database, True),
        )
        step(
            ROWS[1][1],
            wk=partial(wk.backup, "bench-pg", ROWS[1][1], n),
            bare=partial(bare.backup_database, pg, database, False),
        )
        step(
            ROWS[2][1],
            wk=partial(wk.restore_database, database, new_wk, n) if with_restore else None,
            bare=partial(bare.restore_database, pg, database, new_bare),
        )
        for name in (new_wk, new_bare):
            drop_database(admin, name)
    if "dir" in sources:
        files = repos / "restic-dir"
        step(
            ROWS[3][1],
            wk=partial(wk.backup, "bench-dir", ROWS[3][1], n),
            bare=partial(bare.backup_tree, files, tree, True),
        )
        step(
            ROWS[4][1],
            wk=partial(wk.backup, "bench-dir", ROWS[4][1], n),
            bare=partial(bare.backup_tree, files, tree, False),
        )
        step(
            ROWS[5][1],
            wk=partial(wk.restore_files, repos / "out-wk", n) if with_restore else None,
            bare=partial(bare.restore_tree, files, repos / "out-restic"),
        )
    for repo in ("wk-pg", "restic-pg", "wk-dir", "restic-dir"):
        if (repos / repo).exists():
            used = sum(f.stat().st_size for f in (repos / repo).rglob("*") if f.is_file())
            log.print(f"  repository {repo}: {used / MB:,.0f} MB")
    shutil.rmtree(repos, ignore_errors=True)
    shutil.rmtree(wk.home / "cache", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="size of each data set")
    parser.add_argument("--quick", action="store_true", help="200 MB data sets (a check run)")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions, fresh repositories")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp"))
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where this user may create databases",
    )
    parser.add_argument("--only", choices=("pg", "dir"), help="only one of the two data sets")
    args = parser.parse_args()
    size = int((0.2 if args.quick else args.size_gb) * 1e9)
    signal.signal(signal.SIGTERM, _terminate)
    admin = make_conninfo(args.postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    for line in machine(args.workdir, admin):
        console.print(line, highlight=False)
    if not restore_available():
        console.print(
            "[yellow]`watchkeeper restore` is not available: Watchkeeper's restores are skipped[/]"
        )
    sources = [args.only] if args.only else ["pg", "dir"]
    suffix = uuid.uuid4().hex[:8]
    database = f"wk_bench_backup_{suffix}"
    password = uuid.uuid4().hex
    work = Path(tempfile.mkdtemp(prefix="wk-bench-backup-", dir=args.workdir))
    sides = {"wk": Side(), "bare": Side()}
    try:
        with scratch_database(admin, database) as conninfo:
            sizes: dict[str, int] = {}
            files = 0
            if "pg" in sources:
                log.print(f"filling database {database} to {size / MB:,.0f} MB")
                sizes["pg"] = fill_database(conninfo, size)
            tree = work / "data"
            if "dir" in sources:
                log.print(f"writing {size / MB:,.0f} MB of files under {tree}")
                sizes["dir"], files = make_tree(tree, size)
            console.print(
                "data: "
                + ", ".join(
                    f"database {sizes['pg'] / MB:,.0f} MB"
                    if s == "pg"
                    else f"directory {sizes['dir'] / MB:,.0f} MB in {files:,} files"
                    for s in sources
                ),
                highlight=False,
            )
            wk = Watchkeeper(work / "home", args.postgres_url, password)
            wk.set_up()
            startup = [wk.startup() for _ in range(3)]
            bare = Bare(args.postgres_url, password)
            for n in range(args.repeat):
                one_round(n, args.repeat, work, sources, database, tree, wk, bare, sides, admin)
            inventory = inventory_cost(
                conninfo if "pg" in sources else None, tree if "dir" in sources else None
            )
        console.print(
            f"Watchkeeper CLI fixed cost (`watchkeeper backup list`, start-up + store):"
            f" {statistics.median(t.wall for t in startup):.2f} s,"
            f" CPU {statistics.median(t.cpu for t in startup):.2f} s",
            highlight=False,
        )
        report(sides["wk"], sides["bare"], sizes, args.repeat, wk.runs)
        console.print(
            f"Watchkeeper's inventory alone (in this process, same functions): {inventory}",
            highlight=False,
        )
        loads = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        console.print(f"load average at the end (1, 5, 15 min): {loads}", highlight=False)
    except (CommandFailed, psycopg.Error) as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: cleaning up[/]")
        sys.exit(130)
    finally:
        for n in range(args.repeat):
            for name in (f"{database}_wk_{n}", f"{database}_restic_{n}"):
                with suppress(psycopg.Error):
                    drop_database(admin, name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
