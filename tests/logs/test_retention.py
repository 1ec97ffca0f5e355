"""Log retention deletes whole old chunks per stream (first matching rule, else the
default), then the oldest chunks past a stream's size cap; new data stays."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.logs.push_support import EVERYTHING
from watchkeeper.logs.config import LogsSection, RetentionRule
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.retention import enforce_retention
from watchkeeper.logs.store import ChunkStore
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
NOW_NS = int(NOW.timestamp()) * 1_000_000_000
DAY_NS = 86_400 * 1_000_000_000


def lines(app: str, days_ago: float, count: int = 10, **labels: str) -> list[LogLine]:
    at = NOW_NS - int(days_ago * DAY_NS)
    return [
        LogLine(at + i, at + i, make_labels({"app": app, **labels}), f"{app} line {i} " + "x" * 50)
        for i in range(count)
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChunkStore]:
    s = ChunkStore(tmp_path / "logs")
    yield s
    s.close()


def add_chunk(store: ChunkStore, batch: list[LogLine]) -> None:
    store.append(batch)
    store.flush()  # one chunk per call


def stored(store: ChunkStore, selector: str) -> list[str]:
    from watchkeeper.logs.query.engine import select_lines

    return [ln.message for ln in select_lines(store, selector, *EVERYTHING, limit=10_000).lines]


def section(text: str) -> LogsSection:
    return load_plan_text(textwrap.dedent(text)).plan.logs


def test_old_chunks_are_deleted_and_new_ones_kept(store: ChunkStore) -> None:
    add_chunk(store, lines("api", 40))
    add_chunk(store, lines("api", 29))
    add_chunk(store, lines("api", 0.01))
    report = enforce_retention(store, LogsSection(), NOW_NS)  # default 30d
    assert (report.chunks, report.lines) == (1, 10)
    assert report.streams[0].rule == "default_retention"
    assert len(stored(store, '{app="api"}')) == 20
    assert [len(store.chunks_of(s.id)) for s in store.streams()] == [2]
    assert enforce_retention(store, LogsSection(), NOW_NS).chunks == 0  # nothing left to do


def test_per_stream_rules_first_match_wins(store: ChunkStore) -> None:
    add_chunk(store, lines("auth", 100, stream="audit") + lines("api", 100))
    add_chunk(store, lines("auth", 400, stream="audit") + lines("api", 10))
    add_chunk(store, lines("worker", 100))
    rules = section(
        """
        logs:
          default_retention: 90d
          retention:
            - {name: audit, match: '{stream="audit"}', keep: 365d}
            - {name: apps, match: '{app=~"api|auth"}', keep: 30d}
        """
    )
    report = enforce_retention(store, rules, NOW_NS)
    by_rule = sorted((r.rule, r.chunks) for r in report.streams)
    assert by_rule == [("apps", 1), ("audit", 1), ("default_retention", 1)]
    assert len(stored(store, '{stream="audit"}')) == 10  # the 100-day-old audit lines
    assert len(stored(store, '{app="api"}')) == 10  # the 10-day-old api lines
    assert stored(store, '{app="worker"}') == []


def test_size_cap_removes_the_oldest_chunks_until_under_it(store: ChunkStore) -> None:
    for days in (5, 4, 3, 2, 1):
        add_chunk(store, lines("api", days, count=200))
    add_chunk(store, lines("web", 5, count=200))
    (stream,) = store.streams(())[:1]
    sizes = [c.stored_bytes for c in store.chunks_of(stream.id)]
    cap = sum(sizes[-2:])  # room for the two newest chunks
    rules = section(
        f"""
        logs:
          retention:
            - {{name: capped, match: '{{app="api"}}', keep: 30d, max_size: {cap}}}
        """
    )
    report = enforce_retention(store, rules, NOW_NS)
    (removal,) = report.streams
    assert (removal.chunks, removal.by_size, removal.lines) == (3, 3, 600)
    left = store.chunks_of(stream.id)
    assert len(left) == 2 and sum(c.stored_bytes for c in left) <= cap
    assert min(c.min_ts for c in left) >= NOW_NS - 2 * DAY_NS  # the newest stayed
    assert len(stored(store, '{app="web"}')) == 200  # no cap on other streams


def test_bad_selector_is_skipped_not_fatal(
    store: ChunkStore, caplog: pytest.LogCaptureFixture
) -> None:
    add_chunk(store, lines("api", 40))
    # the plan loader refuses such a selector; a stored section from elsewhere may hold one
    broken = RetentionRule.model_construct(
        name="broken", match='{app="api"', keep=timedelta(days=365), max_size=None
    )
    rules = LogsSection.model_construct(retention=[broken], default_retention=timedelta(days=30))
    report = enforce_retention(store, rules, NOW_NS)
    assert report.streams[0].rule == "default_retention"
    assert "bad match selector" in caplog.text


@pytest.mark.parametrize("key", ["retention", "forward"])
def test_the_plan_loader_refuses_a_bad_retention_or_forward_selector(key: str) -> None:
    # A skipped rule would hand its streams to the default retention: a 365d stream kept 30d.
    rule = {"name": "audit", "match": '{app="audit"', "keep": "365d"}
    if key == "forward":
        rule = {"name": "loki", "type": "loki", "url": "http://127.0.0.1:1", "match": "{app"}
    with pytest.raises(ValueError, match="not a stream selector"):
        LogsSection.model_validate({key: [rule]})


def test_the_log_system_applies_the_plans_retention(
    ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    with ctx.sessions() as db:
        plan = """
            logs:
              retention:
                - {name: audit, match: '{stream="audit"}', keep: 365d}
            """
        apply_plan(db, load_plan_text(textwrap.dedent(plan)))
        db.commit()
    store = ctx.logs.store
    now = int(datetime.now(UTC).timestamp()) * 1_000_000_000
    old = now - 60 * DAY_NS
    store.append(
        [
            LogLine(old, old, make_labels({"stream": "audit"}), "user bob signed in"),
            LogLine(old, old, make_labels({"app": "api"}), "GET / 200"),
        ]
    )
    store.flush()
    caplog.set_level(logging.INFO, logger="watchkeeper.logs.system")
    ctx.logs.enforce_retention()
    assert [ln.message for ln in ctx.logs.search("{}", *EVERYTHING)] == ["user bob signed in"]
    assert 'logs retention: {app="api"}: 1 chunk(s), 1 line(s)' in caplog.text
