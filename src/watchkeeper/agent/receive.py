"""The server's side of an agent push: check names, store the samples, record the host.

Runs on any replica (nothing is kept in process memory). A series with a bad metric or
label name is refused and reported while the rest of the batch is stored: the agent drops
a batch the server refuses outright, so one bad series must not cost the good ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.agent.wire import AgentPush, PushResult
from watchkeeper.metrics.labels import LABEL_RE, METRIC_NAME, NAME_RE, Labels, make_labels
from watchkeeper.metrics.store import MetricStore
from watchkeeper.store.tables import Host, utcnow


@dataclass(frozen=True)
class Prepared:
    """A push turned into what the store takes, and the series refused on the way."""

    batch: dict[Labels, list[tuple[int, float]]]
    rejected: list[dict[str, str]]


def _label_problem(name: str) -> str | None:
    if not LABEL_RE.fullmatch(name):
        return f'"{name[:80]}" is not a label name (letters, digits and "_")'
    if name.startswith("__"):
        return f'"{name[:80]}": label names starting with "__" are reserved'
    return None


def prepare(push: AgentPush) -> Prepared:
    """Return the push's series as store label sets (top-level labels added, a series' own
    winning), merging series sent twice; refuse and report those with bad names."""
    rejected: list[dict[str, str]] = []
    common_bad = {k: p for k in push.labels if (p := _label_problem(k))}
    for key, message in common_bad.items():
        rejected.append({"field": f"labels.{key}", "message": message})
    batch: dict[Labels, list[tuple[int, float]]] = {}
    for i, series in enumerate(push.series):
        where = f"series[{i}]"
        if not NAME_RE.fullmatch(series.name):
            message = f'"{series.name[:80]}" is not a metric name (letters, digits, "_", ":")'
            rejected.append({"field": f"{where}.name", "message": message})
            continue
        bad = [(k, p) for k in series.labels if (p := _label_problem(k))]
        if bad:
            key, message = bad[0]
            rejected.append({"field": f"{where}.labels.{key}", "message": message})
            continue
        merged = {k: v for k, v in push.labels.items() if k not in common_bad}
        merged.update(series.labels)
        merged[METRIC_NAME] = series.name
        batch.setdefault(make_labels(merged), []).extend(series.samples)
    return Prepared(batch, rejected)


def record_host(db: Session, push: AgentPush) -> None:
    """Create or update the host's row: last seen now, agent version, inventory when sent.
    Commits; a concurrent first push of the same host (another replica) becomes an update."""
    try:
        _upsert_host(db, push)
        db.commit()
    except IntegrityError:
        db.rollback()
        _upsert_host(db, push)
        db.commit()


def _upsert_host(db: Session, push: AgentPush) -> None:
    host = db.get(Host, push.host)
    now = utcnow()
    if host is None:
        host = Host(name=push.host, first_seen=now, inventory=push.inventory or {})
        db.add(host)
    elif push.inventory is not None:
        host.inventory = push.inventory
    host.last_seen = now
    host.agent_version = push.agent_version
    db.flush()


def receive(sessions: Callable[[], Session], store: MetricStore, push: AgentPush) -> PushResult:
    """Store a push's samples and record its host; return what was stored and refused.

    Blocking (store I/O): call it from a thread."""
    prepared = prepare(push)
    report = store.write(prepared.batch.items())
    with sessions() as db:
        record_host(db, push)
    return PushResult(
        accepted=report.accepted,
        duplicates=report.duplicates,
        series_created=report.series_created,
        rejected=prepared.rejected,
    )
