"""The chunk store: ordering across chunks and heads, term narrowing, the write-ahead log."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.query.engine import line_test, select_lines
from watchkeeper.logs.query.parser import parse_log_query
from watchkeeper.logs.selector import matches_all, parse_selector
from watchkeeper.logs.store import ChunkStore, tokens

EVERYTHING = (0, 2**62)
WORDS = ["alpha", "beta", "gamma", "delta", "timeout", "refused", "ok", "Retry", "disk"]


def line(ts: int, message: str, app: str = "api", **fields: str) -> LogLine:
    return LogLine(ts, ts, make_labels({"app": app}), message, dict(fields))


def everything(store: ChunkStore, direction: str | None = "backward") -> list[LogLine]:
    return list(store.scan((), *EVERYTHING, direction=direction))  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChunkStore]:
    opened = ChunkStore(tmp_path / "logs", chunk_lines=8)
    yield opened
    opened.close()


def test_scan_orders_lines_across_overlapping_chunks_and_heads(store: ChunkStore) -> None:
    rnd = random.Random(3)
    stamps = rnd.sample(range(1, 10_000), 100)  # out of order, two streams, overlapping chunks
    for at in range(0, 100, 7):
        store.append([line(ts, f"m{ts}", app=f"a{ts % 2}") for ts in stamps[at : at + 7]])
    assert store._heads  # some lines still in heads, the rest in chunks
    assert store.chunks_of(store.streams()[0].id)

    backward = [ln.ts for ln in everything(store)]
    forward = [ln.ts for ln in everything(store, "forward")]

    assert backward == sorted(stamps, reverse=True)
    assert forward == sorted(stamps)
    assert sorted(ln.ts for ln in everything(store, None)) == sorted(stamps)


def test_scan_keeps_to_the_time_range_and_streams(store: ChunkStore) -> None:
    store.append([line(ts, "x", app="api" if ts % 3 else "db") for ts in range(1, 41)])

    found = list(store.scan(parse_selector('{app="db"}'), 10, 30))

    assert [ln.ts for ln in found] == [ts for ts in range(30, 9, -1) if ts % 3 == 0]
    assert {ln.label("app") for ln in found} == {"db"}


def _random_lines(rnd: random.Random, count: int) -> list[LogLine]:
    out = []
    for i in range(count):
        words = rnd.choices(WORDS, k=rnd.randint(1, 4))
        fields = {"user": rnd.choice(["bob", "eve", "ann"])} if rnd.random() < 0.5 else {}
        out.append(
            line(rnd.randrange(1, 5_000), " ".join(words) + f" n={i}", f"a{i % 3}", **fields)
        )
    return out


@pytest.mark.parametrize(
    "query",
    [
        "timeout",
        "TIMEOUT refused",
        '"timeout refused"',
        '{app="a1"} retry',
        '{} |= "timeout"',
        '{} |= " gamma " != "ok"',
        '{} |~ "del.a"',
        '{} | user="bob"',
        '{} | user=""',
        '{} | user!="bob" alpha',
        '{app=~"a[01]"} | user="eve" |= "beta "',
    ],
)
def test_term_narrowing_returns_every_true_match(tmp_path: Path, query: str) -> None:
    rnd = random.Random(sum(map(ord, query)))
    data = _random_lines(rnd, 600)
    store = ChunkStore(tmp_path, chunk_lines=16)
    try:
        for at in range(0, 600, 50):
            store.append(data[at : at + 50])
        store._commit()  # the chunks so far in the index, later ones pending, some in heads
        extra = _random_lines(rnd, 40)
        store.append(extra)
        parsed = parse_log_query(query)
        test = line_test(parsed)
        expected = sorted(
            (ln.ts, ln.message)
            for ln in data + extra
            if matches_all(parsed.matchers, ln.labels) and test(ln)
        )

        result = select_lines(store, query, *EVERYTHING, limit=10_000)

        assert expected  # the query matches something
        assert sorted((ln.ts, ln.message) for ln in result.lines) == expected
    finally:
        store.close()


def test_terms_of_40_bytes_and_more_are_not_used_to_narrow(store: ChunkStore) -> None:
    long_word, longest = "b" * 39, "c" * 40
    store.append([line(1, f"hello {long_word} {longest}")])
    store.flush()

    assert tokens(f"x {long_word} {longest}") == ["x", long_word]
    assert len(select_lines(store, longest, *EVERYTHING).lines) == 1
    assert len(select_lines(store, long_word, *EVERYTHING).lines) == 1


def test_field_terms_narrow_to_chunks_holding_the_value(store: ChunkStore) -> None:
    store.append([line(i, f"req {i}", user="bob") for i in range(8)])  # one chunk each
    store.append([line(i, f"req {i}", user="eve") for i in range(8, 16)])
    store.flush()

    assert len(store._term_chunks([], [("user", "bob")]) or ()) == 1
    assert store._term_chunks([], [("user", "nobody")]) == set()
    lines = list(store.scan((), *EVERYTHING, field_terms=[("user", "eve")]))
    assert {ln.fields["user"] for ln in lines} == {"eve"}


def test_restart_recovers_unflushed_lines_without_duplicates(tmp_path: Path) -> None:
    first = ChunkStore(tmp_path, chunk_lines=8)
    first.append([line(i, f"m{i}") for i in range(12)])  # one chunk of 12, nothing in heads
    first.append([line(i, f"m{i}") for i in range(12, 15)])  # three in a head
    first._wal.close()  # a crash: no flush, no close
    first._db.close()
    first._writer.wait_merging_threads()

    second = ChunkStore(tmp_path, chunk_lines=8)
    assert sorted(ln.ts for ln in everything(second)) == list(range(15))
    second.append([line(15, "m15")])
    second._wal.close()
    second._db.close()
    second._writer.wait_merging_threads()

    third = ChunkStore(tmp_path, chunk_lines=8)
    try:
        assert sorted(ln.ts for ln in everything(third)) == list(range(16))
        third.flush()
    finally:
        third.close()
    fourth = ChunkStore(tmp_path, chunk_lines=8)
    try:
        assert sorted(ln.ts for ln in everything(fourth)) == list(range(16))
        assert not fourth._heads
    finally:
        fourth.close()


def test_a_torn_write_ahead_log_tail_is_ignored(tmp_path: Path) -> None:
    first = ChunkStore(tmp_path)
    first.append([line(1, "kept")])
    first.append([line(2, "torn")])
    first._wal.close()
    first._db.close()
    first._writer.wait_merging_threads()
    segment = max((tmp_path / "wal").glob("*.wal"), key=lambda p: p.stat().st_size)
    segment.write_bytes(segment.read_bytes()[:-10])

    second = ChunkStore(tmp_path)
    try:
        assert [ln.message for ln in everything(second)] == ["kept"]
        second.append([line(3, "after")])
        assert [ln.message for ln in everything(second)] == ["after", "kept"]
    finally:
        second.close()


def test_delete_chunks_removes_files_metadata_and_index(store: ChunkStore) -> None:
    store.append([line(i, f"gone {i}") for i in range(8)])
    store.append([line(i, f"stay {i}") for i in range(8, 16)])
    store.flush()
    sid = store.streams()[0].id
    old = store.chunks_of(sid)[0]

    assert store.delete_chunks([old.id, 999_999]) == 1

    assert old.id not in [c.id for c in store.chunks_of(sid)]
    assert not store._chunk_path(sid, old.id).exists()
    assert select_lines(store, "gone", *EVERYTHING).lines == []
    assert len(everything(store)) == 8


def test_usage_sums_chunks_and_heads(store: ChunkStore) -> None:
    store.append([line(i, "abcd", app="api") for i in range(10, 18)])  # one chunk
    store.append([line(i, "abcd", app="api") for i in range(18, 20)])  # two lines in a head
    store.append([line(5, "xy", app="db")])

    by_app = {u.stream.labels: u for u in store.usage()}
    api = by_app[make_labels({"app": "api"})]
    db = by_app[make_labels({"app": "db"})]

    assert (api.chunks, api.lines, api.raw_bytes, api.oldest, api.newest) == (1, 10, 40, 10, 19)
    assert api.stored_bytes > 0
    assert (db.chunks, db.lines, db.raw_bytes, db.oldest, db.newest) == (0, 1, 2, 5, 5)


def test_count_lines_and_times_read_no_messages_but_count_exactly(store: ChunkStore) -> None:
    store.append([line(i, "x", app="api" if i % 2 else "db") for i in range(1, 21)])

    store.append([line(i, "x", app="api") for i in range(21, 24)])  # heads and chunks
    assert store.count_lines((), 1, 23) == 23
    assert store.count_lines(parse_selector('{app="api"}'), 4, 9) == 3  # 5, 7, 9
    total = sum(len(ts) for _, ts in store.times((), 3, 12))
    assert total == 10


def test_a_chunk_that_cannot_be_written_keeps_the_heads_lines(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, chunk_lines=8)
    try:
        store.append([line(i, f"m{i}") for i in range(5)])  # acknowledged, in the head
        blocker = tmp_path / "chunks" / "01"  # stream 1's chunk folder cannot be made
        blocker.write_bytes(b"")  # (as on a full disk: the chunk file cannot be written)
        with pytest.raises(OSError):
            store.append([line(i, f"m{i}") for i in range(5, 10)])
        blocker.unlink()
        store.append([line(10, "m10")])  # the cut works now; the database is committed

        assert [ln.ts for ln in everything(store, "forward")] == list(range(11))
    finally:
        store._wal.close()  # a crash: the write-ahead log decides what comes back
        store._db.close()
        store._writer.wait_merging_threads()
    again = ChunkStore(tmp_path, chunk_lines=8)
    try:
        assert [ln.ts for ln in everything(again, "forward")] == list(range(11))
    finally:
        again.close()


def test_heads_past_the_memory_budget_are_cut_oldest_first(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "logs", head_budget=1000)
    try:
        for i in range(20):
            labels = make_labels({"app": f"a{i}"})
            store.append([LogLine(i + 1, i + 1, labels, "x" * 100)])
        assert sum(len(store.chunks_of(s.id)) for s in store.streams()) > 0
        assert len(list(store.scan((), 0, 100))) == 20  # nothing lost, heads or chunks
    finally:
        store.close()
