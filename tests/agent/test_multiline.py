"""Joining stack traces: Java and Python traces become one line each; ``max_lines`` and the
timeout end an event; a restart in the middle of a trace neither splits nor repeats it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.agent.logutil import Shipper, append, messages, with_plan
from watchkeeper.agent.multiline import Joiner
from watchkeeper.logs.config import FileSource, Multiline

START = r"^\d{4}-\d\d-\d\d "
JAVA = """\
2026-01-01 10:00:00 INFO  starting
2026-01-01 10:00:01 ERROR request failed
java.lang.IllegalStateException: no connection
\tat com.shop.Db.query(Db.java:42)
\tat com.shop.Api.handle(Api.java:17)
Caused by: java.net.ConnectException: Connection refused
\tat java.base/sun.nio.ch.Net.connect0(Native Method)
\t... 12 more
2026-01-01 10:00:02 INFO  retrying
"""
PYTHON = """\
2026-01-01 10:00:00,001 ERROR worker crashed
Traceback (most recent call last):
  File "/srv/app/worker.py", line 10, in run
    job()
  File "/srv/app/jobs.py", line 3, in job
    raise ValueError("bad input")
ValueError: bad input

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/worker.py", line 12, in run
KeyError: 'x'
2026-01-01 10:00:01,000 INFO next job
"""


def join(text: str, config: Multiline, now: float = 0.0) -> list[str]:
    joiner = Joiner(config)
    out, offset = [], 0
    for line in text.splitlines():
        end = offset + len(line) + 1
        out += [e.text for e in joiner.feed(line, 0, offset, end, now)]
        offset = end
    return out + [e.text for e in joiner.flush()]


def test_a_java_trace_with_its_cause_is_one_event() -> None:
    events = join(JAVA, Multiline(start=START))
    assert len(events) == 3
    assert events[0] == "2026-01-01 10:00:00 INFO  starting"
    assert events[1].splitlines() == JAVA.splitlines()[1:8]
    assert events[2] == "2026-01-01 10:00:02 INFO  retrying"


def test_a_python_trace_with_a_chained_exception_is_one_event() -> None:
    events = join(PYTHON, Multiline(start=START))
    assert len(events) == 2
    assert events[0].splitlines() == PYTHON.splitlines()[:13]
    assert events[0].endswith("KeyError: 'x'")
    assert events[1] == "2026-01-01 10:00:01,000 INFO next job"


def test_max_lines_ends_an_event_and_the_rest_starts_another() -> None:
    events = join(JAVA, Multiline(start=START, max_lines=3))
    assert [len(e.splitlines()) for e in events] == [1, 3, 3, 1, 1]
    assert "\n".join(events).splitlines() == JAVA.splitlines()  # nothing dropped


def test_a_pending_event_is_flushed_after_the_timeout_without_a_new_line() -> None:
    joiner = Joiner(Multiline(start=START, timeout=timedelta(seconds=2)))
    assert joiner.feed("2026-01-01 10:00:01 ERROR failed", 0, 0, 10, now=100.0) == []
    assert joiner.feed("\tat x", 0, 10, 20, now=101.0) == []
    assert joiner.flush_idle(now=102.5) == []  # 1.5 s since the last line
    (event,) = joiner.flush_idle(now=103.0)
    assert event.text == "2026-01-01 10:00:01 ERROR failed\n\tat x"
    assert (event.start, event.end) == (0, 20)
    assert joiner.pending_start is None


def test_a_trace_split_by_a_restart_arrives_whole_and_once(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.touch()
    source = FileSource(
        name="java",
        paths=[str(app)],
        multiline=Multiline(start=START, timeout=timedelta(hours=1)),
    )
    head, tail = JAVA.splitlines(keepends=True)[:4], JAVA.splitlines(keepends=True)[4:]
    first = Shipper(tmp_path, [])
    try:
        with_plan(first, source)
        first.cycle()
        append(app, "".join(head))  # the trace is not finished when the agent stops
        first.cycle()
        shipped = messages(first.spool)
        assert shipped == ["2026-01-01 10:00:00 INFO  starting"]
    finally:
        first.close()
    append(app, "".join(tail))
    second = Shipper(tmp_path, [])
    try:
        with_plan(second, source)
        second.cycle()
        shipped += messages(second.spool)
    finally:
        second.close()
    assert shipped[1:] == [
        "\n".join(JAVA.splitlines()[1:8])
    ]  # the last line waits for the next event or the timeout
