"""What the pages and API show: where a database is (no credentials), its status, growth,
query history from the statement counters (a regression shows; a statistics reset is not a
negative rate), and runs with their before/after totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from tests.dbmaint.service_support import apply, finding, plan_text, put_health, sqlite_target
from watchkeeper.dbmaint import views
from watchkeeper.dbmaint.config import PostgresDatabase
from watchkeeper.metrics.labels import make_labels
from watchkeeper.metrics.source import MemorySource
from watchkeeper.store.tables import DbMaintenanceRun

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
MINUTE_MS = 60_000


def _labels(name: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return make_labels({"__name__": f"watchkeeper_db_{name}", "database": "app", **extra})


def test_where_shows_host_port_and_database_never_the_password() -> None:
    target = PostgresDatabase(
        name="app", type="postgres", url="postgresql://watch:s3cret-pw@db.internal:5433/orders"
    )
    assert views.where_of(target) == "db.internal:5433/orders"


def test_query_history_shows_a_regression_and_skips_a_reset() -> None:
    end = int(NOW.timestamp() * 1000)
    ts = np.arange(end - 10 * 5 * MINUTE_MS, end + 1, 5 * MINUTE_MS, dtype=np.int64)
    calls = np.arange(len(ts), dtype=np.float64) * 300  # 300 calls per 5 minutes: 1/s
    mean_s = np.where(np.arange(len(ts)) < 6, 0.010, 0.050)  # 10 ms, then 50 ms (a release)
    spent = np.concatenate([[0.0], np.cumsum(300 * mean_s[1:])])
    calls[-1], spent[-1] = 5, 0.25  # pg_stat_statements_reset() before the last sample
    source = MemorySource()
    source.add(_labels("statement_calls_total", queryid="42"), ts, calls)
    source.add(_labels("statement_exec_seconds_total", queryid="42"), ts, spent)
    source.add(_labels("statement_calls_total", queryid="7"), ts[:1], calls[:1])
    history = views.query_history(source, "app", now=NOW, window=timedelta(hours=2))
    points = history["42"]
    assert len(points) == len(ts) - 2  # the interval over the reset has no figure
    assert all(p.calls_per_s == pytest.approx(1.0) for p in points)
    means = [p.mean_ms for p in points]
    assert means[:5] == pytest.approx([10.0] * 5)
    assert means[5:] == pytest.approx([50.0] * (len(points) - 5))
    assert "7" not in history  # one sample: no interval


def test_list_shows_status_score_growth_and_top_finding(db: Session, tmp_path: Path) -> None:
    apply(
        db,
        plan_text(
            sqlite_target("app", tmp_path / "a.db"),
            sqlite_target("down", tmp_path / "b.db"),
            sqlite_target("new", tmp_path / "c.db"),
        ),
    )
    put_health(
        db,
        "app",
        [finding("freelist:main", "warning", 10), finding("xid:app", "critical")],
        NOW,
        score=65,
    )
    put_health(db, "down", [], NOW, ok=False, failures=3, error="connection refused")
    end = int(NOW.timestamp() * 1000)
    ts = np.arange(end - 6 * 86_400_000, end + 1, 3_600_000, dtype=np.int64)
    source = MemorySource()
    source.add(_labels("size_bytes"), ts, 1e9 + 2e6 * (ts - ts[0]) / 86_400_000)
    found = {d.name: d for d in views.list_databases(db, source, now=NOW)}
    assert list(found) == ["app", "down", "new"]
    assert (found["app"].status, found["app"].score) == ("ok", 65)
    assert found["app"].top_finding is not None and found["app"].top_finding.key == "xid:app"
    assert found["app"].findings == {"critical": 1, "warning": 1, "info": 0}
    assert found["app"].growth_per_day == pytest.approx(2e6)
    assert (found["down"].status, found["down"].error) == ("unreachable", "connection refused")
    assert (found["new"].status, found["new"].score, found["new"].collected_at) == (
        "pending",
        None,
        None,
    )


def test_runs_sum_their_steps_before_and_after(db: Session) -> None:
    db.add(
        DbMaintenanceRun(
            database="app",
            task="vacuum",
            action="vacuum",
            status="succeeded",
            trigger="schedule",
            dry_run=False,
            started_at=NOW,
            error="",
            steps=[
                {
                    "target": "public.a",
                    "sql": "VACUUM (ANALYZE) public.a",
                    "status": "succeeded",
                    "before": {"dead_tuples": 1000, "size_bytes": 800},
                    "after": {"dead_tuples": 0, "size_bytes": 800},
                },
                {
                    "target": "public.b",
                    "sql": "VACUUM (ANALYZE) public.b",
                    "status": "failed",
                    "error": "lock not granted",
                    "before": {"dead_tuples": 500, "size_bytes": 200},
                    "after": {},
                },
            ],
        )
    )
    db.commit()
    (run,) = views.list_runs(db, database="app")
    # the effect: the steps that ran, before and after (the failed one has no after)
    assert run.before == {"size_bytes": 800.0, "dead_tuples": 1000.0}
    assert run.after == {"size_bytes": 800.0, "dead_tuples": 0.0}
    assert [s.status for s in run.steps] == ["succeeded", "failed"]
    assert views.list_runs(db, database="other") == []
    assert views.get_run(db, run.id) == run
