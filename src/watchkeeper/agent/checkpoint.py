"""Where each log source was read to, kept in the agent's state directory.

Positions are saved only once the lines read up to them are in the spool, so a restart
loses nothing. To repeat nothing either, even when the agent is killed between writing a
batch and saving the positions, every log batch starts with a header line holding the
positions it brings the sources to and a generation number; the positions file holds the
generation it was saved at. On start, headers of spooled batches newer than the file are
applied on top of it. The spool lets no sender see a batch before its positions are saved
(``Spool.put(before_visible=...)``), so a batch already sent never needs its header.

The file is ``{"version": 1, "gen": N, "sources": {source id: state}}``; a state is what the
source's reader gives (``{"files": {"dev:ino": {...}}}`` or ``{"cursor": "..."}``), and a
source with a state has been seen before (``start_at`` no longer applies to it).

:func:`write_atomically` is how every file of the agent's state directory and spool is
written (positions, saved server answers, pending results, spooled batches).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "log-positions.json"
HEADER_KEY = "watchkeeper_positions"
VERSION = 1


class Checkpoints:
    """The saved state of every log source of one agent."""

    def __init__(self, directory: Path) -> None:
        """Read the positions file in ``directory`` (created owner-only when missing); a
        damaged file is set aside with a warning and the sources start afresh."""
        self.directory = directory
        self.path = directory / FILE_NAME
        self.gen = 0
        self.sources: dict[str, dict[str, Any]] = {}
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or doc.get("version") != VERSION:
                raise ValueError("not a positions file of this agent version")
            self.gen = int(doc["gen"])
            self.sources = {str(k): dict(v) for k, v in doc["sources"].items()}
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self.path.with_suffix(".damaged")
            os.replace(self.path, aside)
            log.warning("%s is unreadable (%s); moved to %s", self.path, exc, aside.name)

    def header(self, changes: Mapping[str, dict[str, Any] | None]) -> tuple[int, bytes]:
        """Return the next generation and the header line of a batch bringing ``changes``
        (source id -> new state, None when the source is gone)."""
        gen = self.gen + 1
        line = json.dumps({HEADER_KEY: {"gen": gen, "sources": changes}}, separators=(",", ":"))
        return gen, line.encode() + b"\n"

    def recover(self, headers: Iterable[bytes]) -> int:
        """Apply the headers of spooled batches newer than the saved file, oldest first;
        return how many were applied (then saved)."""
        applied = 0
        for line in headers:
            try:
                doc = json.loads(line)[HEADER_KEY]
                gen, changes = int(doc["gen"]), doc["sources"]
            except (ValueError, KeyError, TypeError):
                continue  # not a header: a batch of an older agent
            if gen > self.gen:
                self._apply(gen, changes)
                applied += 1
        if applied:
            self.save()
        return applied

    def commit(self, gen: int, changes: Mapping[str, dict[str, Any] | None]) -> None:
        """Apply ``changes`` as generation ``gen`` and save them; raise OSError when the
        disk refuses."""
        self._apply(gen, changes)
        self.save()

    def _apply(self, gen: int, changes: Mapping[str, dict[str, Any] | None]) -> None:
        for source_id, state in changes.items():
            if state is None:
                self.sources.pop(source_id, None)
            else:
                self.sources[source_id] = state
        self.gen = gen

    def save(self) -> None:
        """Write the file atomically and durably (temporary file, fsync, rename)."""
        body = json.dumps(
            {"version": VERSION, "gen": self.gen, "sources": self.sources},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        write_atomically(self.path, body)


def write_atomically(path: Path, body: bytes) -> None:
    """Replace ``path`` with ``body`` atomically and durably: an owner-only temporary file
    beside it (``NAME.PID.THREAD.tmp``, so that writers never share one), fsync, rename,
    fsync of the directory. A crash leaves the old file or the new one, never a part; a
    missing directory is created owner-only. Raise OSError when the disk refuses (the
    temporary file is removed)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX: it lives in the directory's data)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # platforms that cannot open a directory do not need this
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def split_header(body: bytes) -> tuple[bytes | None, bytes]:
    """Return (header line or None, the NDJSON lines) of a spooled log batch."""
    first, _, rest = body.partition(b"\n")
    if first.startswith(b'{"' + HEADER_KEY.encode() + b'"'):
        return first, rest
    return None, body
