"""Importing OSV dumps into the store, on both store databases: from a file and from a
mirror on loopback (ETag/Last-Modified, 304 → unchanged; the same bytes → unchanged),
incrementally (a modified record rewritten, a vanished one removed, the rest untouched),
and bad input (a corrupt zip, a record missing fields or damaged in the archive, an
unreachable mirror, a dump over the limits, a suspicious dump that would remove most
records): a failed or counted error, never a traceback, the data already imported kept."""

from __future__ import annotations

import json
import threading
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import remember_secret
from tests.security.osv_dumps import (
    LODASH_GHSA,
    OPENSSL_DSA,
    REQUESTS_GHSA,
    changed,
    write_dump,
)
from watchkeeper.security.osv import imports
from watchkeeper.security.osv.importer import Limits, SourceSpec, declared_members, run_import
from watchkeeper.store.tables import OsvAffected, OsvImport, OsvVulnerability, utcnow
from watchkeeper.telemetry import OSV_IMPORTS


def _stored(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str]]:
    """id -> (source, modified) of every stored record."""
    with sessions() as db:
        return {
            v.id: (v.source, v.modified.isoformat()) for v in db.scalars(select(OsvVulnerability))
        }


def _affected(sessions: sessionmaker[Session]) -> set[tuple[str, str, str]]:
    with sessions() as db:
        return {(a.vuln_id, a.ecosystem, a.package) for a in db.scalars(select(OsvAffected))}


def test_import_from_file_then_unchanged(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "all.zip", REQUESTS_GHSA, LODASH_GHSA, OPENSSL_DSA)
    spec = SourceSpec("mixed", "PyPI", path=str(dump))
    seen: list[tuple[int, int]] = []
    done = run_import(sessions, spec, trigger="alice", progress=lambda d, t: seen.append((d, t)))
    assert (done.status, done.total, done.added, done.updated, done.removed) == (
        "succeeded", 3, 3, 0, 0
    )  # fmt: skip
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    assert _affected(sessions) == {
        ("GHSA-9wx4-h78v-vm56", "PyPI", "requests"),
        ("GHSA-35jh-r3h4-6jhm", "npm", "lodash"),
        ("DSA-5532-1", "Debian:12", "openssl"),
    }
    with sessions() as db:
        row = db.get(OsvImport, done.id)
        assert row is not None and row.trigger == "alice" and row.finished_at is not None
        assert row.fingerprint.startswith('{"sha256":')
        vuln = db.get(OsvVulnerability, "GHSA-9wx4-h78v-vm56")
        assert vuln is not None and (vuln.severity, vuln.score) == ("medium", 5.6)
        assert vuln.record["database_specific"]["severity"] == "MODERATE"
    before = OSV_IMPORTS.labels("mixed", "unchanged")._value.get()
    again = run_import(sessions, spec)
    assert (again.status, again.added, again.total) == ("unchanged", 0, 0)
    assert OSV_IMPORTS.labels("mixed", "unchanged")._value.get() == before + 1


def test_incremental_reimport(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    spec = SourceSpec("pypi", "PyPI", path=str(tmp_path / "all.zip"))
    write_dump(tmp_path / "all.zip", REQUESTS_GHSA, LODASH_GHSA, OPENSSL_DSA)
    run_import(sessions, spec)
    first = _stored(sessions)
    newer = changed(REQUESTS_GHSA, "2024-09-01T00:00:00Z")
    newer["affected"][0]["ranges"][0]["events"][1] = {"fixed": "2.32.2"}
    extra = changed(LODASH_GHSA, "2024-09-01T00:00:00Z", id="GHSA-p6mc-m468-83gw")
    write_dump(tmp_path / "all.zip", newer, OPENSSL_DSA, extra)  # lodash's GHSA dropped
    done = run_import(sessions, spec)
    assert (done.status, done.total, done.added, done.updated, done.removed) == (
        "succeeded", 3, 1, 1, 1
    )  # fmt: skip
    now = _stored(sessions)
    assert set(now) == {"GHSA-9wx4-h78v-vm56", "DSA-5532-1", "GHSA-p6mc-m468-83gw"}
    assert now["DSA-5532-1"] == first["DSA-5532-1"]
    assert now["GHSA-9wx4-h78v-vm56"][1].startswith("2024-09-01")
    with sessions() as db:
        ranges = db.scalars(
            select(OsvAffected.ranges).where(OsvAffected.vuln_id == "GHSA-9wx4-h78v-vm56")
        ).all()
        assert ranges == [
            [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.2"}]}]
        ]
        assert db.scalar(select(func.count()).select_from(OsvAffected)) == 3


def test_records_of_other_sources_are_not_removed(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    run_import(
        sessions,
        SourceSpec("pypi", "PyPI", path=str(write_dump(tmp_path / "p.zip", REQUESTS_GHSA))),
    )
    run_import(
        sessions,
        SourceSpec("debian", "Debian", path=str(write_dump(tmp_path / "d.zip", OPENSSL_DSA))),
    )
    write_dump(tmp_path / "d.zip", changed(OPENSSL_DSA, "2024-01-01T00:00:00Z", id="DSA-5600-1"))
    done = run_import(sessions, SourceSpec("debian", "Debian", path=str(tmp_path / "d.zip")))
    assert (done.added, done.removed) == (1, 1)
    assert set(_stored(sessions)) == {"GHSA-9wx4-h78v-vm56", "DSA-5600-1"}


def test_withdrawn_record_affects_nothing(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    gone = changed(REQUESTS_GHSA, "2024-09-01T00:00:00Z", withdrawn="2024-09-01T00:00:00Z")
    run_import(sessions, SourceSpec("pypi", "PyPI", path=str(write_dump(tmp_path / "a.zip", gone))))
    assert set(_stored(sessions)) == {"GHSA-9wx4-h78v-vm56"}
    assert _affected(sessions) == set()


def test_corrupt_zip_fails_and_keeps_data(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "all.zip", REQUESTS_GHSA, OPENSSL_DSA)
    spec = SourceSpec("pypi", "PyPI", path=str(dump))
    run_import(sessions, spec)
    dump.write_bytes(dump.read_bytes()[:200])  # a truncated download
    done = run_import(sessions, spec)
    assert done.status == "failed"
    assert done.error.startswith("pypi: the dump is not a readable zip archive")
    assert set(_stored(sessions)) == {"GHSA-9wx4-h78v-vm56", "DSA-5532-1"}
    with sessions() as db:
        row = db.get(OsvImport, done.id)
        assert row is not None and row.status == "failed" and row.error == done.error
    missing = SourceSpec("gone", "PyPI", path=str(tmp_path / "nowhere.zip"))
    assert run_import(sessions, missing).error == f"gone: {tmp_path / 'nowhere.zip'} is not a file"


def test_bad_records_are_skipped_and_counted(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    spec = SourceSpec("pypi", "PyPI", path=str(tmp_path / "all.zip"))
    write_dump(tmp_path / "all.zip", REQUESTS_GHSA, OPENSSL_DSA)
    run_import(sessions, spec)
    no_modified = {k: v for k, v in REQUESTS_GHSA.items() if k != "modified"}
    write_dump(
        tmp_path / "all.zip",
        no_modified,  # GHSA-9wx4-h78v-vm56.json: kept as it was, not removed
        LODASH_GHSA,
        extra={"PYSEC-2024-1.json": b"{not json", "DSA-5532-1.json": b"[]"},
    )
    done = run_import(sessions, spec)
    assert (done.status, done.total, done.added, done.removed, done.skipped) == (
        "succeeded", 4, 1, 0, 3
    )  # fmt: skip
    assert "3 record(s) skipped: " in done.error
    assert "GHSA-9wx4-h78v-vm56.json: GHSA-9wx4-h78v-vm56: `modified` is missing" in done.error
    assert "PYSEC-2024-1.json: not a JSON document" in done.error
    assert "DSA-5532-1.json: the record is not a JSON object" in done.error
    assert set(_stored(sessions)) == {"GHSA-9wx4-h78v-vm56", "DSA-5532-1", "GHSA-35jh-r3h4-6jhm"}
    with sessions() as db:
        row = db.get(OsvImport, done.id)
        assert row is not None and row.records_skipped == 3


def test_a_member_damaged_in_the_archive_is_skipped(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    dump = tmp_path / "all.zip"
    with zipfile.ZipFile(dump, "w", compression=zipfile.ZIP_STORED) as archive:
        for record in (REQUESTS_GHSA, LODASH_GHSA):
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    data = dump.read_bytes()
    dump.write_bytes(data.replace(b"Command Injection", b"Command Infection"))  # CRC now wrong
    done = run_import(sessions, SourceSpec("pypi", "PyPI", path=str(dump)))
    assert (done.status, done.added, done.skipped) == ("succeeded", 1, 1)
    assert "GHSA-35jh-r3h4-6jhm.json: damaged in the archive (Bad CRC-32" in done.error


def test_a_dump_over_the_limits_fails(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "all.zip", REQUESTS_GHSA, LODASH_GHSA, OPENSSL_DSA)
    spec = SourceSpec("pypi", "PyPI", path=str(dump))
    cases = [
        (Limits(dump_bytes=1000), "pypi: the dump is larger than 1000 bytes"),
        (Limits(members=2), "pypi: the dump has more than 2 records"),
        (Limits(uncompressed_bytes=2048), "pypi: the dump's records take more than 2 KiB"),
    ]
    for limits, message in cases:
        done = run_import(sessions, spec, limits=limits)
        assert done.status == "failed" and done.error.startswith(message), done.error
    big = run_import(sessions, spec, limits=Limits(record_bytes=1200))  # the GHSA: 1510 bytes
    assert (big.status, big.added, big.skipped) == ("succeeded", 2, 1)
    assert "GHSA-9wx4-h78v-vm56.json: larger than 1.17 KiB" in big.error
    assert {vuln for vuln, _, _ in _affected(sessions)} == {"GHSA-35jh-r3h4-6jhm", "DSA-5532-1"}


def test_the_member_count_is_read_before_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert declared_members(write_dump(tmp_path / "a.zip", REQUESTS_GHSA, LODASH_GHSA)) == 2
    # past 65535 members a dump has ZIP64 end records: have zipfile write them for three
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    zip64 = write_dump(tmp_path / "b.zip", REQUESTS_GHSA, LODASH_GHSA, OPENSSL_DSA)
    monkeypatch.undo()
    assert b"PK\x06\x06" in zip64.read_bytes()
    assert declared_members(zip64) == 3
    (tmp_path / "c.zip").write_bytes(b"not a zip")
    assert declared_members(tmp_path / "c.zip") == -1


def _many(count: int) -> list[dict[str, Any]]:
    return [
        changed(REQUESTS_GHSA, "2024-06-10T18:39:35Z", id=f"GHSA-test-{n:04}") for n in range(count)
    ]


def test_a_suspicious_dump_is_refused_unless_forced(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    spec = SourceSpec("pypi", "PyPI", path=str(tmp_path / "all.zip"))
    records = _many(25)
    write_dump(tmp_path / "all.zip", *records)
    assert run_import(sessions, spec).added == 25
    write_dump(tmp_path / "all.zip", *records[:3], LODASH_GHSA)  # 22 of 25 gone: truncated?
    refused = run_import(sessions, spec)
    assert refused.status == "failed"
    assert refused.error.startswith(
        "pypi: the dump lacks 22 of the 25 records stored for the source (88%), which it "
        "would remove: refused as suspicious"
    )
    assert "--force" in refused.error
    assert len(_stored(sessions)) == 25  # nothing written, nothing removed
    write_dump(tmp_path / "all.zip")
    empty = run_import(sessions, spec)
    assert empty.error.startswith("pypi: the dump holds no records; refused as suspicious")
    write_dump(tmp_path / "all.zip", extra={"a.json": b"{", "b.json": b"[]"})
    unreadable = run_import(sessions, spec, force=True)
    assert unreadable.error.startswith("pypi: none of the dump's 2 records could be read: a.json")
    assert len(_stored(sessions)) == 25
    write_dump(tmp_path / "all.zip", *records[:3], LODASH_GHSA)
    forced = run_import(sessions, spec, trigger="ada", force=True)
    assert (forced.status, forced.added, forced.removed) == ("succeeded", 1, 22)
    with sessions() as db:
        assert [(r.status, r.forced) for r in db.scalars(select(OsvImport))] == [
            ("succeeded", False), ("failed", False), ("failed", False), ("failed", True),
            ("succeeded", True),
        ]  # fmt: skip
    # losing a few of a small source's records is not suspicious
    write_dump(tmp_path / "all.zip", LODASH_GHSA)
    assert run_import(sessions, spec).removed == 3


def test_timeout(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "all.zip", REQUESTS_GHSA)
    done = run_import(sessions, SourceSpec("pypi", "PyPI", path=str(dump), timeout=timedelta(0)))
    assert (done.status, done.error) == (
        "failed", "pypi: the import took longer than the source's timeout"
    )  # fmt: skip


def test_stopped_by_the_server(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    dump = write_dump(tmp_path / "all.zip", REQUESTS_GHSA)
    done = run_import(sessions, SourceSpec("pypi", "PyPI", path=str(dump)), stop=stop)
    assert (done.status, done.error) == ("failed", "pypi: stopped, the server is shutting down")


def test_one_import_of_a_source_at_a_time(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "all.zip", REQUESTS_GHSA)
    with sessions() as db:
        row = imports.queue_import(db, "pypi", "PyPI", "bob", timedelta(minutes=5), utcnow())
        db.commit()
        with pytest.raises(imports.ImportInProgress, match='an import of "pypi" is queued'):
            imports.queue_import(db, "pypi", "PyPI", "eve", timedelta(minutes=5), utcnow())
    with pytest.raises(imports.ImportInProgress):
        run_import(sessions, SourceSpec("pypi", "PyPI", path=str(dump)))
    with sessions() as db:
        assert imports.claim(db, row.id, utcnow())
        assert not imports.claim(db, row.id, utcnow())  # taken already
    done = run_import(sessions, SourceSpec("pypi", "PyPI", path=str(dump)), import_id=row.id)
    assert (done.id, done.status) == (row.id, "succeeded")


def test_an_unexpected_error_closes_the_import_as_failed(
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure the importer does not expect (here: no temporary directory to download
    into) ends the import as failed, naming the exception, with the traceback in the log,
    so that the next import of the source is not held back until the row goes stale."""
    dump = write_dump(tmp_path / "all.zip", REQUESTS_GHSA)
    spec = SourceSpec("pypi", "PyPI", path=str(dump))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "no-such-dir"))
    done = run_import(sessions, spec)
    assert (done.status, done.error) == (
        "failed",
        "pypi: unexpected FileNotFoundError (details in the log)",
    )
    assert "Traceback" in caplog.text and "FileNotFoundError" in caplog.text
    with sessions() as db:
        row = db.get(OsvImport, done.id)
        assert row is not None and (row.status, row.error) == ("failed", done.error)
        assert row.finished_at is not None
        assert imports.live_import(db, "pypi", spec.timeout, utcnow()) is None
    monkeypatch.undo()
    assert run_import(sessions, spec).status == "succeeded"


# -- from a mirror -----------------------------------------------------------------------------


class _Mirror:
    """An HTTP server on loopback serving one dump with an ETag and Last-Modified; it
    answers 304 to a matching If-None-Match unless ``conditional`` is off."""

    ETAG = '"dump-v1"'
    MODIFIED = "Tue, 10 Sep 2024 08:00:00 GMT"

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.status = 200
        self.conditional = True
        self.length = True  # False: no Content-Length, the body ends with the connection
        self.requests: list[dict[str, str]] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                mirror.requests.append({k.lower(): v for k, v in self.headers.items()})
                if mirror.status != 200:
                    self.send_response(mirror.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if mirror.conditional and self.headers.get("If-None-Match") == mirror.ETAG:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", mirror.ETAG)
                self.send_header("Last-Modified", mirror.MODIFIED)
                if mirror.length:
                    self.send_header("Content-Length", str(len(mirror.body)))
                self.end_headers()
                self.wfile.write(mirror.body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # request lines hold the secret URL

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[_Mirror]:
    body = write_dump(tmp_path / "served.zip", REQUESTS_GHSA, LODASH_GHSA).read_bytes()
    served = _Mirror(body)
    yield served
    served.close()


def test_import_from_mirror(sessions: sessionmaker[Session], mirror: _Mirror) -> None:
    token = remember_secret("mirror-token-5f1d2c9a")
    url = f"http://127.0.0.1:{mirror.port}/osv/PyPI/all.zip?token={token}"
    spec = SourceSpec("pypi-mirror", "PyPI", url=url)
    done = run_import(sessions, spec)
    assert (done.status, done.added) == ("succeeded", 2)
    assert "if-none-match" not in mirror.requests[0]
    # the next import asks conditionally, and the mirror's 304 means unchanged
    again = run_import(sessions, spec)
    assert again.status == "unchanged"
    assert mirror.requests[1]["if-none-match"] == _Mirror.ETAG
    assert mirror.requests[1]["if-modified-since"] == _Mirror.MODIFIED
    # a mirror that ignores conditional requests: the same bytes are unchanged too
    mirror.conditional = False
    assert run_import(sessions, spec).status == "unchanged"
    with sessions() as db:
        rows = db.scalars(select(OsvImport).order_by(OsvImport.id)).all()
        assert [r.status for r in rows] == ["succeeded", "unchanged", "unchanged"]
        assert all(token not in r.fingerprint + r.error for r in rows)


def test_mirror_errors_name_the_source_not_the_url(
    sessions: sessionmaker[Session], mirror: _Mirror
) -> None:
    token = remember_secret("mirror-token-a81c77e0")
    mirror.status = 503
    url = f"http://127.0.0.1:{mirror.port}/all.zip?token={token}"
    done = run_import(sessions, SourceSpec("pypi-mirror", "PyPI", url=url))
    assert (done.status, done.error) == ("failed", "pypi-mirror: the mirror answered HTTP 503")
    mirror.close()
    refused = run_import(sessions, SourceSpec("pypi-mirror", "PyPI", url=url))
    assert refused.status == "failed"
    assert refused.error.startswith("pypi-mirror: cannot download the dump from the mirror: ")
    assert token not in refused.error and "127.0.0.1" not in refused.error


def test_a_mirror_dump_over_the_limit_fails(
    sessions: sessionmaker[Session], mirror: _Mirror
) -> None:
    spec = SourceSpec("pypi-mirror", "PyPI", url=f"http://127.0.0.1:{mirror.port}/all.zip")
    small = Limits(dump_bytes=len(mirror.body) - 1)
    for length in (True, False):  # told by Content-Length, or found while it arrives
        mirror.length = length
        done = run_import(sessions, spec, limits=small)
        assert (done.status, done.error) == (
            "failed", f"pypi-mirror: the dump is larger than {small.dump_bytes / 1024:.3g} KiB, "
            "more than an import reads"
        )  # fmt: skip
    assert run_import(sessions, spec).status == "succeeded"


def test_the_mirror_url_is_not_in_a_repr() -> None:
    spec = SourceSpec("pypi-mirror", "PyPI", url="https://mirror.internal/all.zip?token=s3cr3t")
    assert "s3cr3t" not in repr(spec) and "pypi-mirror" in repr(spec)
