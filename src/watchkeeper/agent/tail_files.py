"""The files of one ``logs.files`` source: find them by glob, follow each, and let go of them.

The globs are evaluated again every few seconds, so new files are picked up. A file that no
longer matches (renamed by logrotate, or deleted) is still read to its end, and closed once
nothing was appended to it for ``close_after`` seconds: the writer may keep writing to the
old inode for a moment after the rename. Within one poll the files that left are read first,
so that the end of ``app.log.1`` comes before the start of the new ``app.log``.

Where to start in a file:
- one this source has a position for (same inode and fingerprint): at the position;
- one present when the source is seen for the first time: at ``start_at`` (``end`` by
  default, like ``tail -f``);
- any other file (it appeared later: created by a rotation, or while the agent was down):
  at its beginning, so that no line of it is missed.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import stat
from collections.abc import Iterator
from typing import Any

from watchkeeper.agent.multiline import Event
from watchkeeper.agent.tail import Counters, FileTailer, check_encoding
from watchkeeper.logs.config import FileSource

log = logging.getLogger(__name__)

COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".7z")
"""Rotated and compressed files: never tailed, even when a glob matches them."""
MAX_FILES = 1024
FILE_BUDGET = 1 << 20
"""Bytes read from one file in one poll: a busy file cannot starve the others."""


class FileSourceTailer:
    """Tail every file of one source; ``state()`` is its checkpoint."""

    def __init__(
        self,
        source_id: str,
        source: FileSource,
        host: str,
        state: dict[str, Any] | None,
        counters: Counters,
        *,
        glob_every: float = 5.0,
        close_after: float = 5.0,
    ) -> None:
        """Follow ``source`` from its checkpoint ``state`` (None: seen for the first time).
        Raise ValueError for an encoding that cannot be tailed."""
        self.source_id = source_id
        self.source = source
        self.encoding = check_encoding(source.encoding)
        self.counters = counters
        self.glob_every = glob_every
        self.close_after = close_after
        self.first_time = state is None
        self._known: dict[str, dict[str, Any]] = dict((state or {}).get("files", {}))
        self.tailers: dict[str, FileTailer] = {}
        self._scans = 0
        self._turn = 0
        self._scanned_at = float("-inf")
        self._warned: set[str] = set()
        self._base_labels = {"source": "file", **source.labels, "host": host}
        self._labels: dict[str, dict[str, str]] = {}

    def state(self) -> dict[str, Any]:
        """The positions of the files being read, and of files that could not be read for
        a moment (a closed file has none)."""
        files = dict(self._known)
        files.update((key, t.position()) for key, t in self.tailers.items())
        return {"files": dict(sorted(files.items()))}

    def labels_of(self, tailer: FileTailer) -> dict[str, str]:
        return self._labels.setdefault(tailer.key, {**self._base_labels, "filename": tailer.path})

    def poll(
        self, budget: int, now: float, ts: int, max_events: int = 1 << 30
    ) -> tuple[list[tuple[Event, dict[str, str]]], int]:
        """Scan when due, then read up to ``budget`` bytes (stopping early past
        ``max_events``); return the events with their labels and the bytes read."""
        if now - self._scanned_at >= self.glob_every:
            self.scan(now)
        out: list[tuple[Event, dict[str, str]]] = []
        used = 0
        # Files that left first: the end of the rotated file precedes the new file. The
        # others take turns at going first, so that busy files cannot starve the rest.
        gone = [t for t in self.tailers.values() if t.orphan_since is not None]
        watched = [t for t in self.tailers.values() if t.orphan_since is None]
        self._turn += 1
        turn = self._turn % len(watched) if watched else 0
        order = gone + watched[turn:] + watched[:turn]
        for tailer in order:
            try:
                events, read = tailer.poll(
                    min(FILE_BUDGET, budget - used), now, ts, max_events - len(out)
                )
            except OSError as exc:
                log.warning("cannot read %s: %s; trying again at the next scan", tailer.path, exc)
                self._known[tailer.key] = tailer.position()  # reopened from where it was
                self._close(tailer)
                continue
            used += read
            labels = self.labels_of(tailer)
            out += [(e, labels) for e in events]
            if tailer.orphan_since is not None and not read and self._done(tailer, now):
                out += [(e, labels) for e in tailer.drain(ts)]
                self._close(tailer)
            if used >= budget or len(out) >= max_events:
                break
        return out, used

    def _done(self, tailer: FileTailer, now: float) -> bool:
        assert tailer.orphan_since is not None
        quiet = now - max(tailer.idle_since, tailer.orphan_since)
        return quiet >= self.close_after and tailer.offset >= tailer.size()

    def scan(self, now: float) -> None:
        """Evaluate the globs: open new files, mark the ones that left."""
        self._scanned_at = now
        initial = self._scans == 0
        self._scans += 1
        found = dict(self._matching())
        for key, path in found.items():
            tailer = self.tailers.get(key)
            if tailer is not None:
                tailer.orphan_since = None  # back at a watched path (or never left)
            elif len(self.tailers) < MAX_FILES:
                self._open(path, initial)
            elif "max-files" not in self._warned:
                self._warned.add("max-files")
                log.warning(
                    "logs.files %s: more than %d files match; the others are not tailed",
                    self.source.name,
                    MAX_FILES,
                )
        for key, tailer in self.tailers.items():
            if key not in found and tailer.orphan_since is None:
                tailer.orphan_since = now
        if initial:
            self._resume_moved()
            self._known.clear()  # positions of files that are gone

    def _matching(self) -> Iterator[tuple[str, str]]:
        for pattern in self.source.paths:
            for path in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)):
                if self._excluded(path):
                    continue
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # gone since the glob
                if stat.S_ISREG(st.st_mode):
                    yield f"{st.st_dev}:{st.st_ino}", path

    def _excluded(self, path: str) -> bool:
        if path.endswith(COMPRESSED):
            return True
        name = os.path.basename(path)
        return any(
            fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(name, pattern)
            for pattern in self.source.exclude
        )

    def _open(self, path: str, initial: bool, resume_only: bool = False) -> FileTailer | None:
        try:
            tailer = FileTailer.open(
                path,
                offset=0,
                multiline=self.source.multiline,
                encoding=self.encoding,
                counters=self.counters,
            )
        except OSError as exc:
            if path not in self._warned:
                self._warned.add(path)
                log.warning("logs.files %s: cannot read %s: %s", self.source.name, path, exc)
            return None
        if tailer.key in self.tailers:  # the path was replaced between stat and open
            tailer.close()
            return None
        size = tailer.size()
        known = self._known.pop(tailer.key, None)
        if (
            known is not None
            and known["offset"] <= size
            and tailer.matches(known["fp"], known["fp_len"])
        ):
            tailer.rewind(known["offset"])
        elif resume_only:
            tailer.close()  # not the file we had read: the inode was reused
            return None
        elif known is None and initial and self.first_time and self.source.start_at == "end":
            tailer.rewind(size)
        self.tailers[tailer.key] = tailer
        self._warned.discard(path)
        log.debug("tailing %s from byte %d", path, tailer.offset)
        return tailer

    def _resume_moved(self) -> None:
        """After a restart, finish files that were rotated while the agent was stopped:
        a file with a position but no longer at a watched path is looked for, by inode,
        in the directory it was in, and read from its position if its fingerprint still
        matches."""
        for key, known in list(self._known.items()):
            dev, ino = (int(part) for part in key.split(":"))
            directory = os.path.dirname(known["path"]) or "."
            try:
                with os.scandir(directory) as entries:
                    paths = [e.path for e in entries if e.inode() == ino]
            except OSError:
                continue
            for path in paths:
                try:
                    st = os.stat(path, follow_symlinks=False)
                except OSError:
                    continue
                if st.st_dev == dev and stat.S_ISREG(st.st_mode):
                    tailer = self._open(path, initial=False, resume_only=True)
                    if tailer is not None:
                        tailer.orphan_since = tailer.idle_since
                    break

    def _close(self, tailer: FileTailer) -> None:
        self.tailers.pop(tailer.key, None)
        self._labels.pop(tailer.key, None)
        try:
            tailer.close()
        except OSError:
            pass
        log.debug("stopped tailing %s", tailer.path)

    def close(self) -> None:
        for tailer in list(self.tailers.values()):
            self._close(tailer)
