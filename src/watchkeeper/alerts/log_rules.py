"""Log rules (``logs:``): a metric query over the log store as an alert condition.

The query is the log query language's metric form (see docs/logs-query.md); each series it
returns at the evaluation time is one alert, as with PromQL rules, so the same ``step`` ->
routing -> silences -> incidents path follows. ``absent_over_time`` returns one series when
no matching line came within its window: the nightly job that did not report "done".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

from watchkeeper.logs.query.engine import QueryError, evaluate_instant
from watchkeeper.logs.query.parser import parse_metric
from watchkeeper.logs.selector import QuerySyntaxError
from watchkeeper.logs.store import LogStore


class LogRuleError(ValueError):
    """A log rule that cannot be evaluated now (no log store, a query too large to run)."""


def log_results(
    store: LogStore | None, query: str, now: datetime
) -> list[tuple[Mapping[str, str], float | None]]:
    """Evaluate a log rule's metric ``query`` at ``now``: one (labels, value) per series.

    Raise LogRuleError if there is no log store or the query cannot run."""
    if store is None:
        raise LogRuleError("no log store in this process: log rules cannot be evaluated")
    try:
        series = evaluate_instant(store, parse_metric(query), _ns(now))
    except (QuerySyntaxError, QueryError) as exc:
        raise LogRuleError(str(exc)) from None
    return [(labels, value) for labels, value in series if not math.isnan(value)]


def _ns(at: datetime) -> int:
    """``at`` as integer nanoseconds since the epoch (exact: no float rounding)."""
    delta = at - datetime(1970, 1, 1, tzinfo=at.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
