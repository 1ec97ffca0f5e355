"""What the database pages show, computed from :mod:`watchkeeper.dbmaint.views`: figures
formatted for people, the overview's headline figures, the size chart (history, forecast
and band) and the query chart as JSON columns, and the rows of the tables, indexes and
queries tabs with the findings about each object, sorted as asked."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from markupsafe import Markup, escape

from watchkeeper.dbmaint import advisor, capacity, views
from watchkeeper.dbmaint.collection import PREFIX
from watchkeeper.dbmaint.config import DatabaseConfig
from watchkeeper.metrics.labels import METRIC_NAME, STALE_NAN_BITS, Matcher
from watchkeeper.metrics.source import SeriesSource
from watchkeeper.web.hosts import human_bytes
from watchkeeper.web.timefmt import span

QUERY_CHART_TOP = 5
CHART_MIN_HORIZON = timedelta(days=14)
SPARK_W, SPARK_H = 96, 20
TABLE_FLAGS = ("vacuum", "analyze", "table_bloat", "missing_index", "fragmentation")
INDEX_FLAGS = {
    "unused_index": "unused",
    "duplicate_index": "duplicate",
    "invalid_index": "invalid",
    "index_bloat": "bloated",
}


# -- formatting -------------------------------------------------------------------------------


def number(value: Any) -> float | None:
    """``value`` as a float when it is a number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def count(value: Any) -> str:
    """A count with thousands separators ("12,345"); "–" when unknown."""
    n = number(value)
    return "–" if n is None else f"{n:,.0f}"


def millis(value: Any) -> str:
    """A time in milliseconds for people: "0.12 ms", "35 ms", "1.5 s", "2 h 5 min"."""
    ms = number(value)
    if ms is None:
        return "–"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s" if ms < 60_000 else span(ms / 1000)


def percent(value: Any, digits: int = 1) -> str:
    """A ratio (0..1) as a percentage; "–" when unknown."""
    ratio = number(value)
    return "–" if ratio is None else f"{ratio * 100:.{digits}f}%"


def seconds(value: Any) -> str:
    s = number(value)
    return "–" if s is None else f"{s:.1f} s" if s < 10 else span(s)


def growth(per_day: float | None) -> str:
    """Growth per day, signed: "+1.2 MiB/day"; "–" when unknown."""
    if per_day is None:
        return "–"
    sign = "−" if per_day < 0 else "+"
    return f"{sign}{human_bytes(abs(per_day))}/day"


def figure(name: str, value: float | None) -> str:
    """A maintenance figure (``size_bytes``, ``dead_tuples``, ``bloat_bytes``, ...)."""
    if value is None:
        return "–"
    return human_bytes(value) if name.endswith("_bytes") else count(value)


def parse_time(value: Any) -> datetime | None:
    """An ISO time from a collection (None, or unreadable, gives None)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def score_class(score: int | None) -> str:
    """The colour of a health score badge: good (90+), fair (70+), poor, none."""
    if score is None:
        return "none"
    return "good" if score >= 90 else "fair" if score >= 70 else "poor"


def spark(values: Sequence[float | None], label: str) -> Markup:
    """A small line of ``values`` (gaps at None) for a table cell."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return Markup('<span class="muted">–</span>')
    top = max(known) or 1.0
    step = SPARK_W / max(len(values) - 1, 1)
    runs: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
        else:
            runs[-1].append(f"{i * step:.1f},{SPARK_H - 1 - (SPARK_H - 2) * v / top:.1f}")
    lines = "".join(f'<polyline points="{" ".join(r)}"/>' for r in runs if len(r) > 1)
    return Markup(
        f'<svg class="sparkline" width="{SPARK_W}" height="{SPARK_H}" '
        f'viewBox="0 0 {SPARK_W} {SPARK_H}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{lines}</svg>"
    )


def as_json(data: Any) -> Markup:
    """``data`` as JSON for a ``<script type="application/json">`` element."""
    # "</" would end the script element early; "<\/" is the same JSON string.
    return Markup(json.dumps(data).replace("</", "<\\/"))


HELPERS: dict[str, Any] = {
    "human_bytes": human_bytes,
    "count": count,
    "millis": millis,
    "percent": percent,
    "seconds": seconds,
    "growth": growth,
    "figure": figure,
    "parse_time": parse_time,
    "score_class": score_class,
    "number": number,
}


# -- one database ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """One headline figure of the overview: its value and how it stands (ok, warn, err)."""

    label: str
    value: str
    state: str = ""
    note: str = ""
    ratio: float | None = None  # drawn as a meter when set


def _state(bad: bool, worse: bool = False) -> str:
    return "err" if worse else "warn" if bad else "ok"


def _lag(replication: Any) -> float | None:
    """The largest replication lag (seconds) the collection saw, None without replicas."""
    if not isinstance(replication, dict):
        return None
    lags = [number(replication.get("standby_lag_seconds"))]
    for r in replication.get("replicas") or []:
        if isinstance(r, dict):
            lags.append(number(r.get("replay_lag_s")))
    for c in replication.get("channels") or []:
        if isinstance(c, dict):
            lags.append(number(c.get("lag_seconds")))
    known = [lag for lag in lags if lag is not None]
    return max(known) if known else None


def headlines(detail: views.DatabaseDetail, target: DatabaseConfig) -> list[Headline]:
    """The overview's headline figures for the database's type."""
    s = detail.details.get("summary")
    s = s if isinstance(s, dict) else {}
    th = target.thresholds
    out: list[Headline] = []
    if target.type == "sqlite":
        integrity = str(s.get("integrity", "not checked"))
        out.append(Headline("Integrity check", integrity, _state(False, integrity == "failed")))
        free = number(s.get("freelist_ratio"))
        out.append(
            Headline(
                "Free pages",
                human_bytes(number(s.get("freelist_bytes"))),
                _state((free or 0) >= 0.2),
                f"{percent(free)} of the file",
            )
        )
        out.append(Headline("WAL file", human_bytes(number(s.get("wal_bytes")))))
        return out
    used, most = number(s.get("connections")), number(s.get("max_connections"))
    if used is not None and most:
        ratio = used / most
        out.append(
            Headline(
                "Connections",
                f"{count(used)} of {count(most)}",
                _state(ratio >= th.connections_ratio, ratio >= 0.95),
                percent(ratio, 0) + " in use",
                ratio,
            )
        )
    hit = number(s.get("cache_hit_ratio", s.get("buffer_pool_hit_ratio")))
    label = "Cache hit ratio" if "cache_hit_ratio" in s else "Buffer pool hit ratio"
    out.append(
        Headline(label, percent(hit, 2), "" if hit is None else _state(hit < th.cache_hit_ratio))
    )
    if target.type == "postgres":
        xid = number(s.get("xid_age_ratio"))
        limit = detail.settings.get("autovacuum_freeze_max_age")
        freeze = count(float(str(limit))) if str(limit).isdigit() else "the limit"
        out.append(
            Headline(
                "Transaction ID age",
                percent(xid),
                "" if xid is None else _state(xid >= th.wraparound_ratio, xid >= 0.9),
                f"{count(s.get('xid_age'))} of {freeze} (autovacuum_freeze_max_age)",
                xid,
            )
        )
    lag = _lag(detail.replication)
    out.append(
        Headline(
            "Replication lag",
            "no replicas" if lag is None else seconds(lag),
            "" if lag is None else _state(lag >= 300, lag >= 3600),
        )
    )
    long_tx = s.get("long_transactions", s.get("open_transactions"))
    idle = number(s.get("idle_in_transaction"))
    out.append(
        Headline(
            "Long transactions",
            count(long_tx),
            "" if number(long_tx) is None else _state(bool(number(long_tx))),
            "" if idle is None else f"{count(idle)} idle in transaction",
        )
    )
    blocked = number(s.get("blocked_sessions"))
    out.append(
        Headline(
            "Blocked sessions",
            count(blocked),
            "" if blocked is None else _state(bool(blocked)),
            f"{len(detail.locks)} blocking chain{'s' if len(detail.locks) != 1 else ''}",
        )
    )
    return out


def _select_size(
    source: SeriesSource, name: str, start: datetime, end: datetime
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
    matchers = [Matcher(METRIC_NAME, "=", PREFIX + "size_bytes"), Matcher("database", "=", name)]
    for series in source.select(
        matchers, int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    )[:1]:
        keep = series.values.view(np.uint64) != STALE_NAN_BITS
        return series.ts[keep].astype(np.float64) / 1000.0, series.values[keep]
    return None


def chart_horizon(size: capacity.Projection, now: datetime) -> timedelta:
    """How far the size chart projects: twice the history shown (at least two weeks), far
    enough to show the budget being reached, at most the forecast's horizon."""
    shown = size.history[-1][0] - size.history[0][0] if size.history else timedelta(0)
    horizon = max(2 * shown, CHART_MIN_HORIZON)
    reached = size.reaches_latest or size.reaches_at
    if reached is not None:
        horizon = max(horizon, (reached - now) * 1.1)
    return min(horizon, capacity.HORIZON)


def size_chart(
    source: SeriesSource | None, target: DatabaseConfig, cap: capacity.Capacity, now: datetime
) -> dict[str, Any]:
    """The size chart's columns: history, then the forecast with its band (over
    :func:`chart_horizon`), and the budget."""
    size = cap.size
    if size is None:
        return {"t": [], "size": [], "fit": [], "low": [], "high": [], "budget": None}
    horizon = chart_horizon(size, now)
    if source is not None and horizon < capacity.HORIZON:
        found = _select_size(source, target.name, now - capacity.HISTORY, now)
        if found is not None:
            again = capacity.project(
                "database", found[0], found[1], now=now, limit=size.limit, horizon=horizon
            )
            size = again or size
    t = [at.timestamp() for at, _ in size.history]
    last = t[-1] if t else float("-inf")
    ahead = [p for p in size.projection if p[0].timestamp() > last]
    gap: list[float | None] = [None] * len(t)
    return {
        "t": t + [p[0].timestamp() for p in ahead],
        "size": [v for _, v in size.history] + [None] * len(ahead),
        "fit": gap + [p[1] for p in ahead],
        "low": gap + [max(p[2], 0.0) for p in ahead],
        "high": gap + [p[3] for p in ahead],
        "budget": size.limit,
        "now": now.timestamp(),
    }


def query_chart(queries: Sequence[views.QueryView]) -> dict[str, Any]:
    """Mean time per call over time of the :data:`QUERY_CHART_TOP` queries with the most
    total time (one column per collection)."""
    top = sorted(
        (q for q in queries if any(p.mean_ms is not None for p in q.history)),
        key=lambda q: -q.total_ms,
    )[:QUERY_CHART_TOP]
    times = sorted({p.at.timestamp() for q in top for p in q.history})
    series = []
    for q in top:
        by_time = {p.at.timestamp(): p.mean_ms for p in q.history}
        text = " ".join(q.query.split()) or q.queryid
        series.append(
            {
                "label": text if len(text) <= 48 else text[:47] + "…",
                "values": [by_time.get(at) for at in times],
            }
        )
    return {"t": times, "series": series}


def flags_by_object(recs: Sequence[advisor.Recommendation]) -> dict[str, list[str]]:
    """The kinds of the current findings (dismissed ones too) per object."""
    out: dict[str, list[str]] = {}
    for r in recs:
        if r.object:
            out.setdefault(r.object, []).append(r.kind)
    return out


def _object_flags(flags: dict[str, list[str]], row: dict[str, Any]) -> list[str]:
    """Findings about a table or index row: matched by name, or by table and name (MariaDB
    names an index ``schema.table.index``)."""
    name = str(row.get("name", ""))
    found = list(flags.get(name, []))
    if row.get("table"):
        found += flags.get(f"{row['table']}.{name}", [])
    return found


TableSort = Literal["name", "size", "rows", "dead", "bloat", "vacuum", "analyze"]
IndexSort = Literal["name", "size", "scans", "bloat"]
QuerySort = Literal["total", "mean", "calls", "rows"]


def _last(row: dict[str, Any], *keys: str) -> datetime | None:
    found = [t for t in (parse_time(row.get(k)) for k in keys) if t is not None]
    return max(found) if found else None


def _sorted(rows: Sequence[Any], key: Callable[[Any], Any], *, reverse: bool = True) -> list[Any]:
    """``rows`` by ``key`` (largest first unless not ``reverse``); unknown values last."""
    known = [r for r in rows if key(r) is not None]
    unknown = [r for r in rows if key(r) is None]
    return sorted(known, key=key, reverse=reverse) + unknown


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def table_rows(
    detail: views.DatabaseDetail, flags: dict[str, list[str]], sort: TableSort
) -> list[dict[str, Any]]:
    """The tables tab's rows: each collected table with its last (auto)vacuum/analyze and
    the kinds of its findings, sorted by ``sort`` (oldest vacuum/analyze first)."""
    rows = []
    for t in detail.tables:
        if isinstance(t, dict):
            rows.append(
                {
                    **t,
                    "vacuumed": _last(t, "last_vacuum", "last_autovacuum"),
                    "analyzed": _last(t, "last_analyze", "last_autoanalyze"),
                    "flags": [k for k in _object_flags(flags, t) if k in TABLE_FLAGS],
                }
            )
    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "size": lambda r: number(r.get("total_bytes", r.get("size_bytes"))),
        "rows": lambda r: number(r.get("rows")),
        "dead": lambda r: number(r.get("dead_tuples")),
        "bloat": lambda r: number(r.get("bloat_bytes")),
        "vacuum": lambda r: r["vacuumed"] or EPOCH,
        "analyze": lambda r: r["analyzed"] or EPOCH,
    }
    if sort == "name":
        return sorted(rows, key=lambda r: str(r.get("name", "")))
    return _sorted(rows, keys[sort], reverse=sort not in ("vacuum", "analyze"))


def index_rows(
    detail: views.DatabaseDetail, flags: dict[str, list[str]], sort: IndexSort
) -> list[dict[str, Any]]:
    """The indexes tab's rows, each with its flags (unused, duplicate, invalid, bloated)."""
    rows = []
    for i in detail.indexes:
        if isinstance(i, dict):
            found = [INDEX_FLAGS[k] for k in _object_flags(flags, i) if k in INDEX_FLAGS]
            if i.get("valid") is False and "invalid" not in found:
                found.append("invalid")
            rows.append({**i, "flags": found})
    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "size": lambda r: number(r.get("size_bytes")),
        "scans": lambda r: number(r.get("scans")),
        "bloat": lambda r: number(r.get("bloat_bytes")),
    }
    if sort == "name":
        return sorted(rows, key=lambda r: str(r.get("name", "")))
    return _sorted(rows, keys[sort])


def query_rows(detail: views.DatabaseDetail, sort: QuerySort) -> list[views.QueryView]:
    keys: dict[str, Callable[[views.QueryView], float]] = {
        "total": lambda q: q.total_ms,
        "mean": lambda q: q.mean_ms,
        "calls": lambda q: q.calls,
        "rows": lambda q: q.rows,
    }
    return sorted(detail.queries, key=keys[sort], reverse=True)
