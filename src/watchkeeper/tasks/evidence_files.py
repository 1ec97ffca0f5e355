"""Evidence files of task instances: stored under ``$WATCHKEEPER_HOME/tasks/evidence`` by
their SHA-256 (recorded in the store), and checked against it on every read, so that a file
changed on disk is reported as tampered instead of being handed out as evidence."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.store.tables import TaskEvidenceFile

MAX_FILE_BYTES = 25 * 1024 * 1024
"""The largest evidence file accepted (a screenshot, a PDF report, an export)."""
MAX_FILES = 20
"""Files one completion may attach."""
FileState = Literal["ok", "missing", "tampered"]


class TamperedEvidence(ConflictError):
    """An evidence file no longer matches the checksum recorded when it was attached."""


@dataclass(frozen=True)
class Upload:
    """A file sent with a completion."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


def folder(home: Path) -> Path:
    """The evidence folder under ``home`` (``$WATCHKEEPER_HOME``)."""
    return home / "tasks" / "evidence"


def clean_name(filename: str) -> str:
    """The file's own name, without any folder part or control characters (at most 255)."""
    base = re.split(r"[\\/]", filename)[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip() or "evidence"
    return base[:255]


def check_uploads(uploads: list[Upload]) -> None:
    """Raise ValidationFailed (field ``files``) for too many or too large files."""
    if len(uploads) > MAX_FILES:
        raise ValidationFailed("too many files", [("files", f"attach at most {MAX_FILES} files")])
    for u in uploads:
        if len(u.content) > MAX_FILE_BYTES:
            raise ValidationFailed(
                "file too large",
                [
                    (
                        "files",
                        f"{clean_name(u.filename)} is larger than {MAX_FILE_BYTES // 2**20} MiB",
                    )
                ],
            )
        if not u.content:
            raise ValidationFailed("empty file", [("files", f"{clean_name(u.filename)} is empty")])


def store_file(
    db: Session, home: Path, instance_id: int, upload: Upload, who: str
) -> TaskEvidenceFile:
    """Write ``upload`` (content-addressed, written atomically) and record it with its
    SHA-256. The caller commits."""
    digest = hashlib.sha256(upload.content).hexdigest()
    relative = f"{digest[:2]}/{digest}"
    target = folder(home) / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = target.with_name(f".{digest}.{os.getpid()}.part")
        temp.write_bytes(upload.content)
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    row = TaskEvidenceFile(
        instance_id=instance_id,
        filename=clean_name(upload.filename),
        content_type=(upload.content_type or "application/octet-stream")[:100],
        size=len(upload.content),
        sha256=digest,
        path=relative,
        uploaded_by=who,
    )
    db.add(row)
    db.flush()
    return row


def _read(home: Path, row: TaskEvidenceFile) -> bytes | None:
    try:
        return (folder(home) / row.path).read_bytes()
    except FileNotFoundError:
        return None


def state(home: Path, row: TaskEvidenceFile) -> FileState:
    """Whether the stored file is there and still matches its checksum."""
    content = _read(home, row)
    if content is None:
        return "missing"
    return "ok" if hashlib.sha256(content).hexdigest() == row.sha256 else "tampered"


def states(db: Session, home: Path, instance_id: int) -> dict[int, FileState]:
    """``file id -> state`` for every file of the instance."""
    rows = db.scalars(select(TaskEvidenceFile).where(TaskEvidenceFile.instance_id == instance_id))
    return {r.id: state(home, r) for r in rows}


def read_verified(
    db: Session, home: Path, instance_id: int, file_id: int
) -> tuple[TaskEvidenceFile, bytes]:
    """Return the file record and its content; raise NotFoundError when it is not the
    instance's or its content is gone, TamperedEvidence when it no longer matches."""
    row = db.get(TaskEvidenceFile, file_id)
    if row is None or row.instance_id != instance_id:
        raise NotFoundError(f"task instance {instance_id} has no evidence file {file_id}")
    content = _read(home, row)
    if content is None:
        raise NotFoundError(f'evidence file "{row.filename}" is missing from the evidence folder')
    actual = hashlib.sha256(content).hexdigest()
    if actual != row.sha256:
        raise TamperedEvidence(
            f'evidence file "{row.filename}" does not match its recorded SHA-256 '
            f"({row.sha256[:12]}…, now {actual[:12]}…): it was changed after it was attached"
        )
    return row, content
