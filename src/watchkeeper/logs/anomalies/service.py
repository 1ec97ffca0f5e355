"""The template-mining job: one active instance per cluster reads the log store from its
checkpoint, mines the new lines into templates per scope, counts them per hour, and once
an hour judges the last complete hour's rates; it raises and resolves the internal alerts
``LogTemplateNew`` and ``LogTemplateRateAnomaly``.

A scope is a stream's labels without ``level`` (a stream's warnings and errors are mined
together). Lines are read by event time up to ``LAG`` seconds ago; a line that arrives with
an event time before the checkpoint is not mined. The leader reads the log store of its
own replica (each replica keeps its own, docs/logs-storage.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.alerts.internal import raise_internal, resolve_internal
from watchkeeper.logs.anomalies.baseline import BASELINE_DAYS, judge
from watchkeeper.logs.anomalies.miner import load_miner, mine, save_miner
from watchkeeper.logs.model import Labels, LogLine
from watchkeeper.logs.selector import quote
from watchkeeper.logs.store import LogStore
from watchkeeper.runtime.periodic import Periodic, PeriodicService
from watchkeeper.store.tables import (
    LogTemplate,
    LogTemplateCheckpoint,
    LogTemplateHour,
    LogTemplateScope,
)

log = logging.getLogger(__name__)
LAG = 60.0
"""Seconds behind the present the miner reads (lines still arriving)."""
FIRST_READ = 3600.0
"""How far back the very first pass reads."""
MAX_SPAN = 3600.0
"""Seconds of logs mined and committed at a time (a backlog is read piece by piece)."""
LEARNING = timedelta(hours=24)
"""After a scope is first mined, templates found within this time are not "new"."""
NEW_FOR = timedelta(hours=24)
"""How long a new template is listed as new (and its alert fires)."""
EXAMPLES = 3
INTERVAL = 60.0
NEW_ALERT = "LogTemplateNew"
RATE_ALERT = "LogTemplateRateAnomaly"


def scope_of(labels: Labels) -> str:
    """Return the scope of a stream: the selector of its labels without ``level``."""
    return "{" + ",".join(f"{k}={quote(v)}" for k, v in labels if k != "level") + "}"


@dataclass
class _Seen:
    first: int
    last: int
    count: int = 0
    examples: list[str] = field(default_factory=list)
    hours: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PassReport:
    lines: int
    new_templates: int
    judged_hour: int | None


class TemplateMining(PeriodicService):
    """Mine templates and judge their rates; ``clock`` (Unix seconds) is the time."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: Callable[[], LogStore],
        *,
        clock: Callable[[], float] = time.time,
        learning: timedelta = LEARNING,
        new_for: timedelta = NEW_FOR,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._clock = clock
        self.learning = learning
        self.new_for = new_for
        self._loop = Periodic(
            "log anomalies",
            self._pass,
            INTERVAL,
            log=log,
            store_operation="log_anomalies",
            start_delay=30.0,
        )

    async def _pass(self) -> None:
        await asyncio.to_thread(self.run_pass)

    def run_pass(self) -> PassReport:
        """Mine what arrived since the checkpoint, judge the last complete hour once,
        raise and resolve alerts; commit."""
        now = self._clock()
        with self._sessions() as db:
            checkpoint = db.get(LogTemplateCheckpoint, 1)
            if checkpoint is None:
                start = int((now - LAG - FIRST_READ) * 1e9)
                checkpoint = LogTemplateCheckpoint(id=1, read_to=start, evaluated_hour=0)
                db.add(checkpoint)
            end = int((now - LAG) * 1e9)
            lines = made = 0
            # In pieces of at most MAX_SPAN, each committed: after a long outage the backlog
            # is never held in memory at once, and what was mined stays mined.
            while end > checkpoint.read_to:
                piece = min(end, checkpoint.read_to + int(MAX_SPAN * 1e9))
                got, new = self._mine(db, checkpoint.read_to + 1, piece, now)
                lines, made = lines + got, made + new
                checkpoint.read_to = piece
                db.commit()
            hour = int(now // 3600) - 1
            judged = None
            if checkpoint.evaluated_hour < hour:
                self._judge(db, hour, now)
                checkpoint.evaluated_hour = hour
                judged = hour
            self._new_alerts(db, now)
            db.commit()
        return PassReport(lines, made, judged)

    # --- mining -----------------------------------------------------------------------------

    def _mine(self, db: Session, start: int, end: int, now: float) -> tuple[int, int]:
        per_scope: dict[str, list[LogLine]] = {}
        for line in self._store().scan((), start, end, direction="forward"):
            per_scope.setdefault(scope_of(line.labels), []).append(line)
        total = made = 0
        for scope, lines in per_scope.items():
            total += len(lines)
            made += self._mine_scope(db, scope, lines, now)
        return total, made

    def _mine_scope(self, db: Session, scope: str, lines: list[LogLine], now: float) -> int:
        row = db.scalar(select(LogTemplateScope).where(LogTemplateScope.scope == scope))
        first_line = datetime.fromtimestamp(lines[0].ts / 1e9, UTC)
        if row is None:
            row = LogTemplateScope(scope=scope, state=b"", first_seen=first_line, lines=0)
            db.add(row)
            db.flush()
        miner = load_miner(row.state)
        seen: dict[int, _Seen] = {}
        texts: dict[int, str] = {}
        for line in lines:
            cluster, template = mine(miner, line.message)
            texts[cluster] = template
            entry = seen.get(cluster)
            if entry is None:
                entry = seen[cluster] = _Seen(line.ts, line.ts)
            entry.last = line.ts
            entry.count += 1
            if len(entry.examples) < EXAMPLES:
                entry.examples.append(line.message[:1000])
            hour = line.ts // 3_600_000_000_000
            entry.hours[hour] = entry.hours.get(hour, 0) + 1
        row.state = save_miner(miner)
        row.lines += len(lines)
        existing = {
            t.cluster: t
            for t in db.scalars(
                select(LogTemplate).where(
                    LogTemplate.scope_id == row.id, LogTemplate.cluster.in_(list(seen))
                )
            )
        }
        learned_by = row.first_seen + self.learning
        made = 0
        for cluster, entry in seen.items():
            first = datetime.fromtimestamp(entry.first / 1e9, UTC)
            last = datetime.fromtimestamp(entry.last / 1e9, UTC)
            found = existing.get(cluster)
            if found is None:
                found = LogTemplate(
                    scope_id=row.id,
                    cluster=cluster,
                    template=texts[cluster],
                    first_seen=first,
                    last_seen=last,
                    count=0,
                    new=first >= learned_by,
                    examples=entry.examples,
                )
                db.add(found)
                db.flush()
                made += 1
            else:
                found.template = texts[cluster]  # Drain generalises as it learns
                found.last_seen = max(found.last_seen, last)
                if len(found.examples) < EXAMPLES:
                    found.examples = (found.examples + entry.examples)[:EXAMPLES]
            found.count += entry.count
            self._add_hours(db, found.id, entry.hours)
        return made

    @staticmethod
    def _add_hours(db: Session, template_id: int, hours: dict[int, int]) -> None:
        rows = {
            h.hour: h
            for h in db.scalars(
                select(LogTemplateHour).where(
                    LogTemplateHour.template_id == template_id,
                    LogTemplateHour.hour.in_(list(hours)),
                )
            )
        }
        for hour, count in hours.items():
            if hour in rows:
                rows[hour].count += count
            else:
                db.add(LogTemplateHour(template_id=template_id, hour=hour, count=count))

    # --- judging ----------------------------------------------------------------------------

    def _judge(self, db: Session, hour: int, now: float) -> None:
        """Judge every template's count in ``hour`` against the same hour on earlier days;
        drop the hourly counts no judgement or chart needs any more (older than the baseline
        and a day)."""
        at = datetime.fromtimestamp(now, UTC)
        db.execute(
            delete(LogTemplateHour).where(LogTemplateHour.hour < hour - 24 * (BASELINE_DAYS + 2))
        )
        wanted = [hour - 24 * k for k in range(BASELINE_DAYS + 1)]
        counts: dict[int, dict[int, int]] = {}
        for template_id, h, count in db.execute(
            select(LogTemplateHour.template_id, LogTemplateHour.hour, LogTemplateHour.count).where(
                LogTemplateHour.hour.in_(wanted)
            )
        ):
            counts.setdefault(template_id, {})[h] = count
        scopes = {s.id: s for s in db.scalars(select(LogTemplateScope))}
        for template in db.scalars(select(LogTemplate)):
            scope = scopes[template.scope_id]
            mined_from = int(scope.first_seen.timestamp() // 3600)
            by_hour = counts.get(template.id, {})
            history = [by_hour.get(h, 0) for h in wanted[1:] if h >= mined_from]
            verdict = judge(by_hour.get(hour, 0), history)
            labels = {"severity": "warning", "stream": scope.scope, "template": str(template.id)}
            if verdict is None:
                if template.anomaly is not None:
                    template.anomaly = None
                    resolve_internal(db, RATE_ALERT, labels, at)
                continue
            template.anomaly = {
                "hour": hour,
                "direction": verdict.direction,
                "count": verdict.count,
                "median": verdict.median,
                "expected_low": round(verdict.expected_low, 1),
                "expected_high": round(verdict.expected_high, 1),
            }
            summary = (
                f"{verdict.count} lines of a log template of {scope.scope} in the hour from "
                f"{datetime.fromtimestamp(hour * 3600, UTC):%Y-%m-%d %H:00} UTC; usually "
                f"{verdict.expected_low:.0f}-{verdict.expected_high:.0f} at that hour: "
                f"{template.template[:200]}"
            )
            raise_internal(db, RATE_ALERT, labels, {"summary": summary}, at)

    def _new_alerts(self, db: Session, now: float) -> None:
        at = datetime.fromtimestamp(now, UTC)
        since = at - self.new_for
        rows = db.execute(
            select(LogTemplate, LogTemplateScope.scope)
            .join(LogTemplateScope, LogTemplateScope.id == LogTemplate.scope_id)
            .where(LogTemplate.new.is_(True), LogTemplate.first_seen >= since - timedelta(days=1))
        )
        for template, scope in rows:
            labels = {"severity": "warning", "stream": scope, "template": str(template.id)}
            if template.first_seen >= since:
                summary = f"New log template in {scope}: {template.template[:200]}"
                raise_internal(db, NEW_ALERT, labels, {"summary": summary}, at)
            else:
                resolve_internal(db, NEW_ALERT, labels, at)
