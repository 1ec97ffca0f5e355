"""Compliance: how long one evaluation of every shipped control takes, and issuing a report.

python bench/compliance.py [--users 200] [--audit 50000] [--policies 10] [--days 90]
                           [--database-url URL]

A store (SQLite under a temporary directory; with --database-url, a throw-away database on
that PostgreSQL server, dropped afterwards) gets the plan `compliance: {frameworks: [soc2,
iso27001, gdpr]}` (28 controls) with backup policies, checks and log retention; `--users`
users (a third with TOTP), an audit trail of `--audit` entries, and `--days` days of backup
runs and daily drills per policy. Then:

1. one evaluation of every control (each query asked once per pass, shared between the
   controls of the three frameworks), repeated five times: the median wall time, and the
   time of the slowest query alone (the audit trail's hash chain walk);
2. `--days` days of history: an evaluation per day (the controls' events), then a report
   over the whole period issued (HTML, PDF, signature) and verified, timed apart.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from watchkeeper.auth import audit  # noqa: E402
from watchkeeper.auth.audit import Actor  # noqa: E402
from watchkeeper.plan.apply import apply_plan  # noqa: E402
from watchkeeper.plan.loader import load_plan_text  # noqa: E402
from watchkeeper.security.compliance import report  # noqa: E402
from watchkeeper.security.compliance.evaluate import evaluate_all  # noqa: E402
from watchkeeper.security.compliance.evidence import registry  # noqa: E402
from watchkeeper.security.compliance.report_verify import verify  # noqa: E402
from watchkeeper.store.engine import make_engine, normalise_url, session_factory  # noqa: E402
from watchkeeper.store.migrate import upgrade  # noqa: E402
from watchkeeper.store.tables import BackupRun, TotpCredential, User, utcnow  # noqa: E402


@contextmanager
def store(database_url: str | None) -> Iterator[str]:
    if database_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"wk_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(database_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(normalise_url(database_url)).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def plan_text(policies: int) -> str:
    rows = "\n".join(
        f"    - {{name: db-{i}, source: {{type: sqlite, path: /srv/db-{i}.db}}, "
        f"repositories: [local], schedule: '0 2 * * *'}}"
        for i in range(policies)
    )
    return (
        textwrap.dedent(
            """
        name: Bench
        compliance: {frameworks: [soc2, iso27001, gdpr]}
        logs:
          retention:
            - {name: audit, match: '{source="watchkeeper", stream="audit"}', keep: 400d}
        checks:
          - {name: api, type: http, url: "https://api.example.com/"}
          - {name: shop, type: http, url: "https://shop.example.com/"}
        backups:
          repositories:
            - {name: local, url: /srv/restic, password: bench-repository-password}
          policies:
        """
        )
        + rows
        + "\n"
    )


def timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--audit", type=int, default=50_000)
    parser.add_argument("--policies", type=int, default=10)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    now = utcnow()
    with store(args.database_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        with sessions() as db:
            apply_plan(db, load_plan_text(plan_text(args.policies), env={}))
            for i in range(args.users):
                user = User(
                    username=f"user-{i}",
                    role=("admin", "operator", "viewer")[i % 3],
                    last_login_at=now - timedelta(days=i % 120),
                )
                db.add(user)
                db.flush()
                if i % 3 == 0:
                    db.add(TotpCredential(user_id=user.id, secret_enc="wk1:0:x", confirmed=True))
            for i in range(args.audit):
                audit.record(db, Actor("bench"), "check.update", f"checks/c-{i % 50}", {"n": i})
                if i % 5000 == 4999:
                    db.commit()
            for p in range(args.policies):
                for day in range(args.days, 0, -1):
                    ended = now - timedelta(days=day)
                    for kind in ("backup", "drill"):
                        db.add(
                            BackupRun(
                                policy=f"db-{p}",
                                repository="local",
                                kind=kind,
                                status="succeeded",
                                started_at=ended - timedelta(minutes=10),
                                finished_at=ended,
                                rto_s=600.0 if kind == "drill" else None,
                            )
                        )
            db.commit()

        def evaluate_once() -> None:
            with sessions() as db:
                evaluate_all(db, utcnow())
                db.commit()

        passes = [timed(evaluate_once) for _ in range(5)]
        trail = registry.get("audit_trail_intact")
        assert trail is not None
        with sessions() as db:
            walk = timed(lambda: trail.evaluate(db, {}, utcnow()))

        def history() -> None:
            with sessions() as db:
                for day in range(args.days, 0, -1):
                    evaluate_all(db, now - timedelta(days=day))
                db.commit()

        history_s = timed(history)
        key = Ed25519PrivateKey.generate()
        issued: dict[str, Any] = {}

        def issue() -> None:
            with sessions() as db:
                row = report.issue(
                    db,
                    Actor("bench"),
                    (now - timedelta(days=args.days)).date(),
                    now.date(),
                    key,
                    now,
                )
                db.commit()
                issued.update(html=report.report_html(row), pdf=row.pdf)

        issue_s = timed(issue)
        with sessions() as db:
            public = key.public_key()
            verify_html = timed(lambda: verify(issued["html"].encode(), public, db))
            verify_pdf = timed(lambda: verify(issued["pdf"], public, db))
        engine.dispose()

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"compliance bench on {backend}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}"
    )
    print(
        f"store: {args.users} users, {args.audit} audit entries, {args.policies} backup "
        f"policies with {args.days} days of backups and drills; 28 controls (3 frameworks)"
    )
    print(
        f"evaluation of every control: median {statistics.median(passes) * 1000:.0f} ms "
        f"(min {min(passes) * 1000:.0f}, max {max(passes) * 1000:.0f}) over 5 passes"
    )
    print(f"  of which the audit trail walk alone: {walk * 1000:.0f} ms")
    print(f"{args.days} daily evaluations (history): {history_s:.1f} s")
    print(
        f"report over {args.days} days issued (HTML + PDF + signature): {issue_s:.2f} s; "
        f"HTML {len(issued['html']) / 1024:.0f} KiB, PDF {len(issued['pdf']) / 1024:.0f} KiB"
    )
    print(f"verify: HTML {verify_html * 1000:.0f} ms, PDF {verify_pdf * 1000:.0f} ms")


if __name__ == "__main__":
    main()
