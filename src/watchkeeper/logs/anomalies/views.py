"""What the anomalies page and API show: new templates (newest first), then templates whose
last judged hour was out of range, each with example lines and its hourly counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.logs.anomalies.service import NEW_FOR
from watchkeeper.store.tables import LogTemplate, LogTemplateHour, LogTemplateScope

SPARK_HOURS = 48
LIMIT = 200


@dataclass(frozen=True)
class Anomaly:
    id: int
    kind: str  # new | rate
    scope: str
    template: str
    first_seen: datetime
    last_seen: datetime
    count: int
    examples: list[str]
    hours: list[int]  # counts of the last SPARK_HOURS hours, oldest first
    rate: dict[str, object] | None
    search: str  # a log query finding the template's lines

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "stream": self.scope,
            "template": self.template,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "count": self.count,
            "examples": self.examples,
            "hourly_counts": self.hours,
            "rate": self.rate,
            "search": self.search,
        }


def search_query(scope: str, template: str) -> str:
    """Return a log query for the lines of ``template``: its stream, and its longest
    literal run of words (placeholders left out) as a line filter."""
    words: list[list[str]] = [[]]
    for token in template.split():
        if "<" in token and ">" in token:
            words.append([])
        else:
            words[-1].append(token)
    literal = max((" ".join(run) for run in words), key=len, default="")
    if not literal:
        return scope
    escaped = literal.replace("\\", "\\\\").replace('"', '\\"')
    return f'{scope} |= "{escaped}"'


def anomalies(
    db: Session, now: datetime, new_for: timedelta = NEW_FOR, limit: int = LIMIT
) -> list[Anomaly]:
    """Return the new templates (first seen within ``new_for``, newest first), then the
    rate anomalies (largest departure first)."""
    since = now - new_for
    new_rows = list(
        db.execute(
            select(LogTemplate, LogTemplateScope.scope)
            .join(LogTemplateScope, LogTemplateScope.id == LogTemplate.scope_id)
            .where(LogTemplate.new.is_(True), LogTemplate.first_seen >= since)
            .order_by(LogTemplate.first_seen.desc())
            .limit(limit)
        )
    )
    rate_rows = list(
        db.execute(
            select(LogTemplate, LogTemplateScope.scope)
            .join(LogTemplateScope, LogTemplateScope.id == LogTemplate.scope_id)
            .where(LogTemplate.anomaly.is_not(None))
            .limit(limit)
        )
    )
    rate_rows = [r for r in rate_rows if r[0].anomaly]  # JSON null on some dialects
    rate_rows.sort(key=lambda r: -_departure(r[0].anomaly or {}))
    last_hour = int(now.timestamp() // 3600)
    first_hour = last_hour - SPARK_HOURS + 1
    ids = [t.id for t, _ in new_rows + rate_rows]
    hours: dict[int, dict[int, int]] = {}
    if ids:
        for template_id, hour, count in db.execute(
            select(LogTemplateHour.template_id, LogTemplateHour.hour, LogTemplateHour.count).where(
                LogTemplateHour.template_id.in_(ids), LogTemplateHour.hour >= first_hour
            )
        ):
            hours.setdefault(template_id, {})[hour] = count

    def make(template: LogTemplate, scope: str, kind: str) -> Anomaly:
        by_hour = hours.get(template.id, {})
        return Anomaly(
            id=template.id,
            kind=kind,
            scope=scope,
            template=template.template,
            first_seen=template.first_seen,
            last_seen=template.last_seen,
            count=template.count,
            examples=list(template.examples),
            hours=[by_hour.get(h, 0) for h in range(first_hour, last_hour + 1)],
            rate=template.anomaly,
            search=search_query(scope, template.template),
        )

    return [make(t, s, "new") for t, s in new_rows] + [make(t, s, "rate") for t, s in rate_rows]


def _departure(anomaly: dict[str, object]) -> float:
    count = float(anomaly.get("count", 0))  # type: ignore[arg-type]
    median = float(anomaly.get("median", 0))  # type: ignore[arg-type]
    return abs(count - median) / max(median, 1.0)
