"""Metric storage on SQLite or PostgreSQL: series, a raw head, hourly chunks.

New samples land in ``metric_samples`` (the head: one row per sample, written in batches).
``compact()`` moves every complete hour out of the head into one compressed chunk per
series (``metric_chunks``) and computes the 5-minute and 1-hour rollups of that hour;
``enforce_retention()`` deletes what is older than the configured retention. Queries read
chunks and head rows of the matching series and hand numpy arrays to the PromQL engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cache
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, delete, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from watchkeeper.metrics import chunks
from watchkeeper.metrics.labels import (
    METRIC_NAME,
    Labels,
    Matcher,
    fingerprint,
    matches_all,
    metric_name,
)
from watchkeeper.metrics.rollup_reads import needs_rollups, read_older
from watchkeeper.metrics.source import SeriesData
from watchkeeper.store.tables import MetricChunk, MetricSample, MetricSeries

Batch = Iterable[tuple[Labels, Sequence[tuple[int, float]]]]
_IN_LIMIT = 500  # ids per IN (...) list: far below SQLite's bound-parameter limit
GAP_WAIT_S = 300.0
"""How long a series id skipped by a refresh is looked for again (see ``_SeriesIndex``)."""
GAP_POLL_S = 1.0
"""Skipped ids are looked for at most this often."""
MAX_GAPS = 1_000
"""Skipped ids looked for: the newest ones (a transaction in flight holds recent ids)."""


@dataclass(frozen=True)
class WriteReport:
    accepted: int
    duplicates: int
    series_created: int


class _SeriesIndex:
    """In-process copy of the series table (id, labels), refreshed incrementally.

    Series are only ever added by ingest (and removed by retention, after which a stale
    entry only costs an empty read), so a refresh reads every id above the highest one seen,
    plus the *gaps*: ids below it not seen yet. On PostgreSQL with several replicas (or
    writer threads) ids are handed out before commit, so series 41 may commit after series
    42 was read; an id skipped that way is looked for again by each refresh until it shows
    up or ``GAP_WAIT_S`` passed (ids a conflicting insert consumed never show up).
    """

    def __init__(self) -> None:
        self.by_fingerprint: dict[str, int] = {}
        self.by_labels: dict[Labels, int] = {}
        self.labels: dict[int, Labels] = {}
        self.by_name: dict[str, list[int]] = {}
        self.max_id = 0
        self.gaps: dict[int, float] = {}  # id -> when it was first missed (monotonic s)
        self.gaps_checked = 0.0
        self.lock = threading.Lock()

    def add(self, series_id: int, fp: str, labels: Labels) -> None:
        if series_id in self.labels:
            return
        self.by_fingerprint[fp] = series_id
        self.by_labels[labels] = series_id
        self.labels[series_id] = labels
        self.by_name.setdefault(metric_name(labels), []).append(series_id)
        self.gaps.pop(series_id, None)
        if series_id > self.max_id:
            now = time.monotonic()
            skipped = range(max(self.max_id + 1, series_id - MAX_GAPS), series_id)
            self.gaps.update((gap, now) for gap in skipped if gap not in self.labels)
            self.max_id = series_id

    def refresh(self, conn: Connection) -> None:
        with self.lock:
            expired = time.monotonic() - GAP_WAIT_S
            for gap in [g for g, since in self.gaps.items() if since < expired]:
                del self.gaps[gap]
            if len(self.gaps) > MAX_GAPS:  # keep the newest ids
                for gap in sorted(self.gaps)[: len(self.gaps) - MAX_GAPS]:
                    del self.gaps[gap]
            newer = MetricSeries.id > self.max_id
            gaps: list[int] = []
            if self.gaps and time.monotonic() - self.gaps_checked >= GAP_POLL_S:
                gaps, self.gaps_checked = sorted(self.gaps), time.monotonic()
        wanted = or_(newer, MetricSeries.id.in_(gaps)) if gaps else newer
        rows = conn.execute(
            select(MetricSeries.id, MetricSeries.fingerprint, MetricSeries.labels)
            .where(wanted)
            .order_by(MetricSeries.id)
        )
        with self.lock:
            for series_id, fp, labels in rows:
                self.add(series_id, fp, tuple(sorted(labels.items())))

    def forget(self, ids: Iterable[int]) -> None:
        with self.lock:
            for series_id in ids:
                labels = self.labels.pop(series_id, None)
                if labels is None:
                    continue
                self.by_fingerprint.pop(fingerprint(labels), None)
                self.by_labels.pop(labels, None)
                same_name = self.by_name.get(metric_name(labels), [])
                if series_id in same_name:
                    same_name.remove(series_id)


class MetricStore:
    """Write and read metric samples; see the module docstring for the layout."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._index = _SeriesIndex()
        self._sqlite_writer = threading.Lock()

    # -- writing -----------------------------------------------------------------------------

    def write(self, batch: Batch) -> WriteReport:
        """Store samples (timestamp in ms, value) per series; blocking.

        A sample whose (series, timestamp) is already in the head is ignored and counted as
        a duplicate, so re-sending a batch is safe (one already compacted is dropped by the
        next compaction).
        """
        pending = [(labels, samples) for labels, samples in batch if samples]
        if not pending:
            return WriteReport(0, 0, 0)
        fresh: list[tuple[int, str, Labels]] = []
        with self._writer(), self.engine.begin() as conn:
            ids, created = self._series_ids(conn, [labels for labels, _ in pending], fresh)
            table = _sample_table(ids, pending)
            inserted = self._insert_samples(conn, table)
        # Only now that the series rows are committed may the index (shared by this
        # process's threads) hand out their ids: a rolled-back id may be reused by SQLite.
        with self._index.lock:
            for sid, fp, labels in fresh:
                self._index.add(sid, fp, labels)
        return WriteReport(inserted, len(table) - inserted, created)

    def _writer(self) -> AbstractContextManager[object]:
        """SQLite takes one writer at a time and makes the others poll for the lock, sleeping
        up to 100 ms between tries: concurrent ingest requests queue here instead, each
        starting the moment the previous one commits. PostgreSQL writes in parallel."""
        return nullcontext() if self._postgres else self._sqlite_writer

    def _series_ids(
        self, conn: Connection, labelsets: list[Labels], fresh: list[tuple[int, str, Labels]]
    ) -> tuple[dict[Labels, int], int]:
        """Map label sets to series ids, creating the missing series (appended to ``fresh``
        for the caller to index once committed). Known label sets are looked up by the tuple
        itself: hashing (a fingerprint) only for new ones."""
        index = self._index
        known = index.by_labels
        ids: dict[Labels, int] = {}
        missing: dict[str, Labels] = {}
        for labels in labelsets:
            sid = known.get(labels)
            if sid is None:
                missing[fingerprint(labels)] = labels
            else:
                ids[labels] = sid
        if not missing:
            return ids, 0
        index.refresh(conn)
        new = {fp: labels for fp, labels in missing.items() if fp not in index.by_fingerprint}
        created = 0
        if new:
            rows = [
                {"fingerprint": fp, "metric": metric_name(labels)[:200], "labels": dict(labels)}
                for fp, labels in new.items()
            ]
            if self._postgres:
                stmt: Any = pg_insert(MetricSeries).on_conflict_do_nothing(
                    index_elements=["fingerprint"]
                )
            else:
                stmt = insert(MetricSeries).prefix_with("OR IGNORE")
            inserted = conn.execute(
                stmt.returning(MetricSeries.id, MetricSeries.fingerprint), rows
            ).all()
            created = len(inserted)
            found = list(inserted)
            if created < len(new):  # another writer created some of them meanwhile
                found += conn.execute(
                    select(MetricSeries.id, MetricSeries.fingerprint).where(
                        MetricSeries.fingerprint.in_(list(new))
                    )
                ).all()
            for sid, fp in found:
                fresh.append((sid, fp, new[fp]))
        found_ids = {fp: sid for sid, fp, _ in fresh}
        for fp, labels in missing.items():
            ids[labels] = found_ids[fp] if fp in found_ids else index.by_fingerprint[fp]
        return ids, created

    def _insert_samples(self, conn: Connection, table: npt.NDArray[np.int64]) -> int:
        """Insert (series_id, ts, bits) rows, skipping those already stored; return how many
        were new."""
        if not self._postgres:
            return _insert_sqlite(conn, table)
        rows = table.tolist()
        # PostgreSQL: COPY into a session-local table, then one INSERT ... ON CONFLICT.
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS wk_ingest "
                "(series_id bigint, ts bigint, bits bigint) ON COMMIT DELETE ROWS"
            )
            with cur.copy("COPY wk_ingest (series_id, ts, bits) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                "INSERT INTO metric_samples (series_id, ts, bits) "
                "SELECT DISTINCT ON (series_id, ts) series_id, ts, bits FROM wk_ingest "
                "ON CONFLICT DO NOTHING"
            )
            inserted = cur.rowcount
            cur.execute("TRUNCATE wk_ingest")
        return max(int(inserted), 0)

    # -- reading -----------------------------------------------------------------------------

    def matching(self, matchers: Sequence[Matcher]) -> dict[int, Labels]:
        """Return the id and labels of every stored series matching all ``matchers``."""
        with self.engine.connect() as conn:
            self._index.refresh(conn)
        index = self._index
        names = [m.value for m in matchers if m.name == METRIC_NAME and m.op == "="]
        with index.lock:
            candidates = list(index.by_name.get(names[0], ())) if names else list(index.labels)
            found = {}
            for sid in candidates:
                labels = index.labels.get(sid)
                if labels is not None and matches_all(dict(labels), matchers):
                    found[sid] = labels
        return found

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[SeriesData]:
        """The ``SeriesSource`` read: matching series with their samples in the range."""
        series = self.matching(matchers)
        if not series:
            return []
        parts: dict[int, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]] = {}
        with self.engine.connect() as conn:
            for ids in id_batches(sorted(series)):
                found = conn.execute(
                    select(MetricChunk.series_id, MetricChunk.data)
                    .where(
                        MetricChunk.series_id.in_(ids),
                        MetricChunk.end_ts >= start_ms,
                        MetricChunk.start_ts <= end_ms,
                    )
                    .order_by(MetricChunk.series_id, MetricChunk.start_ts)
                ).all()
                if found:
                    # Decode the whole batch at once, then cut it per series.
                    ts, values, counts = chunks.decode_all([data for _, data in found])
                    owners = np.fromiter((sid for sid, _ in found), np.int64, len(found))
                    first = np.flatnonzero(np.diff(owners, prepend=owners[0] - 1))
                    ends = np.cumsum(counts)[np.append(first[1:], len(owners)) - 1]
                    begins = np.append(0, ends[:-1])
                    for sid, lo, hi in zip(
                        owners[first].tolist(), begins.tolist(), ends.tolist(), strict=True
                    ):
                        parts[sid] = [(ts[lo:hi], values[lo:hi])]
                head = conn.execute(
                    select(MetricSample.series_id, MetricSample.ts, MetricSample.bits)
                    .where(
                        MetricSample.series_id.in_(ids),
                        MetricSample.ts >= start_ms,
                        MetricSample.ts <= end_ms,
                    )
                    .order_by(MetricSample.series_id, MetricSample.ts)
                ).all()
                for sid, ts_head, bits in split_rows(head):
                    parts.setdefault(sid, []).append((ts_head, bits.view(np.float64)))
            raw: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
            for sid, pieces in parts.items():
                ts, values = merge_pieces(pieces)
                lo = int(np.searchsorted(ts, start_ms, "left"))
                hi = int(np.searchsorted(ts, end_ms, "right"))
                if hi > lo:
                    raw[sid] = ts[lo:hi], values[lo:hi]
            first_raw = {sid: int(raw[sid][0][0]) if sid in raw else None for sid in series}
            older: dict[int, tuple[Any, Any, Any]] = {}
            wanting = sorted(s for s, t in first_raw.items() if needs_rollups(t, start_ms))
            for ids in id_batches(wanting):
                older.update(read_older(conn, {s: first_raw[s] for s in ids}, start_ms, end_ms))
        out = []
        for sid in series:
            if sid in older:
                out.append(_with_older(series[sid], older[sid], raw.get(sid)))
            elif sid in raw:
                out.append(SeriesData(series[sid], *raw[sid]))
        return out

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        names: set[str] = set()
        for labels in self.matching(matchers).values():
            names.update(k for k, _ in labels)
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        values = {dict(labels).get(name, "") for labels in self.matching(matchers).values()}
        values.discard("")
        return sorted(values)

    def counts(self) -> dict[str, int]:
        """Rows per table, for the operations page and the benchmark."""
        with self.engine.connect() as conn:
            return {
                table.__tablename__: conn.scalar(select(func.count()).select_from(table)) or 0
                for table in (MetricSeries, MetricSample, MetricChunk)
            }

    def drop_series(self, conn: Connection, ids: list[int]) -> None:
        for part in id_batches(ids):
            conn.execute(delete(MetricSeries).where(MetricSeries.id.in_(part)))
        self._index.forget(ids)


_SQLITE_ROWS_PER_INSERT = 2048  # 6,144 bound parameters: below SQLite's limit of 32,766


def _sample_table(
    ids: dict[Labels, int], pending: list[tuple[Labels, Sequence[tuple[int, float]]]]
) -> npt.NDArray[np.int64]:
    """The rows to insert, (series_id, ts, value bits) one per sample, built column-wise:
    a remote-write request of thousands of one-sample series must not cost a Python tuple
    per sample and column."""
    counts = [len(samples) for _, samples in pending]
    flat = list(chain.from_iterable(samples for _, samples in pending))
    stamps, values = zip(*flat, strict=True)
    table = np.empty((len(flat), 3), dtype=np.int64)
    table[:, 0] = np.repeat(
        np.array([ids[labels] for labels, _ in pending], dtype=np.int64), counts
    )
    table[:, 1] = np.array(stamps, dtype=np.int64)
    table[:, 2] = np.asarray(values, dtype=np.float64).view(np.int64)
    return table


@cache
def _sqlite_insert(rows: int) -> str:
    return "INSERT OR IGNORE INTO metric_samples (series_id, ts, bits) VALUES " + ",".join(
        ["(?,?,?)"] * rows
    )


def _insert_sqlite(conn: Connection, table: npt.NDArray[np.int64]) -> int:
    """Insert with multi-row statements rather than ``executemany``: SQLite then does the
    work of thousands of rows in one call, which releases Python's GIL once instead of once
    per row (with other request threads busy, each re-acquisition can wait milliseconds).
    Pieces are 2,048 rows or a power of two below, so that a few statement texts cover every
    batch size and stay in the driver's statement cache."""
    params = table.ravel().tolist()
    total, start, inserted = len(table), 0, 0
    cursor = conn.connection.cursor()
    try:
        while start < total:
            left = total - start
            rows = (
                _SQLITE_ROWS_PER_INSERT
                if left >= _SQLITE_ROWS_PER_INSERT
                else 1 << (left.bit_length() - 1)
            )
            cursor.execute(_sqlite_insert(rows), params[3 * start : 3 * (start + rows)])
            inserted += max(cursor.rowcount, 0)
            start += rows
    finally:
        cursor.close()
    return inserted


def _with_older(
    labels: Labels,
    older: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]],
    raw: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None,
) -> SeriesData:
    """A series read from its rollups (``older``, with their spans) followed by raw samples."""
    ts, values, spans = older
    if raw is None:
        return SeriesData(labels, ts, values, spans)
    return SeriesData(
        labels,
        np.concatenate([ts, raw[0]]),
        np.concatenate([values, raw[1]]),
        np.concatenate([spans, np.zeros(len(raw[0]), dtype=np.int64)]),
    )


def id_batches(ids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _IN_LIMIT):
        yield list(ids[i : i + _IN_LIMIT])


def split_rows(
    rows: Sequence[Any],
) -> Iterator[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Split (series_id, ts, bits) rows ordered by series into one array pair per series."""
    if not rows:
        return
    table = np.array(rows, dtype=np.int64)
    sids = table[:, 0]
    starts = np.flatnonzero(np.diff(sids, prepend=sids[0] - 1))
    ends = np.append(starts[1:], len(sids))
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        yield int(sids[lo]), table[lo:hi, 1].copy(), table[lo:hi, 2].copy()


def merge_pieces(
    pieces: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Concatenate chunk and head pieces into one ascending series without duplicates."""
    if len(pieces) == 1:
        return pieces[0]
    ts = np.concatenate([p[0] for p in pieces])
    values = np.concatenate([p[1] for p in pieces])
    if np.all(ts[1:] > ts[:-1]):
        return ts, values
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    keep = np.append(ts[1:] != ts[:-1], True)
    return ts[keep], values[keep]
