"""One health collection of one database, and what is kept of it.

:func:`collect` runs the type's collector under an overall time limit and never raises;
:func:`store` keeps the outcome: the ``db_health`` row (the latest good collection, with
the failures since), the statement texts in ``db_query_texts``, and the samples in the
metrics store as ``watchkeeper_db_<name>{database=...}`` series. The service calls both on
schedule; ``watchkeeper db collect`` and the API's "collect now" call them on demand, from
any replica (a collection only reads the database).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.dbmaint import advisor
from watchkeeper.dbmaint.config import DatabaseConfig
from watchkeeper.dbmaint.interface import Collection, DbError, Sample
from watchkeeper.dbmaint.registry import database_type
from watchkeeper.metrics.labels import LABEL_RE, METRIC_NAME, NAME_RE, Labels, make_labels
from watchkeeper.metrics.store import MetricStore
from watchkeeper.store.tables import DbHealth, DbQueryText, utcnow
from watchkeeper.telemetry import DBMAINT_COLLECTION_DURATION, DBMAINT_COLLECTIONS

log = logging.getLogger(__name__)

PREFIX = "watchkeeper_db_"
MAX_QUERY_TEXT = 20_000


def time_limit(target: DatabaseConfig) -> float:
    """How long one whole collection may take, seconds: three statement timeouts (a
    collection runs several statements, each under ``collect_timeout``), at least 10 s."""
    return max(3 * target.collect_timeout.total_seconds(), 10.0)


@dataclass
class Outcome:
    """What one collection attempt gave: the collection, or the reason it failed."""

    database: str
    type: str
    at: datetime
    duration_s: float
    collection: Collection | None = None
    error: str = ""
    score: int = 100
    findings: list[dict[str, object]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.collection is not None


async def collect(
    target: DatabaseConfig,
    *,
    limit: float | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Outcome:
    """Collect ``target``'s health within ``limit`` seconds (default :func:`time_limit`);
    return the outcome, failed with a one-line reason when the database cannot be read or
    the limit passes (never raises, but for cancellation)."""
    at = clock()
    started = time.monotonic()
    seconds = time_limit(target) if limit is None else limit
    outcome = Outcome(target.name, target.type, at, 0.0)
    try:
        outcome.collection = await asyncio.wait_for(database_type(target).collect(target), seconds)
    except TimeoutError:
        outcome.error = f"the collection did not finish within {seconds:g} s"
    except DbError as exc:
        outcome.error = str(exc) or type(exc).__name__
    except (ImportError, AttributeError):
        log.exception("dbmaint: no collector for %s databases", target.type)
        outcome.error = f"no health collector for {target.type} databases is installed"
    except Exception as exc:  # a collector bug must not stop the others
        log.exception("dbmaint: collecting %s failed", target.name)
        outcome.error = f"internal error while collecting ({type(exc).__name__}); see the log"
    outcome.duration_s = time.monotonic() - started
    status = "ok" if outcome.ok else "failed"
    DBMAINT_COLLECTIONS.labels(target.name, status).inc()
    DBMAINT_COLLECTION_DURATION.labels(target.name).observe(outcome.duration_s)
    if not outcome.ok:
        log.warning("dbmaint: collecting %s failed: %s", target.name, outcome.error)
    return outcome


def _record(db: Session, outcome: Outcome) -> DbHealth:
    row = db.get(DbHealth, outcome.database)
    if row is None:
        row = DbHealth(database=outcome.database, failures=0, details={}, findings=[])
        db.add(row)
    row.type, row.collected_at, row.duration_s = outcome.type, outcome.at, outcome.duration_s
    found = outcome.collection
    if found is None:
        row.ok, row.error = False, outcome.error[:4000]
        row.failures = (row.failures or 0) + 1
    else:
        row.ok, row.error, row.failures, row.last_ok_at = True, "", 0, outcome.at
        row.queries, row.size_bytes = found.queries, int(found.size_bytes)
        row.details = found.details
        row.findings = [f.as_json() for f in found.findings]
        _statements(db, outcome.database, found.statements, outcome.at)
    dismissed = {d.key: d for d in advisor.dismissals_of(db, outcome.database).values()}
    row.score = advisor.score(row.findings or [], dismissed, outcome.at)
    outcome.score, outcome.findings = row.score, list(row.findings or [])
    return row


def _statements(db: Session, database: str, texts: dict[str, str], at: datetime) -> None:
    if not texts:
        return
    ids = [queryid[:64] for queryid in texts]
    known: dict[str, DbQueryText] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        for row in db.scalars(
            select(DbQueryText).where(
                DbQueryText.database == database, DbQueryText.queryid.in_(part)
            )
        ):
            known[row.queryid] = row
    for queryid, text in texts.items():
        text = text[:MAX_QUERY_TEXT]
        seen = known.get(queryid[:64])
        if seen is None:
            db.add(
                DbQueryText(
                    database=database, queryid=queryid[:64], query=text, first_seen=at, last_seen=at
                )
            )
        else:
            seen.query, seen.last_seen = text, at


def record(db: Session, outcome: Outcome) -> DbHealth:
    """Keep ``outcome`` in ``db_health`` and ``db_query_texts`` and commit; a failed
    collection keeps the last good details and findings and counts the failure. Another
    process recording the same database at once costs one retry."""
    for attempt in (1, 2):
        try:
            row = _record(db, outcome)
            db.commit()
            return row
        except IntegrityError:
            db.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _labels(database: str, sample: Sample) -> Labels | None:
    name = PREFIX + sample.name
    if not NAME_RE.match(name) or not all(LABEL_RE.match(k) for k in sample.labels):
        return None
    return make_labels(
        {**{k: str(v) for k, v in sample.labels.items()}, METRIC_NAME: name, "database": database}
    )


def own_samples(outcome: Outcome) -> list[Sample]:
    """What the service adds to a collection's samples: ``up``, the collection's duration
    and, when it worked, ``health_score`` and the ``findings`` per severity."""
    out = [
        Sample("up", 1.0 if outcome.ok else 0.0),
        Sample("collection_duration_seconds", outcome.duration_s),
    ]
    if outcome.ok:
        out.append(Sample("health_score", float(outcome.score)))
        for severity in ("critical", "warning", "info"):
            count = sum(1 for f in outcome.findings if f.get("severity") == severity)
            out.append(Sample("findings", float(count), {"severity": severity}))
    return out


def write_samples(metrics: MetricStore, outcome: Outcome) -> int:
    """Write the collection's samples and :func:`own_samples` at the collection's time;
    return how many series were written (samples with invalid names are dropped)."""
    ts = int(outcome.at.timestamp() * 1000)
    samples = [*(outcome.collection.samples if outcome.collection else []), *own_samples(outcome)]
    batch: dict[Labels, list[tuple[int, float]]] = {}
    dropped = 0
    for sample in samples:
        labels = _labels(outcome.database, sample)
        if labels is None:
            dropped += 1
            continue
        batch[labels] = [(ts, float(sample.value))]
    if dropped:
        log.warning("dbmaint: %d sample(s) of %s had invalid names", dropped, outcome.database)
    metrics.write(batch.items())
    return len(batch)


async def collect_and_store(
    sessions: Callable[[], Session],
    metrics: MetricStore,
    target: DatabaseConfig,
    *,
    limit: float | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Outcome:
    """Collect ``target`` (see :func:`collect`), record it and write its samples."""
    outcome = await collect(target, limit=limit, clock=clock)

    def keep() -> None:
        with sessions() as db:
            record(db, outcome)
        write_samples(metrics, outcome)

    await asyncio.to_thread(keep)
    return outcome


def due(health: DbHealth | None, target: DatabaseConfig, now: datetime) -> bool:
    """True when ``target`` has not been collected within its ``collect_interval``."""
    if health is None:
        return True
    return now - health.collected_at >= target.collect_interval - timedelta(seconds=0.5)
