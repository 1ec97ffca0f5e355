"""Compaction (head rows into hourly chunks plus rollups) and retention.

Both run as scheduled jobs of ``watchkeeper up`` (``metrics.compact`` every 5 minutes,
``metrics.retention`` hourly). Each works in batches of series, one transaction per batch,
so a large backlog never holds a long lock and a crash loses no sample: a batch's head rows
are deleted in the same transaction that writes its chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, and_, delete, exists, insert, or_, select
from sqlalchemy.orm import Session

from watchkeeper.metrics import chunks
from watchkeeper.metrics.store import MetricStore, id_batches, merge_pieces, split_rows
from watchkeeper.plan.types import parse_duration
from watchkeeper.store.tables import (
    MetricChunk,
    MetricRollup,
    MetricSample,
    MetricSeries,
    StoredObject,
    utcnow,
)

ROLLUP_STEPS_MS = chunks.ROLLUP_STEPS_MS
GRACE_MS = 300_000
"""An hour is compacted once it ended this long ago: late samples still reach the head."""


@dataclass(frozen=True)
class Retention:
    raw: timedelta = timedelta(days=15)
    rollup_5m: timedelta = timedelta(days=90)
    rollup_1h: timedelta = timedelta(days=730)

    @classmethod
    def from_plan(cls, db: Session) -> Retention:
        """The plan's ``metrics.retention``, each period defaulting as above."""
        spec = db.scalar(
            select(StoredObject.spec).where(
                StoredObject.kind == "settings", StoredObject.name == "metrics"
            )
        )
        given = (spec or {}).get("retention") or {}
        defaults = cls()
        return cls(
            **{
                name: parse_duration(given[name]) if given.get(name) else getattr(defaults, name)
                for name in ("raw", "rollup_5m", "rollup_1h")
            }
        )


@dataclass(frozen=True)
class CompactionReport:
    series: int
    chunks: int
    samples: int


def compact(store: MetricStore, now_ms: int, *, batch: int = 1000) -> CompactionReport:
    """Move every complete hour (ended ``GRACE_MS`` ago) from the head into chunks."""
    cutoff = chunks.chunk_start(now_ms - GRACE_MS)
    series = written = samples = 0
    while True:
        with store.engine.begin() as conn:
            ids = list(
                conn.scalars(
                    select(MetricSample.series_id)
                    .where(MetricSample.ts < cutoff)
                    .distinct()
                    .order_by(MetricSample.series_id)
                    .limit(batch)
                )
            )
            if not ids:
                return CompactionReport(series, written, samples)
            # Delete and read in one statement: a late sample committed meanwhile is either
            # taken here or left in the head for the next run, never deleted unread.
            head = sorted(
                conn.execute(
                    delete(MetricSample)
                    .where(MetricSample.series_id.in_(ids), MetricSample.ts < cutoff)
                    .returning(MetricSample.series_id, MetricSample.ts, MetricSample.bits)
                ).all()
            )
            written += _compact_rows(conn, head)
            samples += len(head)
            series += len(ids)


def _compact_rows(conn: Connection, head: Any) -> int:
    """Write the chunks and rollups of the given head rows; return the number of chunks."""
    windows: dict[tuple[int, int], tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
    for sid, ts, bits in split_rows(head):
        hours = ts - ts % chunks.CHUNK_MS
        bounds = np.flatnonzero(np.diff(hours, prepend=hours[0] - 1)).tolist() + [len(ts)]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            windows[(sid, int(hours[lo]))] = (ts[lo:hi], bits[lo:hi].view(np.float64))
    keys = list(windows)
    for part in id_batches(sorted({sid for sid, _ in keys})):
        starts = sorted({start for sid, start in keys if sid in set(part)})
        for sid, start, data in conn.execute(
            select(MetricChunk.series_id, MetricChunk.start_ts, MetricChunk.data).where(
                MetricChunk.series_id.in_(part), MetricChunk.start_ts.in_(starts)
            )
        ):
            late = windows.get((sid, start))
            if late is not None:  # late samples for an hour already compacted
                windows[(sid, start)] = merge_pieces([late, chunks.decode(data)])
        conn.execute(
            delete(MetricChunk).where(
                MetricChunk.series_id.in_(part), MetricChunk.start_ts.in_(starts)
            )
        )
        for step in ROLLUP_STEPS_MS:
            conn.execute(
                delete(MetricRollup).where(
                    MetricRollup.series_id.in_(part),
                    MetricRollup.step == step,
                    or_(
                        *(
                            and_(MetricRollup.ts >= s, MetricRollup.ts < s + chunks.CHUNK_MS)
                            for s in starts
                        )
                    ),
                )
            )
    chunk_rows = []
    rollup_rows: list[dict[str, Any]] = []
    for (sid, start), (ts, values) in windows.items():
        chunk_rows.append(
            {
                "series_id": sid,
                "start_ts": start,
                "end_ts": int(ts[-1]),
                "count": len(ts),
                "data": chunks.encode(ts, values),
            }
        )
        for step in ROLLUP_STEPS_MS:
            rollup_rows.extend(rollups(sid, step, ts, values))
    if chunk_rows:
        conn.execute(insert(MetricChunk), chunk_rows)
    if rollup_rows:
        conn.execute(insert(MetricRollup), rollup_rows)
    return len(chunk_rows)


def rollups(
    series_id: int, step: int, ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> list[dict[str, Any]]:
    """Min, max, sum, count and last of the non-NaN values in each ``step`` bucket."""
    real = ~np.isnan(values)
    ts, values = ts[real], values[real]
    if not len(ts):
        return []
    buckets = ts - ts % step
    starts = np.flatnonzero(np.diff(buckets, prepend=buckets[0] - 1))
    ends = np.append(starts[1:], len(ts))
    mins = np.minimum.reduceat(values, starts)
    maxs = np.maximum.reduceat(values, starts)
    sums = np.add.reduceat(values, starts)
    return [
        {
            "series_id": series_id,
            "step": step,
            "ts": int(buckets[lo]),
            "min": float(mins[i]),
            "max": float(maxs[i]),
            "sum": float(sums[i]),
            "count": int(hi - lo),
            "last": float(values[hi - 1]),
        }
        for i, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True))
    ]


@dataclass(frozen=True)
class RetentionReport:
    chunks: int
    samples: int
    rollups: int
    series: int


def enforce_retention(store: MetricStore, now_ms: int, retention: Retention) -> RetentionReport:
    """Delete raw data, rollups and series older than the retention allows."""
    raw_before = now_ms - int(retention.raw.total_seconds() * 1000)
    with store.engine.begin() as conn:
        chunk_count = conn.execute(
            delete(MetricChunk).where(MetricChunk.end_ts < raw_before)
        ).rowcount
        sample_count = conn.execute(
            delete(MetricSample).where(MetricSample.ts < raw_before)
        ).rowcount
        rollup_count = 0
        for step, keep in (
            (ROLLUP_STEPS_MS[0], retention.rollup_5m),
            (ROLLUP_STEPS_MS[1], retention.rollup_1h),
        ):
            rollup_count += conn.execute(
                delete(MetricRollup).where(
                    MetricRollup.step == step,
                    MetricRollup.ts < now_ms - int(keep.total_seconds() * 1000),
                )
            ).rowcount
        empty = list(
            conn.scalars(
                select(MetricSeries.id).where(
                    ~exists().where(MetricSample.series_id == MetricSeries.id),
                    ~exists().where(MetricChunk.series_id == MetricSeries.id),
                    ~exists().where(MetricRollup.series_id == MetricSeries.id),
                    MetricSeries.created_at < utcnow() - retention.raw,
                )
            )
        )
        # Only series older than the raw retention: a series just created by a write that
        # has not committed its samples yet has none either.
        store.drop_series(conn, empty)
    return RetentionReport(chunk_count, sample_count, rollup_count, len(empty))
