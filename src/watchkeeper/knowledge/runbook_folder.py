"""Runbooks kept in a repository: the folder ``runbooks.folder`` names, relative to the plan.

Every ``*.md`` file under it (hidden files and folders skipped) is a runbook whose slug is
made of the file name (``db-failover.md`` -> ``db-failover``). Loading the plan checks the
folder (:func:`folder_problems`: each front matter problem as ``file:line:column``, so a
broken runbook stops the plan like a broken rule does); applying it copies the folder into
the store (:func:`sync_folder`): new files are created, changed ones get a revision, removed
ones are deleted, and a runbook made in the UI with the same slug is taken over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.knowledge.config import RunbooksSection
from watchkeeper.knowledge.runbook_doc import (
    MAX_CONTENT_BYTES,
    ParsedRunbook,
    RunbookInvalid,
    is_slug,
    parse_runbook,
    slugify,
)
from watchkeeper.knowledge.runbook_metrics import RUNBOOK_REVISIONS
from watchkeeper.knowledge.runbooks import add_revision, fill
from watchkeeper.plan.source import Position, SourceDocument, SourceProblem
from watchkeeper.store.tables import Runbook

log = logging.getLogger(__name__)
MAX_FILES = 5_000
FOLDER_PATH = ("runbooks", "folder")


@dataclass(frozen=True)
class FolderRunbook:
    """A valid runbook file: its slug, path in the folder (``/`` separated) and document."""

    slug: str
    path: str
    content: str
    parsed: ParsedRunbook


@dataclass
class FolderRead:
    """What reading a folder found: the valid runbooks, and the problems of the others
    (with the slugs they would have had, so that a sync keeps those runbooks as they were)."""

    runbooks: list[FolderRunbook] = field(default_factory=list)
    problems: list[SourceProblem] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class FolderSync:
    """What a sync changed, by slug."""

    created: list[str]
    updated: list[str]
    deleted: list[str]
    kept: list[str]
    """Runbooks whose file had problems at sync time: left as they were."""

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def folder_of(section: RunbooksSection, base_dir: Path) -> Path | None:
    """Return the folder the section names, relative to ``base_dir`` (None when unset)."""
    if not section.folder:
        return None
    path = Path(section.folder).expanduser()
    return path if path.is_absolute() else base_dir / path


def _visible(path: Path, folder: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(folder).parts)


def _read(file: Path) -> tuple[str | None, str]:
    """Return (the file's text, "") or (None, why it cannot be read)."""
    try:
        if file.stat().st_size > MAX_CONTENT_BYTES:
            return None, f"larger than {MAX_CONTENT_BYTES // 1024} KiB"
        return file.read_text(encoding="utf-8"), ""
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"


def read_folder(folder: Path) -> FolderRead:
    """Read every runbook file under ``folder``; problems name ``file:line:column``."""
    found = FolderRead()
    seen: dict[str, str] = {}
    files = sorted(p for p in folder.rglob("*.md") if p.is_file() and _visible(p, folder))
    if len(files) > MAX_FILES:
        found.problems.append(
            SourceProblem(str(folder), None, "", f"more than {MAX_FILES} runbook files")
        )
        files = files[:MAX_FILES]
    for file in files:
        shown = str(file)
        relative = file.relative_to(folder).as_posix()
        slug = slugify(file.stem)
        if not is_slug(slug):
            found.problems.append(
                SourceProblem(
                    shown,
                    None,
                    "",
                    "rename the file: no slug can be made of its name"
                    + (f' ("{slug}" is reserved)' if slug else ""),
                )
            )
            continue
        if slug in seen:
            found.problems.append(
                SourceProblem(shown, None, "", f'slug "{slug}" is already taken by {seen[slug]}')
            )
            found.broken.add(slug)
            continue
        seen[slug] = relative
        text, why = _read(file)
        if text is None:
            found.problems.append(SourceProblem(shown, None, "", why))
            found.broken.add(slug)
            continue
        try:
            parsed = parse_runbook(text, fallback_title=file.stem)
        except RunbookInvalid as exc:
            found.problems += [
                SourceProblem(shown, Position(p.line, p.column), p.field, p.message)
                for p in exc.problems
            ]
            found.broken.add(slug)
            continue
        found.runbooks.append(FolderRunbook(slug, relative, text, parsed))
    return found


def folder_problems(
    doc: SourceDocument, section: RunbooksSection, base_dir: Path
) -> list[SourceProblem]:
    """Return the problems of the runbooks folder a loaded plan names: the folder missing
    (at ``runbooks.folder`` in the plan) or each file's, at its own file:line:column."""
    folder = folder_of(section, base_dir)
    if folder is None:
        return []
    if not folder.is_dir():
        return [
            SourceProblem(
                doc.file,
                doc.position(FOLDER_PATH),
                "runbooks.folder",
                f"{folder} is not a folder",
            )
        ]
    return read_folder(folder).problems


def _reviewed_on(parsed: ParsedRunbook, now: datetime) -> datetime:
    day = parsed.meta.last_reviewed
    return datetime.combine(day, time(), tzinfo=UTC) if day is not None else now


def sync_folder(
    db: Session, section: RunbooksSection, base_dir: Path, actor: Actor, now: datetime
) -> FolderSync:
    """Make the store's folder runbooks match the folder ``section`` names (none when it
    names none). Caller commits."""
    folder = folder_of(section, base_dir)
    read = FolderRead()
    if folder is not None:
        if not folder.is_dir():
            log.error("runbooks: %s is not a folder; its runbooks are left as they were", folder)
            return FolderSync([], [], [], [])
        read = read_folder(folder)
        for problem in read.problems:
            log.warning("runbooks: %s; that runbook is left as it was", problem)
    rows = {r.slug: r for r in db.scalars(select(Runbook).options(undefer(Runbook.content)))}
    created, updated = [], []
    for item in read.runbooks:
        row = rows.get(item.slug)
        if row is None:
            row = Runbook(
                slug=item.slug,
                source="folder",
                path=item.path,
                version=1,
                created_at=now,
                created_by=actor.name,
                updated_at=now,
                updated_by=actor.name,
                last_reviewed_at=_reviewed_on(item.parsed, now),
                last_reviewed_by="front matter" if item.parsed.meta.last_reviewed else actor.name,
            )
            fill(row, item.parsed, item.content)
            db.add(row)
            db.flush()
            add_revision(db, row, actor.name, f"read from {item.path}", now)
            created.append(item.slug)
            continue
        adopted = row.source != "folder"
        if not adopted and row.content == item.content and row.path == item.path:
            continue
        note = (
            f"taken over by the plan's folder ({item.path})"
            if adopted
            else f"read from {item.path}"
        )
        row.source, row.path = "folder", item.path
        if row.content != item.content:
            row.version += 1
            fill(row, item.parsed, item.content)
            row.updated_at, row.updated_by = now, actor.name
            add_revision(db, row, actor.name, note, now)
        updated.append(item.slug)
    present = {item.slug for item in read.runbooks} | read.broken
    deleted = []
    for slug, row in rows.items():
        if row.source == "folder" and slug not in present:
            db.delete(row)
            deleted.append(slug)
    result = FolderSync(created, updated, sorted(deleted), sorted(read.broken))
    if result.changed:
        db.flush()
        RUNBOOK_REVISIONS.labels("folder").inc(len(created) + len(updated))
        audit.record(
            db,
            actor,
            "runbook.sync",
            "runbooks",
            {
                "folder": section.folder or "",
                "created": created,
                "updated": updated,
                "deleted": result.deleted,
            },
        )
        log.info(
            "runbooks folder: %d created, %d updated, %d deleted",
            len(created),
            len(updated),
            len(deleted),
        )
    return result
