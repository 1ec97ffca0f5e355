"""Offline vulnerability database: import and scan speed on a synthetic fleet.

python bench/osv_scan.py [--hosts 200] [--packages 2000] [--vulns-per-package 20]
                         [--database-url URL]

Builds an OSV dump of Debian:12 records (``--vulns-per-package`` records for each of
``--packages`` source packages; a tenth of them fixed in a version some hosts have and
others not, the rest in a version older than any installed),
imports it through ``watchkeeper.security.osv.importer`` from a file, then writes one
Debian inventory of ``--packages`` packages per host (versions drawn from a few per
package, as a real fleet has) and times ``watchkeeper.security.scan.scan`` and the patch
plan refresh after it (``watchkeeper.security.patches.after_scan``), each printed apart:

1. the first scan (every finding new; the refresh plans every action),
2. a scan with nothing changed,
3. ``run_scan`` of one of the hosts that upgraded everything (scan, refresh and commit of
   that host: what a new inventory of a host starts),
4. a scan of every host after a tenth of them upgraded everything (the refresh verifies
   their actions),
5. one pass of the security service (every finding read, the plan refreshed, the alerts
   and gauges set: every minute), the first one (every host's plan refreshed) and the next
   with nothing changed (no host's plan refreshed).

The store is SQLite in a temporary directory, or with --database-url a throw-away database
on that PostgreSQL server (dropped afterwards). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from watchkeeper.security.osv.importer import SourceSpec, run_import
from watchkeeper.security.patches import after_scan
from watchkeeper.security.scan import run_scan, scan
from watchkeeper.security.service import SecurityService
from watchkeeper.store.engine import make_engine, normalise_url, session_factory
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import HostPackages, PatchAction, SecurityFinding

VERSIONS = ("1.0-1", "1.0-1+deb12u1", "1.0-2", "1.2-1~deb12u1", "1.2-1")


def build_dump(path: Path, packages: int, per_package: int, rng: random.Random) -> int:
    """Write the dump; return how many records it has."""
    count = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for p in range(packages):
            for v in range(per_package):
                # Most records of a package are fixed in versions older than any installed
                # one, as in Debian's tracker; a tenth are fixed in versions some hosts lack.
                fixed = rng.choice(VERSIONS[1:]) if rng.random() < 0.1 else "0.9-1"
                record = {
                    "schema_version": "1.6.0",
                    "id": f"DEBIAN-CVE-2024-{p:04d}{v:03d}",
                    "modified": "2024-06-01T00:00:00Z",
                    "published": "2024-05-01T00:00:00Z",
                    "upstream": [f"CVE-2024-{p:04d}{v:03d}"],
                    "details": f"A flaw in pkg-{p}.",
                    "severity": [
                        {
                            "type": "CVSS_V3",
                            "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
                        }
                    ],
                    "affected": [
                        {
                            "package": {"ecosystem": "Debian:12", "name": f"pkg-{p}"},
                            "ranges": [
                                {
                                    "type": "ECOSYSTEM",
                                    "events": [{"introduced": "0"}, {"fixed": fixed}],
                                }
                            ],
                            "ecosystem_specific": {"urgency": "medium"},
                        }
                    ],
                }
                archive.writestr(f"{record['id']}.json", json.dumps(record))
                count += 1
    return count


@contextmanager
def store(database_url: str | None, tmp: Path) -> Iterator[str]:
    if database_url is None:
        yield f"sqlite:///{tmp / 'store.db'}"
        return
    name = f"wk_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(database_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(normalise_url(database_url))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--vulns-per-package", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    rng = random.Random(10)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        started = time.perf_counter()
        records = build_dump(tmp / "all.zip", args.packages, args.vulns_per_package, rng)
        print(
            f"dump: {records} records, {(tmp / 'all.zip').stat().st_size / 1e6:.1f} MB "
            f"(built in {time.perf_counter() - started:.1f}s)"
        )
        with store(args.database_url, tmp) as url:
            engine = make_engine(url)
            upgrade(engine)
            sessions = session_factory(engine)
            print(f"store: {engine.dialect.name}")
            spec = SourceSpec(
                "debian", "Debian", path=str(tmp / "all.zip"), timeout=timedelta(hours=1)
            )
            started = time.perf_counter()
            done = run_import(sessions, spec)
            took = time.perf_counter() - started
            print(
                f"import: {done.status}, {done.added} records in {took:.1f}s "
                f"({done.added / took:.0f} records/s)"
            )
            started = time.perf_counter()
            again = run_import(sessions, spec)
            print(f"import again: {again.status} in {time.perf_counter() - started:.2f}s")
            now = datetime(2026, 3, 2, tzinfo=UTC)
            fleet = {
                f"host-{h:03d}": [[f"pkg-{p}", rng.choice(VERSIONS)] for p in range(args.packages)]
                for h in range(args.hosts)
            }
            with sessions() as db:
                for host, packages in fleet.items():
                    db.add(
                        HostPackages(
                            host=host,
                            ecosystem="Debian",
                            location="dpkg",
                            distro="12",
                            collected_at=now,
                            received_at=now,
                            packages=packages,
                        )
                    )
                db.commit()
            total = args.hosts * args.packages
            for label, at in (("first scan", now), ("unchanged", now + timedelta(hours=1))):
                started = time.perf_counter()
                with sessions() as db:
                    result = scan(db, at)
                    scanned = time.perf_counter()
                    after_scan(db, at)
                    db.commit()
                took = time.perf_counter() - started
                print(
                    f"{label}: {result.packages} packages ({total} expected), "
                    f"{result.new} new, {result.seen} seen, {result.resolved} resolved "
                    f"in {took:.2f}s (scan {scanned - started:.2f}s, "
                    f"patch plan {took - (scanned - started):.2f}s)"
                )
            with sessions() as db:
                for host in list(fleet)[: args.hosts // 10]:
                    db.add(
                        HostPackages(
                            host=host,
                            ecosystem="Debian",
                            location="dpkg",
                            distro="12",
                            collected_at=now + timedelta(hours=2),
                            received_at=now + timedelta(hours=2),
                            packages=[[p, VERSIONS[-1]] for p, _ in fleet[host]],
                        )
                    )
                db.commit()
            first = list(fleet)[0]
            started = time.perf_counter()
            with sessions() as db:
                run_scan(db, now + timedelta(hours=2), first)
                verified = db.scalar(
                    select(func.count())
                    .select_from(PatchAction)
                    .where(PatchAction.host == first, PatchAction.status == "verified")
                )
            print(
                f"run_scan of one host (after its new inventory): {verified} actions verified "
                f"in {time.perf_counter() - started:.2f}s"
            )
            started = time.perf_counter()
            with sessions() as db:
                result = scan(db, now + timedelta(hours=2))
                scanned = time.perf_counter()
                after_scan(db, now + timedelta(hours=2))
                db.commit()
                took = time.perf_counter() - started
                open_count = db.scalar(
                    select(func.count())
                    .select_from(SecurityFinding)
                    .where(SecurityFinding.resolved_at.is_(None))
                )
                verified = db.scalar(
                    select(func.count())
                    .select_from(PatchAction)
                    .where(PatchAction.status == "verified")
                )
            print(
                f"a tenth upgraded: {result.new} new, {result.resolved} resolved, "
                f"{open_count} open, {verified} actions verified, in {took:.2f}s "
                f"(scan {scanned - started:.2f}s, patch plan {took - (scanned - started):.2f}s)"
            )
            # CPU time of this process too: on a busy machine it says more than the clock
            # (SQLite works in the process; PostgreSQL's own work is not in it).
            service = SecurityService(sessions, clock=lambda: now + timedelta(hours=3))
            started, cpu = time.perf_counter(), time.process_time()
            first_pass = service.run_once()
            print(
                f"security service pass: {first_pass.actions['planned']} actions planned, "
                f"{len(first_pass.firing)} hosts alerted, in {time.perf_counter() - started:.2f}s "
                f"({time.process_time() - cpu:.2f}s CPU)"
            )
            started, cpu = time.perf_counter(), time.process_time()
            idle = service.run_once()
            refreshed = "every" if idle.refreshed is None else len(idle.refreshed)
            print(
                f"security service pass, nothing changed: {refreshed} hosts' plans refreshed, "
                f"in {time.perf_counter() - started:.2f}s ({time.process_time() - cpu:.2f}s CPU)"
            )
            engine.dispose()


if __name__ == "__main__":
    main()
