"""Run log queries and metric queries against a :class:`~watchkeeper.logs.store.LogStore`.

Log queries narrow the chunks with the store's term index (full-text terms, the whole words
inside ``|=`` needles, ``field="value"`` filters), then apply every filter exactly to each
line. Metric queries count lines per window at each step, vectorised with numpy; a query
with no filter at all counts from the chunks' time columns without reading messages.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from watchkeeper.logs.chunk import Block
from watchkeeper.logs.model import LogLine
from watchkeeper.logs.query import ast
from watchkeeper.logs.query.parser import parse_log_query, parse_metric
from watchkeeper.logs.store import LogStore, tokens

MAX_SERIES = 10_000
MAX_STEPS = 11_000
LineTest = Callable[[LogLine], bool]


class QueryError(ValueError):
    """A query that parses but cannot run (too many series, too many steps)."""


@dataclass
class LogResult:
    lines: list[LogLine]
    scanned: int
    elapsed: float
    truncated: bool


@dataclass
class Series:
    labels: dict[str, str]
    values: np.ndarray  # one value per step, NaN where the series has no point

    def points(self, steps: np.ndarray) -> list[tuple[float, float]]:
        keep = ~np.isnan(self.values)
        return list(zip((steps[keep] / 1e9).tolist(), self.values[keep].tolist(), strict=True))


@dataclass
class MetricResult:
    steps: np.ndarray  # ns
    series: list[Series] = field(default_factory=list)


# -- line filters ----------------------------------------------------------------------------


def _field(line: LogLine, name: str) -> str | None:
    value = line.fields.get(name)
    if value is not None:
        return value
    for key, label in line.labels:
        if key == name:
            return label
    return None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return _duration_or_size(value)


_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h|kb|mb|gb|b)?\s*$", re.IGNORECASE)
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
    "b": 1,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
}


def _duration_or_size(value: str) -> float | None:
    found = _UNIT.match(value)
    if not found:
        return None
    return float(found.group(1)) * _UNITS.get((found.group(2) or "").lower(), 1)


def _compare(op: str, left: float, right: float) -> bool:
    if op in ("=", "=="):
        return left == right
    if op == "!=":
        return left != right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    return left <= right


def _test(stage: ast.Stage) -> Callable[[LogLine], bool] | None:
    if isinstance(stage, ast.LineFilter):
        value, rx = stage.value, stage.rx
        if stage.op == "|=":
            return lambda line: value in line.message
        if stage.op == "!=":
            return lambda line: value not in line.message
        assert rx is not None
        search = rx.search
        if stage.op == "!~":
            return lambda line: search(line.message) is None
        return lambda line: search(line.message) is not None
    if isinstance(stage, ast.FieldFilter):
        name, op, want, frx = stage.name, stage.op, stage.value, stage.rx
        if frx is not None:
            hit = op == "=~"
            return lambda line: (frx.fullmatch(_field(line, name) or "") is not None) == hit
        if isinstance(want, float):

            def numeric(line: LogLine) -> bool:
                got = _number(_field(line, name))
                return got is not None and _compare(op, got, want)

            return numeric
        if op == "!=":
            return lambda line: (_field(line, name) or "") != want
        return lambda line: (_field(line, name) or "") == want
    if isinstance(stage, ast.Parser) and stage.kind == "regexp":
        rx = stage.rx
        assert rx is not None

        def extract(line: LogLine) -> bool:
            found = rx.search(line.message)
            if found:
                line.fields = {
                    **line.fields,
                    **{k: v for k, v in found.groupdict().items() if v is not None},
                }
            return True

        return extract
    return None


def prefilter(query: ast.LogQuery) -> Callable[[Block], np.ndarray] | None:
    """The ``|=`` and ``!=`` filters as one mask over a column block: a bytes search per
    block instead of a test per line (the other stages still run on each kept line)."""
    needles = [
        (s.value, s.op == "|=")
        for s in query.stages
        if isinstance(s, ast.LineFilter) and s.op in ("|=", "!=")
    ]
    if not needles:
        return None

    def mask(block: Block) -> np.ndarray:
        keep = np.ones(len(block), dtype=bool)
        for needle, wanted in needles:
            found = block.contains(needle)
            keep &= found if wanted else ~found
            if not keep.any():
                break
        return keep

    return mask


def line_test(query: ast.LogQuery) -> LineTest:
    """One function applying every filter of ``query`` to a line, in order."""
    tests = [t for t in map(_test, query.stages) if t is not None]
    if not tests:
        return lambda line: True
    if len(tests) == 1:
        return tests[0]
    return lambda line: all(t(line) for t in tests)


def index_hints(
    query: ast.LogQuery, label_names: Iterable[str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """Terms every matching line must contain as whole words, and ``field=value`` pairs every
    matching line must carry: what the store's chunk index can narrow by."""
    labels = set(label_names)
    terms: list[str] = []
    pairs: list[tuple[str, str]] = []
    for stage in query.stages:
        if isinstance(stage, ast.Parser) and stage.kind == "regexp":
            break  # fields after this point were not indexed
        if isinstance(stage, ast.LineFilter) and stage.op == "term":
            terms += tokens(stage.value)
        elif isinstance(stage, ast.LineFilter) and stage.op == "|=":
            terms += _inner_words(stage.value)
        elif (
            isinstance(stage, ast.FieldFilter)
            and stage.op in ("=", "==")
            and isinstance(stage.value, str)
            and stage.value  # `| user=""` matches lines without the field: not indexed
            and stage.name not in labels
        ):
            pairs.append((stage.name, stage.value))
    return terms, pairs


def _inner_words(needle: str) -> list[str]:
    """Words of a ``|=`` needle that are whole words in any line containing the needle:
    those with a non-word character (inside the needle) on both sides."""
    out = []
    for found in re.finditer(r"[^\W_]+", needle):
        if found.start() > 0 and found.end() < len(needle):
            out += tokens(found.group())
    return out


# -- log queries -------------------------------------------------------------------------------


def select_lines(
    store: LogStore,
    query: ast.LogQuery | str,
    start: int,
    end: int,
    *,
    limit: int = 100,
    direction: str = "backward",
) -> LogResult:
    """Lines matching ``query`` in ``[start, end]`` (ns), newest first unless ``forward``."""
    if isinstance(query, str):
        query = parse_log_query(query)
    started = time.perf_counter()
    names = {k for s in store.streams(query.matchers) for k, _ in s.labels}
    terms, pairs = index_hints(query, names)
    test = line_test(query)
    out: list[LogLine] = []
    scanned = 0
    truncated = False
    for line in store.scan(
        query.matchers,
        start,
        end,
        terms=terms,
        field_terms=pairs,
        direction="forward" if direction == "forward" else "backward",
        prefilter=prefilter(query),
    ):
        scanned += 1
        if test(line):
            if len(out) >= limit:
                truncated = True
                break
            out.append(line)
    return LogResult(out, scanned, time.perf_counter() - started, truncated)


# -- metric queries ----------------------------------------------------------------------------


def _series_key(line: LogLine, with_fields: bool) -> tuple[tuple[str, str], ...]:
    if not with_fields or not line.fields:
        return line.labels
    merged = dict(line.labels)
    for key, value in line.fields.items():
        merged.setdefault(key, value)
    return tuple(sorted(merged.items()))


def _gather(
    store: LogStore, agg: ast.RangeAggregation, lo: int, hi: int
) -> dict[tuple[tuple[str, str], ...], tuple[np.ndarray, np.ndarray | None]]:
    """Per series: sorted event times and, when the function needs them, per-line values."""
    query = agg.query
    needs_values = agg.function in ("bytes_over_time", "bytes_rate") or query.unwrap is not None
    simple = not query.stages and not needs_values
    if simple:
        parts: dict[tuple[tuple[str, str], ...], list[np.ndarray]] = {}
        for labels, ts in store.times(query.matchers, lo, hi):
            if len(ts):
                parts.setdefault(labels, []).append(ts)
        return {k: (np.sort(np.concatenate(v)), None) for k, v in parts.items()}
    names = {k for s in store.streams(query.matchers) for k, _ in s.labels}
    terms, pairs = index_hints(query, names)
    if not query.unwrap and all(isinstance(s, ast.LineFilter) for s in query.stages):
        return _gather_blocks(store, query, lo, hi, terms, pairs, needs_values)
    test = line_test(query)
    unwrap = query.unwrap
    with_fields = query.labels_from_fields
    times: dict[tuple[tuple[str, str], ...], list[int]] = {}
    values: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for line in store.scan(query.matchers, lo, hi, terms=terms, field_terms=pairs, direction=None):
        if not test(line):
            continue
        if unwrap is not None:
            number = _number(_field(line, unwrap))
            if number is None or math.isnan(number):
                continue
            value = number
        else:
            value = float(len(line.message.encode()))
        key = _series_key(line, with_fields)
        times.setdefault(key, []).append(line.ts)
        if needs_values:
            values.setdefault(key, []).append(value)
        if len(times) > MAX_SERIES:
            raise QueryError(f"the query makes more than {MAX_SERIES} series; aggregate it")
    out: dict[tuple[tuple[str, str], ...], tuple[np.ndarray, np.ndarray | None]] = {}
    for key, ts_list in times.items():
        ts = np.asarray(ts_list, dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        vals = np.asarray(values[key], dtype=np.float64)[order] if needs_values else None
        out[key] = (ts[order], vals)
    return out


def _gather_blocks(
    store: LogStore,
    query: ast.LogQuery,
    lo: int,
    hi: int,
    terms: list[str],
    pairs: list[tuple[str, str]],
    needs_values: bool,
) -> dict[tuple[tuple[str, str], ...], tuple[np.ndarray, np.ndarray | None]]:
    """The line-filter-only case, on column blocks: no LogLine is made; regex and term
    filters decode only the messages the substring filters kept."""
    fast = prefilter(query)
    slow = [
        s.rx.search
        for s in query.stages
        if isinstance(s, ast.LineFilter) and s.op in ("|~", "term") and s.rx is not None
    ]
    slow_not = [
        s.rx.search
        for s in query.stages
        if isinstance(s, ast.LineFilter) and s.op == "!~" and s.rx is not None
    ]
    parts: dict[tuple[tuple[str, str], ...], list[tuple[np.ndarray, np.ndarray | None]]] = {}
    for block in store.blocks(query.matchers, lo, hi, terms=terms, field_terms=pairs):
        keep = fast(block) if fast is not None else np.ones(len(block), dtype=bool)
        if (slow or slow_not) and keep.any():
            idx = np.flatnonzero(keep)
            data, starts, ends = block.data, block.starts, block.ends
            for i in idx.tolist():
                text = data[starts[i] : ends[i]].decode("utf-8", "replace")
                if not all(s(text) for s in slow) or any(s(text) for s in slow_not):
                    keep[i] = False
        if not keep.any():
            continue
        values = block.message_bytes()[keep].astype(np.float64) if needs_values else None
        parts.setdefault(block.labels, []).append((block.ts[keep], values))
    out: dict[tuple[tuple[str, str], ...], tuple[np.ndarray, np.ndarray | None]] = {}
    for key, pieces in parts.items():
        ts = np.concatenate([p[0] for p in pieces])
        order = np.argsort(ts, kind="stable")
        vals = np.concatenate([p[1] for p in pieces])[order] if needs_values else None
        out[key] = (ts[order], vals)
    return out


def _range(store: LogStore, agg: ast.RangeAggregation, steps: np.ndarray) -> list[Series]:
    window = agg.window_ns
    data = _gather(store, agg, int(steps[0]) - window + 1, int(steps[-1]))
    seconds = window / 1e9
    out: list[Series] = []
    fn = agg.function
    for key, (ts, vals) in data.items():
        right = np.searchsorted(ts, steps, side="right")
        left = np.searchsorted(ts, steps - window, side="right")
        counts = (right - left).astype(np.float64)
        if fn in ("count_over_time", "rate", "absent_over_time"):
            result = counts if fn != "rate" else counts / seconds
        elif fn in ("bytes_over_time", "bytes_rate", "sum_over_time", "avg_over_time"):
            assert vals is not None
            cum = np.concatenate(([0.0], np.cumsum(vals)))
            sums = cum[right] - cum[left]
            result = sums / seconds if fn == "bytes_rate" else sums
            if fn == "avg_over_time":
                with np.errstate(invalid="ignore", divide="ignore"):
                    result = sums / counts
        else:
            assert vals is not None
            pick = np.max if fn == "max_over_time" else np.min
            result = np.array(
                [pick(vals[a:b]) if b > a else np.nan for a, b in zip(left, right, strict=True)]
            )
        result = np.where(counts > 0, result, np.nan)
        out.append(Series(dict(key), result))
    if fn == "absent_over_time":
        present = np.zeros(len(steps), dtype=bool)
        for series in out:
            present |= ~np.isnan(series.values)
        labels = {m.name: m.value for m in agg.query.matchers if m.op == "="}
        values = np.where(present, np.nan, 1.0)
        return [Series(labels, values)] if not present.all() else []
    return out


def _group_key(
    labels: dict[str, str], by: tuple[str, ...], without: bool
) -> tuple[tuple[str, str], ...]:
    if without:
        return tuple(sorted((k, v) for k, v in labels.items() if k not in by))
    return tuple((k, labels[k]) for k in by if k in labels)


def _aggregate(node: ast.VectorAggregation, inner: list[Series], n: int) -> list[Series]:
    if node.op in ("topk", "bottomk"):
        if not inner:
            return []
        k = node.param or 1
        groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for i, series in enumerate(inner):
            groups.setdefault(_group_key(series.labels, node.by, node.without), []).append(i)
        matrix = np.vstack([s.values for s in inner])
        keep = np.zeros_like(matrix, dtype=bool)
        for members in groups.values():
            sub = matrix[members]
            filled = np.where(np.isnan(sub), -np.inf if node.op == "topk" else np.inf, sub)
            order = np.argsort(-filled if node.op == "topk" else filled, axis=0, kind="stable")
            for rank in range(min(k, len(members))):
                rows = np.asarray(members)[order[rank]]
                keep[rows, np.arange(n)] = True
        kept = np.where(keep & ~np.isnan(matrix), matrix, np.nan)
        return [
            Series(s.labels, kept[i]) for i, s in enumerate(inner) if not np.isnan(kept[i]).all()
        ]
    buckets: dict[tuple[tuple[str, str], ...], list[np.ndarray]] = {}
    for series in inner:
        buckets.setdefault(_group_key(series.labels, node.by, node.without), []).append(
            series.values
        )
    out = []
    for key, rows in buckets.items():
        matrix = np.vstack(rows)
        present = (~np.isnan(matrix)).sum(axis=0)
        with np.errstate(invalid="ignore"):
            if node.op == "sum":
                values = np.nansum(matrix, axis=0)
            elif node.op == "count":
                values = present.astype(np.float64)
            elif node.op == "avg":
                values = np.nansum(matrix, axis=0) / np.maximum(present, 1)
            elif node.op == "min":
                values = np.nanmin(np.where(present > 0, matrix, 0), axis=0)
            else:
                values = np.nanmax(np.where(present > 0, matrix, 0), axis=0)
        out.append(Series(dict(key), np.where(present > 0, values, np.nan)))
    return out


_ARITH = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
}
_FILTER = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def _evaluate(store: LogStore, node: ast.MetricExpr, steps: np.ndarray) -> list[Series]:
    if isinstance(node, ast.RangeAggregation):
        return _range(store, node, steps)
    if isinstance(node, ast.VectorAggregation):
        return _aggregate(node, _evaluate(store, node.inner, steps), len(steps))
    inner = _evaluate(store, node.left, steps)
    out = []
    for series in inner:
        with np.errstate(invalid="ignore", divide="ignore"):
            if node.op in _ARITH:
                values = _ARITH[node.op](series.values, node.number)
            else:
                values = np.where(
                    _FILTER[node.op](series.values, node.number), series.values, np.nan
                )
        if not np.isnan(values).all():
            out.append(Series(series.labels, values))
    return out


def evaluate_range(
    store: LogStore, query: ast.MetricExpr | str, start: int, end: int, step: int
) -> MetricResult:
    """Evaluate a metric query at every ``step`` from ``start`` to ``end`` (ns)."""
    if isinstance(query, str):
        query = parse_metric(query)
    if step <= 0:
        raise QueryError("the step must be positive")
    if (end - start) // step + 1 > MAX_STEPS:
        raise QueryError(f"more than {MAX_STEPS} steps: choose a longer step")
    steps = np.arange(start, end + 1, step, dtype=np.int64)
    return MetricResult(steps, _evaluate(store, query, steps))


def evaluate_instant(
    store: LogStore, query: ast.MetricExpr | str, at: int
) -> list[tuple[dict[str, str], float]]:
    """Evaluate a metric query at one time: (labels, value) per series."""
    result = evaluate_range(store, query, at, at, 1)
    return [(s.labels, float(s.values[0])) for s in result.series]


def histogram(
    store: LogStore, query: ast.LogQuery | str, start: int, end: int, buckets: int = 60
) -> tuple[int, list[tuple[float, int]]]:
    """Matching lines per time bucket: (bucket width ns, [(bucket end s, count)])."""
    if isinstance(query, str):
        query = parse_log_query(query)
    width = max(1, -(-(end - start) // buckets))
    agg = ast.VectorAggregation("sum", ast.RangeAggregation("count_over_time", query, width))
    result = evaluate_range(store, agg, start + width, start + width * buckets, width)
    counts = result.series[0].values if result.series else np.full(len(result.steps), np.nan)
    return width, [
        (t / 1e9, 0 if math.isnan(v) else int(v))
        for t, v in zip(result.steps.tolist(), counts.tolist(), strict=True)
    ]
