"""Exceptions in log lines (Python and Java traces, OTLP exception attributes) become events
of the project the plan maps their stream to, grouped as an SDK's events are."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from tests.errors.support import apply
from watchkeeper.errors.from_logs import LogErrorFeed, event_of_line
from watchkeeper.errors.grouping import group
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import ErrorEvent, ErrorIssue

PLAN = """
version: 1
errors:
  projects:
    - name: api
    - name: billing
  from_logs:
    - selector: '{app="api"}'
      project: api
    - selector: '{app=~"billing.*"}'
      project: billing
"""

PYTHON_TRACE = """2026-12-06 10:00:00 ERROR checkout failed
Traceback (most recent call last):
  File "/srv/app/shop/views.py", line {line}, in checkout
    total = cart.total()
  File "/srv/app/shop/cart.py", line 42, in total
    return sum(prices) / count
           ~~~~~~~~~~~~^~~~~~~
  File "/usr/lib/python3.12/site-packages/decimal_tools/ops.py", line 7, in divide
    raise ZeroDivisionError("division by zero")
ZeroDivisionError: division by zero"""

JAVA_TRACE = """Exception in thread "main" java.lang.IllegalStateException: invoice {number} shut
\tat com.acme.billing.Invoice.addLine(Invoice.java:{line})
\tat com.acme.billing.InvoiceService.charge(InvoiceService.java:88)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: java.io.IOException: disk full
\tat com.acme.billing.Store.write(Store.java:12)
\t... 3 more"""

T0 = 1_800_000_000_000_000_000


def line(app: str, message: str, ts: int = T0, **fields: str) -> LogLine:
    return LogLine(ts, ts, make_labels({"app": app, "host": "web-1"}), message, dict(fields))


def test_python_trace_parsed_like_an_sdk_event() -> None:
    event = event_of_line(line("api", PYTHON_TRACE.format(line=10)))
    assert event is not None
    (exc,) = event["exception"]["values"]
    assert (exc["type"], exc["value"]) == ("ZeroDivisionError", "division by zero")
    frames = exc["stacktrace"]["frames"]
    assert [(f["module"], f["function"], f["lineno"], f["in_app"]) for f in frames] == [
        ("shop.views", "checkout", 10, True),
        ("shop.cart", "total", 42, True),
        ("decimal_tools.ops", "divide", 7, False),
    ]
    assert frames[1]["context_line"] == "return sum(prices) / count"
    assert event["logentry"] == {"formatted": "2026-12-06 10:00:00 ERROR checkout failed"}
    sdk = {
        "exception": {
            "values": [
                {
                    "type": "ZeroDivisionError",
                    "value": "division by zero",
                    "stacktrace": {
                        "frames": [
                            {"module": "shop.views", "function": "checkout", "in_app": True},
                            {"module": "shop.cart", "function": "total", "in_app": True},
                            {"module": "decimal_tools.ops", "function": "divide"},
                        ]
                    },
                }
            ]
        }
    }
    assert group(event).fingerprint == group(sdk).fingerprint


def test_java_trace_chain_oldest_cause_first() -> None:
    event = event_of_line(line("billing", JAVA_TRACE.format(number=7, line=31)))
    assert event is not None and event["platform"] == "java"
    cause, raised = event["exception"]["values"]
    assert (cause["module"], cause["type"], cause["value"]) == (
        "java.io",
        "IOException",
        "disk full",
    )
    assert (raised["module"], raised["type"]) == ("java.lang", "IllegalStateException")
    assert [(f["module"], f["function"], f["in_app"]) for f in raised["stacktrace"]["frames"]] == [
        ("java.lang.Thread", "run", False),
        ("com.acme.billing.InvoiceService", "charge", True),
        ("com.acme.billing.Invoice", "addLine", True),
    ]


def test_plain_lines_are_not_events() -> None:
    assert event_of_line(line("api", "GET /health 200 in 3 ms")) is None


def _run_feed(ctx: AppContext, lines: list[LogLine]) -> None:
    logs = ctx.logs

    async def main() -> None:
        feed = LogErrorFeed(ctx.sessions, logs.subscribe)
        task = asyncio.create_task(feed.run())
        while feed._loop is None or not feed._sources:  # started and configured
            await asyncio.sleep(0.01)
        logs.queue.put("test", lines)
        await asyncio.to_thread(logs.drain)
        deadline = time.monotonic() + 10
        while feed._queue is not None and not feed._queue.empty():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the last batch's write
        await feed.stop()
        await task

    asyncio.run(main())


def test_traces_in_log_lines_become_grouped_events(ctx: AppContext) -> None:
    apply(ctx, PLAN)
    otlp = line(
        "api",
        "payment provider refused",
        ts=T0 + 3,
        **{
            "exception.type": "shop.errors.PaymentRefused",
            "exception.message": "card declined",
            "exception.stacktrace": PYTHON_TRACE.format(line=12).split("\n", 1)[1],
            "telemetry.sdk.language": "python",
        },
    )
    lines = [
        line("api", PYTHON_TRACE.format(line=10)),
        line("api", PYTHON_TRACE.format(line=11), ts=T0 + 1),  # the same bug, another release
        line("billing-worker", JAVA_TRACE.format(number=7, line=31), ts=T0 + 2),
        line("billing-worker", JAVA_TRACE.format(number=9, line=35), ts=T0 + 4),
        otlp,
        line("api", "GET /health 200"),
        line("other", PYTHON_TRACE.format(line=10)),  # no mapping: not an event
    ]
    _run_feed(ctx, lines)
    with ctx.sessions() as db:
        issues = {i.title: i for i in db.scalars(select(ErrorIssue))}
        events = db.scalar(select(ErrorEvent.id).order_by(ErrorEvent.id.desc()))
    assert events is not None
    titles = sorted(issues)
    assert len(titles) == 3, titles
    by_type = {t.split(":")[0]: issues[t] for t in titles}
    assert by_type["ZeroDivisionError"].count == 2
    assert by_type["IllegalStateException"].count == 2
    assert by_type["PaymentRefused"].count == 1
    # A line delivered again (a replayed batch) is the same event, not a second one.
    _run_feed(ctx, [lines[0]])
    with ctx.sessions() as db:
        again = db.scalar(
            select(ErrorIssue).where(ErrorIssue.id == by_type["ZeroDivisionError"].id)
        )
    assert again is not None and again.count == 2


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            "{selector: '{app=\"api\"}', project: nope}",
            'watchkeeper.yaml:5:42 errors.from_logs[0].project: no error project is named "nope"',
        ),
        (
            "{selector: '{app=\"api\"', project: api}",
            'watchkeeper.yaml:5:7 errors.from_logs[0]: selector "{app="api"": expected , or }',
        ),
    ],
)
def test_bad_mapping_named_with_its_line(mapping: str, message: str) -> None:
    text = f"version: 1\nerrors:\n  projects: [{{name: api}}]\n  from_logs:\n    - {mapping}\n"
    with pytest.raises(PlanInvalid) as caught:
        load_plan_text(text, env={})
    assert message in str(caught.value)
