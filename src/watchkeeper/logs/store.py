"""The log store: lines grouped per stream into zstd chunks, with a tantivy index of chunks.

The choice and its figures are in docs/logs-storage.md. Lines of each stream collect in an
in-memory head (written first to the write-ahead log); a head is cut into a chunk file at
4,096 lines, 1 MB, or when it grows old. Each chunk has a row in ``meta.db`` (stream, time
span, line count, sizes) and a document in the tantivy index holding its terms and field
values, so a term search opens only the chunks that contain every term. Retention deletes
whole chunks.

:class:`LogStore` is the interface the query engine and the retention job use; a
distributed backend implements the same methods.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import tantivy

from watchkeeper.logs import chunk
from watchkeeper.logs.model import Labels, LogLine
from watchkeeper.logs.selector import Matcher, matches_all
from watchkeeper.logs.wal import WriteAheadLog
from watchkeeper.telemetry import LOG_CHUNKS_FLUSHED

log = logging.getLogger(__name__)
Direction = Literal["forward", "backward"] | None
MAX_TOKEN_BYTES = 40  # tantivy's default tokenizer drops tokens of 40 bytes and more
_TOKEN = re.compile(r"[^\W_]+")


def tokens(text: str) -> list[str]:
    """Index terms of ``text``, as tantivy's default tokenizer makes them: it drops a token
    of 40 bytes or more (measured before lower-casing), then lower-cases the rest."""
    return [t.lower() for t in _TOKEN.findall(text) if len(t.encode()) < MAX_TOKEN_BYTES]


@dataclass(frozen=True)
class Stream:
    id: int
    labels: Labels


@dataclass(frozen=True)
class ChunkRef:
    id: int
    stream: int
    min_ts: int
    max_ts: int
    lines: int
    raw_bytes: int
    stored_bytes: int


@dataclass(frozen=True)
class StreamUsage:
    stream: Stream
    chunks: int
    lines: int
    raw_bytes: int
    stored_bytes: int
    oldest: int | None
    newest: int | None


class LogStore(Protocol):
    """What the query engine, the retention job and the UI need from a log store."""

    def append(self, lines: Sequence[LogLine], *, sync: bool = False) -> None: ...

    def streams(self, matchers: Sequence[Matcher] = ()) -> list[Stream]: ...

    def scan(
        self,
        matchers: Sequence[Matcher],
        start: int,
        end: int,
        *,
        terms: Sequence[str] = (),
        field_terms: Sequence[tuple[str, str]] = (),
        direction: Direction = "backward",
        prefilter: Callable[[chunk.Block], np.ndarray] | None = None,
    ) -> Iterator[LogLine]: ...

    def blocks(
        self,
        matchers: Sequence[Matcher],
        start: int,
        end: int,
        *,
        terms: Sequence[str] = (),
        field_terms: Sequence[tuple[str, str]] = (),
    ) -> Iterator[chunk.Block]: ...

    def count_lines(self, matchers: Sequence[Matcher], start: int, end: int) -> int: ...

    def times(
        self, matchers: Sequence[Matcher], start: int, end: int
    ) -> Iterator[tuple[Labels, np.ndarray]]: ...

    def usage(self) -> list[StreamUsage]: ...

    def chunks_of(self, stream: int) -> list[ChunkRef]: ...

    def delete_chunks(self, ids: Iterable[int]) -> int: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class _Head:
    lines: list[LogLine] = field(default_factory=list)
    raw_bytes: int = 0
    first_seq: int = 0
    last_batch: int = 0
    opened: float = field(default_factory=time.monotonic)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
  id INTEGER PRIMARY KEY, labels TEXT NOT NULL UNIQUE, created REAL NOT NULL,
  flushed_batch INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY, stream INTEGER NOT NULL, min_ts INTEGER NOT NULL,
  max_ts INTEGER NOT NULL, lines INTEGER NOT NULL, raw_bytes INTEGER NOT NULL,
  stored_bytes INTEGER NOT NULL, indexed INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS chunks_stream_time ON chunks (stream, max_ts, min_ts);
CREATE INDEX IF NOT EXISTS chunks_unindexed ON chunks (indexed) WHERE indexed = 0;
"""


class ChunkStore:
    """The single-node log store under one directory."""

    def __init__(
        self,
        root: Path,
        *,
        chunk_lines: int = 4096,
        chunk_bytes: int = 1 << 20,
        head_max_age: float = 900.0,
        head_budget: int = 256 << 20,
        commit_interval: float = 1.0,
    ) -> None:
        self.root = root
        self.chunk_lines = chunk_lines
        self.chunk_bytes = chunk_bytes
        self.head_max_age = head_max_age
        self.head_budget = head_budget
        self._unsynced: list[Path] = []  # chunk files written since the last fsync
        self.commit_interval = commit_interval
        (root / "chunks").mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(root / "meta.db", check_same_thread=False)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + _SCHEMA)
        self._streams: dict[Labels, Stream] = {}
        self._by_id: dict[int, Stream] = {}
        self._flushed: dict[int, int] = {}  # stream -> last WAL batch cut into a chunk
        for sid, text, flushed in self._db.execute("SELECT id, labels, flushed_batch FROM streams"):
            labels: Labels = tuple((k, v) for k, v in json.loads(text))
            self._streams[labels] = self._by_id[sid] = Stream(sid, labels)
            self._flushed[sid] = flushed
        self._heads: dict[int, _Head] = {}
        self._index, self._writer = self._open_index(root / "index")
        self._dirty = False
        self._pending: set[int] = set()  # chunks written but not yet in a committed index
        self._last_commit = time.monotonic()
        self._searcher = self._index.searcher()
        self._wal = WriteAheadLog(root / "wal")
        # Batch ids come from the clock; never reuse one already cut into a chunk (a replay
        # would skip its lines) even if the clock went back while the WAL was empty.
        self._wal.last_batch = max(self._flushed.values(), default=0)
        self._replay()
        self._reindex_missing()

    # -- opening -----------------------------------------------------------------------------

    @staticmethod
    def _open_index(path: Path) -> tuple[tantivy.Index, tantivy.IndexWriter]:
        path.mkdir(parents=True, exist_ok=True)
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("chunk", stored=True, indexed=True, fast=True)
        builder.add_text_field("text", index_option="basic")
        builder.add_text_field("fields", tokenizer_name="raw", index_option="basic")
        index = tantivy.Index(builder.build(), path=str(path))
        return index, index.writer(heap_size=64_000_000, num_threads=1)

    def _replay(self) -> None:
        replayed = 0
        for seq, batch, lines in self._wal.replay():
            fresh = [ln for ln in lines if batch > self._flushed.get(self._stream(ln.labels).id, 0)]
            self._add(fresh, seq, batch)
            replayed += len(fresh)
        self._db.commit()
        if replayed:
            log.info("log store: %d line(s) recovered from the write-ahead log", replayed)
        # Everything recovered now lives in heads whose first segment is the oldest one;
        # new writes go to a fresh segment.
        self._wal.rotate()

    def _reindex_missing(self) -> None:
        rows = self._db.execute(
            "SELECT id, stream FROM chunks WHERE indexed = 0 ORDER BY id"
        ).fetchall()
        for cid, sid in rows:
            try:
                lines = chunk.decode(self._chunk_path(sid, cid).read_bytes(), ())
            except (OSError, chunk.ChunkCorrupt) as exc:
                log.error("log chunk %d cannot be read, removed from the index: %s", cid, exc)
                self._db.execute("DELETE FROM chunks WHERE id = ?", (cid,))
                continue
            self._writer.delete_documents_by_term("chunk", cid)
            self._index_chunk(cid, lines)
        if rows:
            self._commit()

    # -- writing -----------------------------------------------------------------------------

    def _stream(self, labels: Labels) -> Stream:
        found = self._streams.get(labels)
        if found is None:
            text = json.dumps([list(p) for p in labels], separators=(",", ":"))
            cur = self._db.execute(
                "INSERT INTO streams (labels, created) VALUES (?, ?)", (text, time.time())
            )
            assert cur.lastrowid is not None
            found = Stream(cur.lastrowid, labels)
            self._streams[labels] = self._by_id[found.id] = found
        return found

    def append(self, lines: Sequence[LogLine], *, sync: bool = False) -> None:
        """Store ``lines`` (any order, any streams): WAL first, then the heads. ``sync``:
        fsync the WAL before returning (the lines survive a power loss)."""
        if not lines:
            return
        with self._lock:
            seq, batch = self._wal.append(lines)
            if sync:
                self._wal.sync_now()
            self._add(lines, seq, batch)
            self._db.commit()
            self._maybe_commit()

    def _add(self, lines: Iterable[LogLine], seq: int, batch: int) -> None:
        # Group by labels first: one dict lookup per line instead of a labels comparison,
        # a stream lookup and head bookkeeping per line (receivers interleave streams).
        groups: dict[Labels, list[LogLine]] = {}
        for line in lines:
            group = groups.get(line.labels)
            if group is None:
                group = groups[line.labels] = []
            group.append(line)
        heads = self._heads
        for labels, group in groups.items():
            sid = self._stream(labels).id
            head = heads.get(sid)
            if head is None:
                head = heads[sid] = _Head(first_seq=seq)
            head.last_batch = batch
            head.lines += group
            head.raw_bytes += sum([len(line.message) for line in group])
            if len(head.lines) >= self.chunk_lines or head.raw_bytes >= self.chunk_bytes:
                self._cut(sid)
        self._enforce_head_budget()

    def _enforce_head_budget(self) -> None:
        """Many streams (high-cardinality labels) must not hold unbounded memory in their
        heads: past the budget, the oldest heads are cut into (small) chunks."""
        total = sum(h.raw_bytes for h in self._heads.values())
        if total <= self.head_budget:
            return
        for sid, head in sorted(self._heads.items(), key=lambda item: item[1].opened):
            if total <= self.head_budget * 3 // 4:
                break
            total -= head.raw_bytes
            self._cut(sid)

    def _chunk_path(self, stream: int, cid: int) -> Path:
        return self.root / "chunks" / f"{stream % 256:02x}" / f"{cid}.wkc"

    def _cut(self, sid: int) -> None:
        head = self._heads.pop(sid, None)
        if head is None or not head.lines:
            return
        lines = sorted(head.lines, key=lambda line: line.ts)
        blob = chunk.encode(lines)
        flushed = self._flushed.get(sid, 0)
        cid: int | None = None
        try:
            cur = self._db.execute(
                "INSERT INTO chunks (stream, min_ts, max_ts, lines, raw_bytes, stored_bytes)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sid, lines[0].ts, lines[-1].ts, len(lines), head.raw_bytes, len(blob)),
            )
            cid = cur.lastrowid
            assert cid is not None
            self._db.execute(
                "UPDATE streams SET flushed_batch = ? WHERE id = ?", (head.last_batch, sid)
            )
            self._flushed[sid] = head.last_batch
            path = self._chunk_path(sid, cid)
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(blob)
            tmp.replace(path)
            self._unsynced.append(path)
            # A crash between an index commit and the meta.db commit can leave a document
            # under an id that is given out again: replace it rather than add a second one.
            self._writer.delete_documents_by_term("chunk", cid)
            self._index_chunk(cid, lines)
        except BaseException:
            # A disk full or a bad directory: undo the row and the flushed batch, which the
            # next commit would otherwise keep (a replay would then skip lines that are in
            # no file), and keep the head, whose lines were acknowledged.
            if cid is not None:
                self._db.execute("DELETE FROM chunks WHERE id = ?", (cid,))
                with contextlib.suppress(OSError):
                    self._chunk_path(sid, cid).with_suffix(".tmp").unlink(missing_ok=True)
                    self._chunk_path(sid, cid).unlink(missing_ok=True)
            self._db.execute("UPDATE streams SET flushed_batch = ? WHERE id = ?", (flushed, sid))
            self._flushed[sid] = flushed
            self._heads[sid] = head
            raise
        LOG_CHUNKS_FLUSHED.inc()

    def _index_chunk(self, cid: int, lines: Sequence[LogLine]) -> None:
        text = "\n".join([line.message for line in lines])
        pairs: set[str] = set()
        for line in lines:
            if line.fields:
                for key, value in line.fields.items():
                    if len(value) <= 64:
                        pairs.add(f"{key}={value}")
        self._writer.add_document(tantivy.Document(chunk=cid, text=text, fields=sorted(pairs)))
        self._pending.add(cid)
        self._dirty = True

    def _maybe_commit(self) -> None:
        if self._dirty and time.monotonic() - self._last_commit >= self.commit_interval:
            self._commit()

    def _commit(self) -> None:
        self._writer.commit()
        self._db.execute("UPDATE chunks SET indexed = 1 WHERE indexed = 0")
        self._db.commit()
        self._index.reload()
        self._searcher = self._index.searcher()
        self._pending.clear()
        self._dirty = False
        self._last_commit = time.monotonic()
        oldest = min((h.first_seq for h in self._heads.values()), default=self._wal.seq)
        if oldest > min(self._wal.segments(), default=oldest):
            # Chunk files reach the disk before the write-ahead log that also holds their
            # lines is deleted (a power loss must not take both).
            for path in self._unsynced:
                with contextlib.suppress(OSError), open(path, "rb") as f:
                    os.fsync(f.fileno())
            self._unsynced.clear()
            self._wal.remove_before(oldest)
        self._wal.rotate_if_large()

    def tick(self) -> None:
        """Periodic upkeep: cut heads that grew old, commit the index, trim the WAL."""
        with self._lock:
            now = time.monotonic()
            for sid in [s for s, h in self._heads.items() if now - h.opened >= self.head_max_age]:
                self._cut(sid)
            if self._dirty:
                self._commit()
            elif self._heads:
                oldest = min(h.first_seq for h in self._heads.values())
                if oldest < self._wal.seq:
                    self._wal.remove_before(oldest)
                self._wal.rotate_if_large()

    def flush(self) -> None:
        """Cut every head into a chunk and commit (tests, shutdown)."""
        with self._lock:
            for sid in list(self._heads):
                self._cut(sid)
            self._commit()
            self._wal.rotate()
            self._wal.remove_before(self._wal.seq)

    def close(self) -> None:
        with self._lock:
            if self._dirty:
                self._commit()
            self._writer.wait_merging_threads()  # releases the index lock
            self._wal.close()
            self._db.close()

    # -- reading -----------------------------------------------------------------------------

    def streams(self, matchers: Sequence[Matcher] = ()) -> list[Stream]:
        with self._lock:
            known = list(self._streams.values())
        return [s for s in known if matches_all(matchers, s.labels)]

    def _chunks(self, sids: Sequence[int], start: int, end: int) -> list[ChunkRef]:
        if not sids:
            return []
        out: list[ChunkRef] = []
        with self._lock:
            for at in range(0, len(sids), 500):
                part = sids[at : at + 500]
                marks = ",".join("?" * len(part))
                out += [
                    ChunkRef(*row)
                    for row in self._db.execute(
                        "SELECT id, stream, min_ts, max_ts, lines, raw_bytes, stored_bytes"
                        f" FROM chunks WHERE stream IN ({marks}) AND max_ts >= ? AND min_ts <= ?",
                        (*part, start, end),
                    )
                ]
        return out

    def _term_chunks(
        self,
        terms: Sequence[str],
        field_terms: Sequence[tuple[str, str]],
        snapshot: tuple[tantivy.Searcher, set[int]] | None = None,
    ) -> set[int] | None:
        """Chunks whose index holds every term (None: no term to narrow by), searched in
        ``snapshot`` (a searcher and the chunks not yet in it) or the current index."""
        schema = self._index.schema
        clauses = [
            (tantivy.Occur.Must, tantivy.Query.term_query(schema, "text", t))
            for t in dict.fromkeys(terms)
            if t and len(t.encode()) < MAX_TOKEN_BYTES
        ]
        clauses += [
            (tantivy.Occur.Must, tantivy.Query.term_query(schema, "fields", f"{k}={v}"))
            for k, v in field_terms
            if len(v) <= 64
        ]
        if not clauses:
            return None
        if snapshot is None:
            with self._lock:
                snapshot = self._searcher, set(self._pending)
        searcher, pending = snapshot
        query = tantivy.Query.boolean_query(clauses)
        total = searcher.search(query, 1, count=True).count or 0  # type: ignore[attr-defined]
        if not total:
            return pending
        hits = searcher.search(query, total, count=False, order_by_field="chunk").hits
        return {int(key) for key, _ in hits} | pending

    def _block(self, ref: ChunkRef) -> chunk.Block | None:
        try:
            blob = self._chunk_path(ref.stream, ref.id).read_bytes()
        except FileNotFoundError:  # deleted by retention while we were reading
            return None
        return chunk.read_block(blob, self._by_id[ref.stream].labels)

    def _head_lines(self, sids: set[int], start: int, end: int) -> list[list[LogLine]]:
        with self._lock:
            return [
                [ln for ln in head.lines if start <= ln.ts <= end]
                for sid, head in self._heads.items()
                if sid in sids
            ]

    def _head_blocks(self, picked: list[list[LogLine]]) -> list[chunk.Block]:
        out = []
        for lines in picked:
            if lines:
                lines.sort(key=lambda line: line.ts)
                out.append(chunk.block_of(lines))
        return out

    def _candidates(
        self,
        matchers: Sequence[Matcher],
        start: int,
        end: int,
        terms: Sequence[str],
        field_terms: Sequence[tuple[str, str]],
    ) -> tuple[list[ChunkRef], list[chunk.Block]]:
        refs, picked, snapshot = self._snapshot(matchers, start, end)
        allowed = self._term_chunks(terms, field_terms, snapshot)
        if allowed is not None:
            refs = [r for r in refs if r.id in allowed]
        return refs, self._head_blocks(picked)

    def _snapshot(
        self, matchers: Sequence[Matcher], start: int, end: int
    ) -> tuple[list[ChunkRef], list[list[LogLine]], tuple[tantivy.Searcher, set[int]]]:
        """The chunks, head lines and index of matching streams at one moment: a head cut
        into a chunk between reading the chunks and the heads would hide its lines (or
        count them twice)."""
        with self._lock:
            sids = {s.id for s in self.streams(matchers)}
            refs = self._chunks(sorted(sids), start, end)
            picked = self._head_lines(sids, start, end)
            return refs, picked, (self._searcher, set(self._pending))

    def blocks(
        self,
        matchers: Sequence[Matcher],
        start: int,
        end: int,
        *,
        terms: Sequence[str] = (),
        field_terms: Sequence[tuple[str, str]] = (),
    ) -> Iterator[chunk.Block]:
        """Column blocks (one per candidate chunk, plus the heads) cut to ``[start, end]``,
        in no particular order: what counting and aggregation read."""
        refs, heads = self._candidates(matchers, start, end, terms, field_terms)
        for ref in refs:
            block = self._block(ref)
            if block is not None:
                yield block.slice(start, end)
        yield from heads

    def scan(
        self,
        matchers: Sequence[Matcher],
        start: int,
        end: int,
        *,
        terms: Sequence[str] = (),
        field_terms: Sequence[tuple[str, str]] = (),
        direction: Direction = "backward",
        prefilter: Callable[[chunk.Block], np.ndarray] | None = None,
    ) -> Iterator[LogLine]:
        """Lines of matching streams with ``start <= ts <= end`` from chunks that may hold
        every term (a superset: the caller applies its exact filters). ``direction`` orders
        the lines by time (newest first for ``backward``); ``None`` leaves them unordered.
        ``prefilter`` returns a mask of the block's lines worth materialising.

        Ordered scans walk time windows from one end, doubling in width, so that a page of
        the newest lines reads only the newest part of each chunk."""
        refs, heads = self._candidates(matchers, start, end, terms, field_terms)

        def lines(block: chunk.Block) -> list[LogLine]:
            return block.lines(prefilter(block) if prefilter is not None else None)

        if direction is None:
            for ref in refs:
                block = self._block(ref)
                if block is not None:
                    yield from lines(block.slice(start, end))
            for block in heads:
                yield from lines(block)
            return
        cache: dict[int, chunk.Block | None] = {}
        budget = 256 << 20
        width = max((end - start + 1) // 64, 1_000_000_000)
        backward = direction == "backward"
        lo, hi = (
            (max(start, end - width + 1), end) if backward else (start, min(end, start + width - 1))
        )
        while lo <= hi:
            window: list[LogLine] = []
            for ref in refs:
                if ref.max_ts < lo or ref.min_ts > hi:
                    continue
                if ref.id in cache:
                    block = cache[ref.id]
                else:
                    block = self._block(ref)
                    if block is not None and budget > len(block.data):
                        budget -= len(block.data)
                        cache[ref.id] = block
                if block is not None:
                    window += lines(block.slice(lo, hi))
            for block in heads:
                window += lines(block.slice(lo, hi))
            window.sort(key=lambda line: line.ts, reverse=backward)
            yield from window
            width *= 2
            if backward:
                lo, hi = max(start, lo - width), lo - 1
            else:
                lo, hi = hi + 1, min(end, hi + width)

    def count_lines(self, matchers: Sequence[Matcher], start: int, end: int) -> int:
        """Lines of matching streams in ``[start, end]``: chunk metadata for chunks inside
        the range, the time column for chunks across its edges."""
        refs, picked, _ = self._snapshot(matchers, start, end)
        total = 0
        for ref in refs:
            if start <= ref.min_ts and ref.max_ts <= end:
                total += ref.lines
            else:
                ts = self._times(ref)
                total += int(np.count_nonzero((ts >= start) & (ts <= end)))
        return total + sum(len(lines) for lines in picked)

    def times(
        self, matchers: Sequence[Matcher], start: int, end: int
    ) -> Iterator[tuple[Labels, np.ndarray]]:
        """Event times per chunk (and head) of matching streams in ``[start, end]``: what a
        line count over time buckets needs, without reading the messages."""
        refs, picked, _ = self._snapshot(matchers, start, end)
        for ref in refs:
            ts = self._times(ref)
            yield self._by_id[ref.stream].labels, ts[(ts >= start) & (ts <= end)]
        for block in self._head_blocks(picked):
            yield block.labels, block.ts

    def _times(self, ref: ChunkRef) -> np.ndarray:
        try:
            return chunk.decode_times(self._chunk_path(ref.stream, ref.id).read_bytes())
        except FileNotFoundError:
            return np.empty(0, dtype=np.int64)

    # -- retention and usage ---------------------------------------------------------------

    def chunks_of(self, stream: int) -> list[ChunkRef]:
        with self._lock:
            return [
                ChunkRef(*row)
                for row in self._db.execute(
                    "SELECT id, stream, min_ts, max_ts, lines, raw_bytes, stored_bytes"
                    " FROM chunks WHERE stream = ? ORDER BY max_ts",
                    (stream,),
                )
            ]

    def delete_chunks(self, ids: Iterable[int]) -> int:
        """Delete whole chunks: files, metadata and index documents."""
        removed = 0
        with self._lock:
            for cid in ids:
                row = self._db.execute("SELECT stream FROM chunks WHERE id = ?", (cid,)).fetchone()
                if row is None:
                    continue
                self._chunk_path(row[0], cid).unlink(missing_ok=True)
                self._db.execute("DELETE FROM chunks WHERE id = ?", (cid,))
                self._writer.delete_documents_by_term("chunk", cid)
                removed += 1
            if removed:
                self._dirty = True
                self._commit()
        return removed

    def usage(self) -> list[StreamUsage]:
        with self._lock:
            rows = {
                sid: rest
                for sid, *rest in self._db.execute(
                    "SELECT stream, COUNT(*), SUM(lines), SUM(raw_bytes), SUM(stored_bytes),"
                    " MIN(min_ts), MAX(max_ts) FROM chunks GROUP BY stream"
                )
            }
            heads = {sid: (len(h.lines), h.raw_bytes, h.lines) for sid, h in self._heads.items()}
            streams = list(self._by_id.values())
        out = []
        for stream in streams:
            chunks, lines, raw, stored, oldest, newest = rows.get(
                stream.id, (0, 0, 0, 0, None, None)
            )
            if stream.id in heads:
                count, head_raw, head_lines = heads[stream.id]
                lines, raw = (lines or 0) + count, (raw or 0) + head_raw
                first = min(ln.ts for ln in head_lines)
                last = max(ln.ts for ln in head_lines)
                oldest = first if oldest is None else min(oldest, first)
                newest = last if newest is None else max(newest, last)
            if lines:
                out.append(
                    StreamUsage(stream, chunks, lines or 0, raw or 0, stored or 0, oldest, newest)
                )
        return out

    def disk_bytes(self) -> int:
        total = 0
        for path in self.root.rglob("*"):
            # index segments and chunk files come and go while this walks (merges, cuts,
            # retention): a file gone since it was listed counts nothing
            with contextlib.suppress(OSError):
                if path.is_file():
                    total += path.stat().st_size
        return total
