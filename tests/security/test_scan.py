"""The scan, on both store databases: the fixture dump imported, inventories written as
the collectors write them (rows inserted directly), findings for the old versions and none
for the fixed ones; resolved when the package is upgraded, reopened when it comes back;
``fix_seen`` when a fix appears; kernel inventories not matched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from tests.security.osv_dumps import LODASH_GHSA, OPENSSL_DSA, REQUESTS_GHSA, changed, write_dump
from watchkeeper.security import scan as scanning
from watchkeeper.security.inventory_store import GONE, latest_inventories
from watchkeeper.security.osv.importer import SourceSpec, run_import
from watchkeeper.security.scan import osv_ecosystem, scan
from watchkeeper.store.tables import HostPackages, SecurityFinding

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UNFIXED = {
    "schema_version": "1.6.0",
    "id": "PYSEC-2026-1",
    "modified": "2026-01-01T00:00:00Z",
    "published": "2026-01-01T00:00:00Z",
    "aliases": ["CVE-2026-0001"],
    "details": "A flaw in flask's session signing.",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "Flask"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}]}],
        }
    ],
}


def _inventory(
    db: Session,
    host: str,
    ecosystem: str,
    location: str,
    packages: list[list[str]],
    *,
    distro: str = "",
    at: datetime = T0,
) -> None:
    db.add(
        HostPackages(
            host=host,
            ecosystem=ecosystem,
            location=location,
            distro=distro,
            collected_at=at,
            received_at=at,
            digest=f"{host}{location}{packages}"[:64],
            packages=packages,
        )
    )
    db.commit()


def _findings(db: Session) -> dict[tuple[str, str, str], SecurityFinding]:
    db.expire_all()
    return {(f.host, f.package, f.vuln_id): f for f in db.scalars(select(SecurityFinding))}


@pytest.fixture
def osv(sessions: sessionmaker[Session], tmp_path: Path) -> SourceSpec:
    spec = SourceSpec(
        "all",
        "PyPI",
        path=str(
            write_dump(tmp_path / "all.zip", REQUESTS_GHSA, LODASH_GHSA, OPENSSL_DSA, UNFIXED)
        ),
    )
    assert run_import(sessions, spec).status == "succeeded"
    return spec


def test_scan_finds_old_versions_not_fixed_ones(
    sessions: sessionmaker[Session], osv: SourceSpec
) -> None:
    with sessions() as db:
        _inventory(
            db, "web-1", "PyPI", "/srv/app/.venv", [["requests", "2.31.0"], ["Flask", "3.0.0"]]
        )
        _inventory(
            db, "web-2", "PyPI", "/srv/app/.venv", [["requests", "2.32.3"], ["flask", "1.1"]]
        )
        _inventory(
            db,
            "web-1",
            "npm",
            "/srv/ui/package-lock.json",
            [["lodash", "4.17.20"], ["lodash", "4.17.21"]],
        )
        _inventory(
            db,
            "db-1",
            "Debian",
            "dpkg",
            [["openssl", "3.0.11-1~deb12u1"], ["zlib", "1:1.2.13.dfsg-1"]],
            distro="12",
        )
        _inventory(db, "db-2", "Debian", "dpkg", [["openssl", "3.0.11-1~deb12u2"]], distro="12")
        _inventory(
            db, "ubuntu-1", "Debian", "dpkg", [["openssl", "3.0.2-0ubuntu1"]], distro="ubuntu:22.04"
        )
        _inventory(db, "db-1", "kernel", "running", [["linux", "6.1.0-18-amd64"]], distro="12")
        result = scan(db, T0)
        db.commit()
        found = _findings(db)
    assert set(found) == {
        ("web-1", "requests", "GHSA-9wx4-h78v-vm56"),
        ("web-1", "flask", "PYSEC-2026-1"),
        ("web-1", "lodash", "GHSA-35jh-r3h4-6jhm"),
        ("db-1", "openssl", "DSA-5532-1"),
    }
    requests = found[("web-1", "requests", "GHSA-9wx4-h78v-vm56")]
    assert (requests.version, requests.fixed_version, requests.severity, requests.score) == (
        "2.31.0", "2.32.0", "medium", 5.6
    )  # fmt: skip
    assert (requests.ecosystem, requests.location) == ("PyPI", "/srv/app/.venv")
    assert requests.aliases == ["CVE-2024-35195"]
    assert requests.first_seen == requests.last_seen == requests.fix_seen == T0
    assert requests.resolved_at is None
    flask = found[("web-1", "flask", "PYSEC-2026-1")]
    assert (flask.fixed_version, flask.fix_seen, flask.severity) == ("", None, "unknown")
    openssl = found[("db-1", "openssl", "DSA-5532-1")]
    assert (openssl.fixed_version, openssl.aliases) == ("3.0.11-1~deb12u2", ["CVE-2023-5363"])
    assert found[("web-1", "lodash", "GHSA-35jh-r3h4-6jhm")].version == "4.17.20"
    assert (result.new, result.inventories, result.skipped) == (
        4, 7, {"Debian": 1, "kernel": 1}
    )  # fmt: skip
    assert result.open_by_severity == {"medium": 1, "unknown": 2, "high": 1}


def test_resolve_and_reopen(sessions: sessionmaker[Session], osv: SourceSpec) -> None:
    key = ("web-1", "requests", "GHSA-9wx4-h78v-vm56")
    with sessions() as db:
        _inventory(db, "web-1", "PyPI", "venv", [["requests", "2.31.0"]])
        scan(db, T0)
        db.commit()
        later = T0 + timedelta(hours=6)
        assert scan(db, later).seen == 1  # still there: last_seen moves on
        db.commit()
        assert _findings(db)[key].last_seen == later
        _inventory(db, "web-1", "PyPI", "venv", [["requests", "2.32.0"]], at=T0 + timedelta(days=1))
        upgraded = scan(db, T0 + timedelta(days=1))
        db.commit()
        assert upgraded.resolved == 1
        assert _findings(db)[key].resolved_at == T0 + timedelta(days=1)
        _inventory(db, "web-1", "PyPI", "venv", [["requests", "2.31.0"]], at=T0 + timedelta(days=2))
        back = scan(db, T0 + timedelta(days=2))
        db.commit()
        finding = _findings(db)[key]
    assert back.reopened == 1
    assert finding.resolved_at is None
    assert (finding.first_seen, finding.last_seen) == (T0, T0 + timedelta(days=2))


def test_fix_seen_when_a_fix_appears(
    sessions: sessionmaker[Session], osv: SourceSpec, tmp_path: Path
) -> None:
    key = ("web-1", "flask", "PYSEC-2026-1")
    with sessions() as db:
        _inventory(db, "web-1", "PyPI", "venv", [["flask", "3.0.0"]])
        scan(db, T0)
        db.commit()
        assert _findings(db)[key].fix_seen is None
    fixed = changed(UNFIXED, "2026-02-01T00:00:00Z")
    fixed["affected"][0]["ranges"][0]["events"].append({"fixed": "3.0.3"})
    write_dump(tmp_path / "all.zip", REQUESTS_GHSA, LODASH_GHSA, OPENSSL_DSA, fixed)
    assert run_import(sessions, osv).updated == 1
    with sessions() as db:
        scan(db, T0 + timedelta(days=3))
        db.commit()
        finding = _findings(db)[key]
    assert (finding.fixed_version, finding.fix_seen) == ("3.0.3", T0 + timedelta(days=3))


def test_record_removed_resolves_and_history_prunes(
    sessions: sessionmaker[Session], osv: SourceSpec, tmp_path: Path
) -> None:
    with sessions() as db:
        _inventory(db, "web-1", "PyPI", "venv", [["requests", "2.31.0"]])
        scan(db, T0)
        db.commit()
    write_dump(tmp_path / "all.zip", LODASH_GHSA)
    assert run_import(sessions, osv).removed == 3
    with sessions() as db:
        assert scan(db, T0 + timedelta(hours=1)).resolved == 1
        db.commit()
        assert len(_findings(db)) == 1
        scan(db, T0 + timedelta(days=500))  # past security.history (400 days by default)
        db.commit()
        assert _findings(db) == {}


def test_latest_inventories_and_ecosystems(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        _inventory(db, "h", "PyPI", "a", [["x", "1"]])
        _inventory(db, "h", "PyPI", "a", [["x", "2"]], at=T0 + timedelta(hours=1))
        _inventory(db, "h", "PyPI", "b", [["y", "1"]])
        _inventory(db, "h", "PyPI", "c", [["z", "1"]])
        # The newest row wins even when collected at the same moment (a location gone).
        db.add(HostPackages(host="h", ecosystem="PyPI", location="c", collected_at=T0, error=GONE))
        _inventory(db, "h", "npm", "d", [["w", "1"]])
        latest = latest_inventories(db)
        pypi = latest_inventories(db, ["h", "other"], ["PyPI"])
    assert [(i.location, i.packages) for i in pypi] == [
        ("a", [["x", "2"]]),
        ("b", [["y", "1"]]),
        ("c", []),
    ]
    assert sorted(i.location for i in latest) == ["a", "b", "c", "d"]
    assert osv_ecosystem("Debian", "12") == "Debian:12"
    assert osv_ecosystem("Debian", "") is None  # testing/unstable: no release to match in
    assert osv_ecosystem("kernel", "12") is None
    assert osv_ecosystem("npm", "") == "npm"


def test_the_scan_notices_what_changed_while_it_matched(
    sessions: sessionmaker[Session], osv: SourceSpec
) -> None:
    """The scan matches before it takes its lock, then compares what it read with what is
    there now: a newer inventory in its scope, or an import that ended, makes it match
    again (under the lock) rather than write older findings over a newer scan's."""
    with sessions() as db:
        _inventory(db, "web-1", "PyPI", "venv", [["requests", "2.31.0"]])
        before = scanning._inputs(db, ["web-1"])
        _inventory(db, "web-2", "PyPI", "venv", [["requests", "2.30.0"]])
        assert scanning._inputs(db, ["web-1"]) == before  # another host: out of scope
        _inventory(db, "web-1", "PyPI", "venv", [["requests", "2.32.3"]], at=T0 + timedelta(1))
        assert scanning._inputs(db, ["web-1"]) != before
        everything = scanning._inputs(db, None)
    assert run_import(sessions, osv).status == "unchanged"
    with sessions() as db:
        assert scanning._inputs(db, None) != everything


def test_unreadable_versions_are_counted(sessions: sessionmaker[Session], osv: SourceSpec) -> None:
    with sessions() as db:
        _inventory(db, "web-1", "PyPI", "venv", [["requests", "not a version"]])
        result = scan(db, T0)
    assert (result.new, result.undecided) == (0, 1)


def test_scan_of_some_hosts_leaves_the_others(
    sessions: sessionmaker[Session], osv: SourceSpec
) -> None:
    with sessions() as db:
        _inventory(db, "web-1", "PyPI", "venv", [["requests", "2.31.0"]])
        scan(db, T0)
        db.commit()
        _inventory(db, "web-2", "PyPI", "venv", [["requests", "2.30.0"]])
        db.execute(delete(HostPackages).where(HostPackages.host == "web-1"))
        db.commit()
        done = scan(db, T0 + timedelta(hours=1), hosts=["web-2"])
        db.commit()
        found = _findings(db)
    assert (done.new, done.resolved, done.inventories) == (1, 0, 1)
    assert found[("web-1", "requests", "GHSA-9wx4-h78v-vm56")].resolved_at is None
    assert found[("web-1", "requests", "GHSA-9wx4-h78v-vm56")].last_seen == T0
    with sessions() as db:
        assert scan(db, T0 + timedelta(hours=2)).resolved == 1  # the whole fleet: web-1 gone


def test_findings_follow_their_record(
    sessions: sessionmaker[Session], osv: SourceSpec, tmp_path: Path
) -> None:
    with sessions() as db:
        _inventory(db, "web-1", "PyPI", "venv", [["requests", "2.31.0"]])
        _inventory(db, "web-2", "PyPI", "venv", [["requests", "2.31.0"]])
        scan(db, T0)
        db.commit()
    rescored = changed(REQUESTS_GHSA, "2024-09-01T00:00:00Z", aliases=["CVE-2024-35195", "X-1"])
    rescored["severity"] = [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
    ]
    write_dump(tmp_path / "all.zip", rescored, LODASH_GHSA, OPENSSL_DSA, UNFIXED)
    assert run_import(sessions, osv).updated == 1
    with sessions() as db:
        scan(db, T0 + timedelta(hours=1))
        db.commit()
        found = _findings(db)
    for host in ("web-1", "web-2"):
        finding = found[(host, "requests", "GHSA-9wx4-h78v-vm56")]
        assert (finding.severity, finding.score) == ("critical", 9.8)
        assert finding.aliases == ["CVE-2024-35195", "X-1"]
        assert finding.first_seen == T0
