"""The hosts list's current values (CPU, memory, fullest disk, stale), computed from stored
samples in a fixed number of queries however many hosts there are."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.agent.conftest import INVENTORY, add_host, labels
from watchkeeper.agent.hosts import get_host, list_hosts
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Host, utcnow


@contextmanager
def counted(ctx: AppContext) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(ctx.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(ctx.engine, "before_cursor_execute", count)


def test_current_values_and_staleness(ctx: AppContext) -> None:
    now = utcnow()
    add_host(ctx, "app-1", now, busy=0.25)
    add_host(ctx, "app-2", now, seen=timedelta(seconds=31))  # 3 intervals of 10 s: stale
    with ctx.sessions() as db:
        db.add(Host(name="new-1", last_seen=now, inventory={}))  # no samples yet
        db.commit()
        result = list_hosts(db, ctx.metrics, now=now)
    assert result.total == 3 and result.stale == 1
    one, two, new = result.rows
    assert (one.name, one.os, one.stale) == ("app-1", "Debian GNU/Linux 12 (bookworm)", False)
    assert one.cpu is not None and abs(one.cpu - 0.25) < 1e-9
    assert one.memory == 0.75
    assert (one.disk, one.disk_mount) == (0.95, "/data")
    assert two.stale and two.cpu is not None and abs(two.cpu - 0.5) < 1e-9
    assert (new.cpu, new.memory, new.disk, new.os) == (None, None, None, "")


def test_search_and_pages(ctx: AppContext) -> None:
    now = utcnow()
    for name in ("db-1", "db-2", "web-1", "web-2", "web-3"):
        add_host(ctx, name, now)
    with ctx.sessions() as db:
        web = list_hosts(db, ctx.metrics, query="web", page=2, per_page=2, now=now)
        assert web.total == 3
        assert [r.name for r in web.rows] == ["web-3"]
        assert web.rows[0].memory == 0.75  # current values for the page's hosts too
        assert list_hosts(db, ctx.metrics, query="%", now=now).total == 0  # no LIKE wildcards


def test_the_list_costs_the_same_queries_for_2_or_20_hosts(ctx: AppContext) -> None:
    now = utcnow()
    for i in range(2):
        add_host(ctx, f"few-{i}", now)
    with ctx.sessions() as db, counted(ctx) as few:
        list_hosts(db, ctx.metrics, query="few", now=now)
    for i in range(20):
        add_host(ctx, f"many-{i:02d}", now)
    with ctx.sessions() as db, counted(ctx) as many:
        result = list_hosts(db, ctx.metrics, query="many", now=now)
    assert all(r.memory == 0.75 for r in result.rows)
    assert len(many) == len(few), many


def test_one_host(ctx: AppContext) -> None:
    now = utcnow()
    add_host(ctx, "app-1", now)
    with ctx.sessions() as db:
        found = get_host(db, ctx.metrics, "app-1", now)
        assert found is not None
        row, stored = found
        assert row.disk_mount == "/data" and stored.inventory == INVENTORY
        assert get_host(db, ctx.metrics, "nope", now) is None


def test_idle_counter_reset_gives_no_cpu_value(ctx: AppContext, db: Session) -> None:
    now = utcnow()
    end = int(now.timestamp() * 1000)
    ctx.metrics.write(
        [
            (
                labels("node_cpu_seconds_total", "rebooted", cpu="0", mode="idle"),
                [(end - 20_000, 5000.0), (end - 10_000, 3.0)],
            )
        ]
    )
    db.add(Host(name="rebooted", last_seen=now, inventory={}))
    db.commit()
    (row,) = list_hosts(db, ctx.metrics, now=now).rows
    assert row.cpu is None
