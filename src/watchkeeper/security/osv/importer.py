"""Importing one OSV dump (an ecosystem's ``all.zip``: one JSON record per member) into the
offline vulnerability database, incrementally.

The dump comes from a file or a mirror (:mod:`watchkeeper.security.osv.fetch`); one whose
SHA-256 (or the mirror's 304) says it did not change since the last good import ends as
``unchanged`` without being read. Otherwise its members are read one at a time (memory
stays bounded by the batch, not the dump) and, in batches of :data:`BATCH` records, only
the records that are new or whose ``modified`` time changed are written, with their
affected packages; records of the source that the dump no longer has are removed at the
end, after the whole dump was read. A record that cannot be read (not JSON, missing fields,
damaged in the archive) is skipped and counted (the first few reasons go in the import's
``error``), and keeps its stored version. A dump that cannot be read at all (not a zip
archive) fails the import, and the data already imported stays as it was.

A dump is bounded (:class:`Limits`): its size, its number of members (read from the
archive's end record before its directory is loaded) and their total uncompressed size;
a larger one fails the import. So does a suspicious one, before anything is written: a
dump without records, or one lacking more than half of the records stored for the source
(a truncated or wrong file would otherwise remove them, resolving their findings), unless
the import is forced.

Each import is one ``osv_imports`` row. A record belongs to the source that last wrote it
(``osv_vulnerabilities.source``); a record another source also has is written by whichever
has the newer ``modified`` time.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from watchkeeper.security.config import VulnerabilitySource
from watchkeeper.security.osv import imports
from watchkeeper.security.osv.fetch import (
    Budget,
    DumpError,
    Fetched,
    Fingerprint,
    download,
    hash_file,
    size_text,
)
from watchkeeper.security.osv.records import Record, RecordError, parse_record
from watchkeeper.store.tables import OsvAffected, OsvImport, OsvVulnerability, utcnow
from watchkeeper.telemetry import OSV_IMPORTS

log = logging.getLogger(__name__)

BATCH = 500
"""Records written per transaction."""
MAX_DUMP_BYTES = 4 << 30
"""Largest dump read (osv.dev's dump of every ecosystem is well below)."""
MAX_MEMBERS = 2_000_000
"""Most members a dump may have."""
MAX_UNCOMPRESSED_BYTES = 32 << 30
"""Largest total uncompressed size of a dump's members."""
MAX_RECORD_BYTES = 16 << 20
"""A member larger than this is skipped (no OSV record comes near it)."""
KEPT_ERRORS = 5
"""Reasons of skipped records kept in the import's ``error``."""
SUSPICIOUS_SHARE = 0.5
"""A dump lacking more than this share of the source's stored records is refused (unless
forced)..."""
SUSPICIOUS_FLOOR = 20
"""...when that is more than this many records (a small source may well lose a few)."""
_END_RECORD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END_RECORD = b"PK\x06\x06"

Progress = Callable[[int, int], None]
"""Told ``(records read, records in the dump)`` as the import goes."""


@dataclass(frozen=True)
class SourceSpec:
    """What to import: the source's name and ecosystem, and a file ``path`` or a mirror
    ``url`` (a secret: left out of the repr)."""

    name: str
    ecosystem: str
    path: str | None = None
    url: str | None = field(default=None, repr=False)
    timeout: timedelta = timedelta(minutes=10)

    @classmethod
    def of(cls, source: VulnerabilitySource) -> SourceSpec:
        return cls(source.name, source.ecosystem, source.path, source.url, source.timeout)


@dataclass(frozen=True)
class Limits:
    """How large a dump an import reads (the defaults are the module's constants)."""

    dump_bytes: int = MAX_DUMP_BYTES
    members: int = MAX_MEMBERS
    uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES
    record_bytes: int = MAX_RECORD_BYTES


@dataclass
class ImportResult:
    """What one import did (the ``osv_imports`` row ``id``)."""

    id: int
    source: str
    status: str = imports.RUNNING
    total: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    error: str = ""
    reasons: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def run_import(
    sessions: Callable[[], Session],
    spec: SourceSpec,
    *,
    trigger: str = "schedule",
    import_id: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = utcnow,
    transport: httpx.BaseTransport | None = None,
    stop: threading.Event | None = None,
    limits: Limits = Limits(),
) -> ImportResult:
    """Import ``spec``'s dump into the store, recorded in a new ``osv_imports`` row (or in the
    claimed queued row ``import_id``); return what it did. Failures, expected or not, end in
    a ``failed`` row and result, not an exception (unless the store cannot record them: the
    row is then closed later as stopped); raise imports.ImportInProgress, before doing
    anything, if another import of the source is live. ``force`` reads a dump that looks
    suspicious (see the module's docstring); ``stop`` set ends the import early (failed)."""
    budget = Budget(spec.name, time.monotonic() + spec.timeout.total_seconds(), stop)
    with sessions() as db:
        result = ImportResult(_open_row(db, spec, trigger, import_id, clock(), force), spec.name)
    log.info("osv: importing %s (%s)%s", spec.name, spec.ecosystem, ", forced" if force else "")
    try:
        with tempfile.TemporaryDirectory(prefix="watchkeeper-osv-") as tmp:
            with sessions() as db:
                previous = Fingerprint.parse(imports.previous_fingerprint(db, spec.name))
            fetched = _fetch(spec, previous, Path(tmp) / "all.zip", budget, limits, transport)
            if fetched.path is None or (
                previous.sha256 and fetched.fingerprint.sha256 == previous.sha256
            ):
                result.status = imports.UNCHANGED
                _finish(sessions, result, fetched.fingerprint, clock())
                log.info("osv: %s unchanged since the last import", spec.name)
                return result
            _load(sessions, spec, fetched.path, result, _Reading(progress, budget, limits, force))
            result.status = imports.SUCCEEDED
            _finish(sessions, result, fetched.fingerprint, clock())
    except (DumpError, RecordError) as exc:
        result.status, result.error = imports.FAILED, str(exc)
        _finish(sessions, result, Fingerprint(), clock())
        log.error(
            "osv: import of %s failed: %s", spec.name, imports.error_reason(spec.name, str(exc))
        )
        return result
    except Exception as exc:  # a bug, or the store failing: the row must not stay running
        log.exception("osv: import of %s failed unexpectedly", spec.name)
        result.status = imports.FAILED
        result.error = f"{spec.name}: unexpected {type(exc).__name__} (details in the log)"
        try:
            _finish(sessions, result, Fingerprint(), clock())
        except SQLAlchemyError:  # the store is away: close_stale closes the row later
            log.error("osv: could not record the failed import of %s", spec.name)
            raise exc from None
        return result
    log.info(
        "osv: %s imported: %d record(s), %d added, %d updated, %d removed, %d skipped",
        spec.name,
        result.total,
        result.added,
        result.updated,
        result.removed,
        result.skipped,
    )
    return result


def _open_row(
    db: Session, spec: SourceSpec, trigger: str, import_id: int | None, now: datetime, force: bool
) -> int:
    if import_id is not None:
        return import_id
    imports.serialise(db, f"osv-import:{spec.name}")
    busy = imports.live_import(db, spec.name, spec.timeout, now)
    if busy is not None:
        db.rollback()
        raise imports.ImportInProgress(
            f'an import of "{spec.name}" is {busy.status} already (import {busy.id}, '
            f"since {busy.started_at:%Y-%m-%d %H:%M} UTC)"
        )
    row = OsvImport(
        source=spec.name,
        ecosystem=spec.ecosystem,
        status=imports.RUNNING,
        trigger=trigger[:64],
        forced=force,
        started_at=now,
    )
    db.add(row)
    db.commit()
    return row.id


def _fetch(
    spec: SourceSpec,
    previous: Fingerprint,
    into: Path,
    budget: Budget,
    limits: Limits,
    transport: httpx.BaseTransport | None,
) -> Fetched:
    if spec.url:
        return download(spec.url, into, previous, budget, limits.dump_bytes, transport=transport)
    if not spec.path:
        raise DumpError(f"{spec.name}: the source has neither a path nor a url")
    path = Path(spec.path).expanduser()
    if not path.is_file():
        raise DumpError(f"{spec.name}: {path} is not a file")
    return Fetched(path, hash_file(path, budget, limits.dump_bytes))


def _finish(
    sessions: Callable[[], Session], result: ImportResult, fingerprint: Fingerprint, now: datetime
) -> None:
    error = result.error
    if result.skipped and not error:
        error = f"{result.skipped} record(s) skipped: " + "; ".join(result.reasons)
    with sessions() as db:
        row = db.get(OsvImport, result.id)
        if row is not None:
            row.status, row.finished_at, row.error = result.status, now, error[:4000]
            row.records_total, row.records_added = result.total, result.added
            row.records_updated, row.records_removed = result.updated, result.removed
            row.records_skipped = result.skipped
            row.fingerprint = fingerprint.render() if result.status != imports.FAILED else ""
            db.commit()
    result.error = error
    OSV_IMPORTS.labels(result.source, result.status).inc()


@dataclass(frozen=True)
class _Reading:
    """How one dump is read: progress reports, the time budget, the limits, forced or not."""

    progress: Progress | None
    budget: Budget
    limits: Limits
    force: bool


def declared_members(path: Path) -> int:
    """How many members the zip archive at ``path`` says it has, from its end record (the
    ZIP64 one when there is one), without loading its directory; -1 without an end record
    (zipfile refuses such a file). Raise OSError if it cannot be read."""
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        start = max(0, size - 22 - 0xFFFF)  # the end record, then a comment of up to 64 KiB
        fh.seek(start)
        tail = fh.read()
        at = tail.rfind(_END_RECORD)
        if at < 0 or len(tail) - at < 22:
            return -1
        members = int.from_bytes(tail[at + 10 : at + 12], "little")
        locator = start + at - 20
        if locator >= 56:  # a ZIP64 end record (56 bytes) and its locator come just before
            fh.seek(locator - 56)
            record = fh.read(76)
            if record[:4] == _ZIP64_END_RECORD and record[56:60] == _ZIP64_LOCATOR:
                members = int.from_bytes(record[32:40], "little")
    return members


def _stem(member: zipfile.ZipInfo) -> str:
    """The record id a member's name gives (OSV dumps name members ``<id>.json``)."""
    return member.filename.rsplit("/", 1)[-1].removesuffix(".json")


def _members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [m for m in archive.infolist() if not m.is_dir() and m.filename.endswith(".json")]


def _check_dump(
    db: Session, spec: SourceSpec, members: list[zipfile.ZipInfo], reading: _Reading
) -> None:
    """Raise DumpError when the dump is larger than the limits, or (unless forced) holds
    no record or lacks too many of the source's stored records."""
    name, limits = spec.name, reading.limits
    if len(members) > limits.members:
        raise DumpError(f"{name}: the dump has more than {limits.members} records")
    if sum(m.file_size for m in members) > limits.uncompressed_bytes:
        raise DumpError(
            f"{name}: the dump's records take more than {size_text(limits.uncompressed_bytes)} "
            "uncompressed, more than an import reads"
        )
    if reading.force:
        return
    hint = (
        "if it is right, import it with force (`watchkeeper security import --force`, or "
        "force=true in the API)"
    )
    if not members:
        raise DumpError(f"{name}: the dump holds no records; refused as suspicious; {hint}")
    stored = set(db.scalars(select(OsvVulnerability.id).where(OsvVulnerability.source == name)))
    lacking = len(stored - {_stem(m) for m in members})
    if lacking > SUSPICIOUS_FLOOR and lacking > SUSPICIOUS_SHARE * len(stored):
        raise DumpError(
            f"{name}: the dump lacks {lacking} of the {len(stored)} records stored for the "
            f"source ({lacking / len(stored):.0%}), which it would remove: refused as "
            f"suspicious (a truncated or wrong dump?); {hint}"
        )


_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)
"""What reading one damaged member raises (a bad CRC, a broken compressed stream, an
unknown compression method, an encrypted member)."""


def _member_bytes(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes:
    """The member's content; raise RecordError when it is too large or damaged."""
    if member.file_size > limit:
        raise RecordError(f"larger than {size_text(limit)}")
    try:
        with archive.open(member) as fh:
            return fh.read(limit + 1)  # a member never yields more than its stated size
    except _DAMAGED as exc:
        raise RecordError(f"damaged in the archive ({exc})") from None


def _read(
    archive: zipfile.ZipFile,
    members: list[zipfile.ZipInfo],
    result: ImportResult,
    seen: set[str],
    limits: Limits,
) -> Iterator[tuple[int, Record]]:
    """The dump's readable records, each with how many members were read so far; every
    member's id (its file name) goes into ``seen``, so that a record which cannot be read
    now keeps its stored version rather than being removed."""
    for count, member in enumerate(members, 1):
        seen.add(_stem(member))
        try:
            record = parse_record(json.loads(_member_bytes(archive, member, limits.record_bytes)))
        except RecordError as exc:
            _skip(result, member.filename, str(exc))
            continue
        except (ValueError, RecursionError) as exc:  # not JSON (or not UTF-8)
            _skip(result, member.filename, f"not a JSON document ({type(exc).__name__})")
            continue
        seen.add(record.id)
        yield count, record


def _skip(result: ImportResult, member: str, reason: str) -> None:
    result.skipped += 1
    if len(result.reasons) < KEPT_ERRORS:
        result.reasons.append(f"{member}: {reason}")


def _load(
    sessions: Callable[[], Session],
    spec: SourceSpec,
    path: Path,
    result: ImportResult,
    reading: _Reading,
) -> None:
    progress, budget = reading.progress, reading.budget
    read = 0
    try:
        declared = declared_members(path)
        if declared > reading.limits.members:  # before zipfile loads a directory that large
            raise DumpError(f"{spec.name}: the dump has more than {reading.limits.members} records")
        with zipfile.ZipFile(path) as archive:
            members = _members(archive)
            with sessions() as db:
                _check_dump(db, spec, members, reading)
            result.total = len(members)
            if progress is not None:
                progress(0, result.total)
            seen: set[str] = set()
            batch: list[Record] = []
            for done, record in _read(archive, members, result, seen, reading.limits):
                batch.append(record)
                read += 1
                if len(batch) >= BATCH:
                    _flush(sessions, spec, batch, result, budget)
                    if progress is not None:
                        progress(done, result.total)
            _flush(sessions, spec, batch, result, budget)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise DumpError(f"{spec.name}: the dump is not a readable zip archive ({exc})") from None
    except OSError as exc:
        raise DumpError(f"{spec.name}: cannot read the dump: {exc.strerror or exc}") from None
    if result.total and not read:
        raise DumpError(
            f"{spec.name}: none of the dump's {result.total} records could be read: "
            + "; ".join(result.reasons)
        )
    if progress is not None:
        progress(result.total, result.total)
    with sessions() as db:
        result.removed = _remove_absent(db, spec.name, seen)
        db.commit()


def _flush(
    sessions: Callable[[], Session],
    spec: SourceSpec,
    batch: list[Record],
    result: ImportResult,
    budget: Budget,
) -> None:
    budget.check()
    if not batch:
        return
    with sessions() as db:
        added, updated = write_records(db, spec.name, batch)
        db.commit()
    result.added += added
    result.updated += updated
    batch.clear()


def write_records(db: Session, source: str, records: list[Record]) -> tuple[int, int]:
    """Write the records of ``source`` that are new or changed (``modified`` differs from
    the stored one; a record of another source only when newer); return ``(added,
    updated)``. Caller commits."""
    unique = {r.id: r for r in records}
    stored = {
        vid: (modified, owner)
        for vid, modified, owner in db.execute(
            select(OsvVulnerability.id, OsvVulnerability.modified, OsvVulnerability.source).where(
                OsvVulnerability.id.in_(list(unique))
            )
        )
    }
    new: list[Record] = []
    changed: list[Record] = []
    for record in unique.values():
        found = stored.get(record.id)
        if found is None:
            new.append(record)
        elif found[1] == source and found[0] != record.modified:
            changed.append(record)
        elif found[1] != source and record.modified > found[0]:
            changed.append(record)
    if changed:
        ids = [r.id for r in changed]
        db.execute(delete(OsvAffected).where(OsvAffected.vuln_id.in_(ids)))
        db.execute(delete(OsvVulnerability).where(OsvVulnerability.id.in_(ids)))
    written = new + changed
    if written:
        db.execute(insert(OsvVulnerability), [_row(source, r) for r in written])
        affected = [
            {
                "vuln_id": r.id,
                "ecosystem": a.ecosystem,
                "package": a.package,
                "ranges": a.ranges,
                "versions": a.versions,
            }
            for r in written
            if r.withdrawn is None  # a withdrawn record affects nothing
            for a in r.affected
        ]
        if affected:
            db.execute(insert(OsvAffected), affected)
    return len(new), len(changed)


def _row(source: str, record: Record) -> dict[str, Any]:
    return {
        "id": record.id,
        "source": source,
        "modified": record.modified,
        "published": record.published,
        "withdrawn": record.withdrawn,
        "summary": record.summary,
        "aliases": record.aliases,
        "severity": record.severity,
        "score": record.score,
        "record": record.raw,
    }


def _remove_absent(db: Session, source: str, seen: set[str]) -> int:
    """Delete the records of ``source`` not in ``seen``; return how many. Caller commits."""
    gone = [
        vid
        for vid in db.scalars(select(OsvVulnerability.id).where(OsvVulnerability.source == source))
        if vid not in seen
    ]
    for start in range(0, len(gone), BATCH):
        chunk = gone[start : start + BATCH]
        db.execute(delete(OsvAffected).where(OsvAffected.vuln_id.in_(chunk)))
        db.execute(delete(OsvVulnerability).where(OsvVulnerability.id.in_(chunk)))
    return len(gone)
