"""``watchkeeper rules test``: alert rule unit tests written like ``promtool test rules`` files.

A test file names plan files (``rule_files``, relative to the test file; globs allowed) and
groups of tests. Each group loads its input series (promtool's expanding notation), evaluates
the plans' PromQL rules from time 0 every ``evaluation_interval`` with the same
:func:`~watchkeeper.alerts.rules.step` the server uses, and compares the alerts firing at each
``eval_time`` (``alert_rule_test``) and query results (``promql_expr_test``) with the test's.

As in promtool: ``exp_labels`` are the alert's labels without ``alertname`` (taken from the
case's ``alertname``); alerts are compared with their annotations, in any order; an alert is
checked after the last evaluation at or before its ``eval_time``; rules write ``ALERTS``
series that ``promql_expr_test`` can query; ``external_labels`` are only seen by templates
(``$externalLabels``) and ``external_url`` is ``$externalURL``; ``group_eval_order`` is
accepted and ignored (a plan has no rule groups). Differences: a Watchkeeper alert always
has a ``severity`` label (the rule's, default ``warning``), so expect it; each rule's own
``interval`` is ignored (every rule runs every ``evaluation_interval``); sample values are
always compared with a relative tolerance of 1e-9 (``fuzzy_compare`` is accepted: our engine
may differ from Prometheus's in the last bits). Check-state rules (``check:``, ``heartbeat:``)
follow check results, not series: an ``alert_rule_test`` of one is reported as skipped.
"""

from __future__ import annotations

import glob
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from watchkeeper.alerts.config import AlertRule, PromQL
from watchkeeper.alerts.rules import Active, query_results, step
from watchkeeper.alerts.templating import go_float
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.metrics.labels import METRIC_NAME, STALE_NAN, Labels, make_labels
from watchkeeper.metrics.promql import ast
from watchkeeper.metrics.promql.engine import Engine
from watchkeeper.metrics.promql.errors import EvaluationError, PromQLError
from watchkeeper.metrics.promql.parser import parse
from watchkeeper.metrics.promql.values import Scalar, Vector
from watchkeeper.metrics.source import MemorySource
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.explain import explain
from watchkeeper.plan.loader import PlanInvalid, load_plan_file
from watchkeeper.plan.source import SourceDocument, SourceProblem, format_path, parse_plan_text
from watchkeeper.plan.types import Duration, format_duration

MAX_SAMPLES_PER_SERIES = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REL_TOLERANCE = 1e-9

# -- promtool's series notation ---------------------------------------------------------------

_UNSIGNED = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_ITEM = re.compile(
    rf"(?:(?P<blank>_)|(?P<start>[+-]?(?:{_UNSIGNED}|(?i:inf|nan))|stale))"
    rf"(?:(?P<delta>[+-]{_UNSIGNED})?x(?P<times>\d+))?"
)
_VALUE_HELP = 'use a number, "_", "stale", "a+bxn", "a-bxn" or "axn"'


class NotationError(ValueError):
    """A series or values string that promtool's notation does not allow; ``position`` is
    the 1-based character where the problem starts."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def expand_values(text: str) -> list[float | None]:
    """Return the samples of a ``values`` string, one per interval (None: missing).

    ``1+2x3`` is ``1 3 5 7``, ``5-1x2`` is ``5 4 3``, ``1x3`` is ``1 1 1 1``, ``_x2`` is two
    missing samples and ``stale`` a staleness marker. Raise NotationError otherwise."""
    out: list[float | None] = []
    for match in re.finditer(r"\S+", text):
        token, where = match.group(), match.start() + 1
        item = _ITEM.fullmatch(token)
        if item is None:
            if token.startswith("{{"):
                raise NotationError("native histogram samples are not supported", where)
            raise NotationError(f'"{token}" is not a value ({_VALUE_HELP})', where)
        times = item["times"]
        if item["blank"]:
            if item["delta"]:
                raise NotationError(f'"{token}": a missing sample cannot be incremented', where)
            out.extend([None] * (int(times) if times is not None else 1))
        else:
            start = item["start"]
            if start == "stale" and item["delta"]:
                raise NotationError(f'"{token}": a stale marker cannot be incremented', where)
            value = STALE_NAN if start == "stale" else float(start)
            delta = float(item["delta"] or 0)
            for _ in range(int(times) + 1 if times is not None else 1):
                out.append(value)
                value += delta
        if len(out) > MAX_SAMPLES_PER_SERIES:
            raise NotationError(
                f'"{token}" makes the series longer than {MAX_SAMPLES_PER_SERIES:,} samples',
                where,
            )
    return out


def parse_series(text: str) -> Labels:
    """Return the label set of ``metric{label="value", ...}`` (``{}`` or "" for none).

    Raise NotationError when ``text`` is not such a series."""
    if text.strip() in ("", "{}"):
        return ()
    try:
        expr = parse(text)
    except PromQLError as exc:
        raise NotationError(exc.message, (exc.position or 0) + 1) from None
    if not isinstance(expr, ast.VectorSelector) or expr.offset_ms or expr.at is not None:
        raise NotationError('not a series (write metric{label="value", ...})', 1)
    for matcher in expr.matchers:
        if matcher.op != "=":
            raise NotationError(
                f'label {matcher.name}: a series has values, not matchers ("{matcher.op}")',
                expr.pos + 1,
            )
    names = [m.name for m in expr.matchers]
    for name in names:
        if names.count(name) > 1:
            raise NotationError(f"label {name} is set twice", expr.pos + 1)
    return make_labels((m.name, m.value) for m in expr.matchers)


# -- the test file ----------------------------------------------------------------------------


def _text(value: Any) -> Any:
    """A YAML scalar as Go's YAML reads it into a string: ``500`` -> "500", true -> "true"."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


Text = Annotated[str, BeforeValidator(_text)]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]


def _valid_series(value: str) -> str:
    try:
        parse_series(value)
    except NotationError as exc:
        raise PydanticCustomError(
            "series", "{reason} (at character {at})", {"reason": exc.message, "at": exc.position}
        ) from None
    return value


SeriesText = Annotated[str, AfterValidator(_valid_series)]


class _Spec(PlanModel):
    @model_validator(mode="before")
    @classmethod
    def _blank_is_default(cls, data: Any) -> Any:
        # `exp_alerts:` with nothing after it means none, as in promtool. Changed in place:
        # the loader maps problems back to the file by the dict's identity.
        if isinstance(data, dict):
            for key in [k for k, v in data.items() if v is None]:
                del data[key]
        return data


class InputSeries(_Spec):
    """One input series and its samples, in promtool's expanding notation."""

    series: SeriesText = Field(description='The series, e.g. `up{job="api", instance="a:80"}`.')
    values: Text = Field(description="Samples, one per interval: `1 1 0`, `1+2x3`, `_`, `stale`.")

    @field_validator("values")
    @classmethod
    def _values(cls, value: str, info: ValidationInfo) -> str:
        try:
            expand_values(value)
        except NotationError as exc:
            series = info.data.get("series", "?")
            raise PydanticCustomError(
                "values",
                "series {series}: {reason} (at character {at})",
                {"series": series, "reason": exc.message, "at": exc.position},
            ) from None
        return value


class ExpectedAlert(_Spec):
    exp_labels: dict[str, Text] = Field(default_factory=dict)
    exp_annotations: dict[str, Text] = Field(default_factory=dict)


class AlertCase(_Spec):
    eval_time: Duration
    alertname: str = Field(min_length=1)
    exp_alerts: list[ExpectedAlert] = Field(default_factory=list)


class ExpectedSample(_Spec):
    labels: SeriesText = ""
    value: float


class PromQLCase(_Spec):
    expr: PromQL
    eval_time: Duration
    exp_samples: list[ExpectedSample] = Field(default_factory=list)


class RuleTestGroup(_Spec):
    name: str = ""
    interval: PositiveDuration | None = None
    input_series: list[InputSeries] = Field(default_factory=list)
    alert_rule_test: list[AlertCase] = Field(default_factory=list)
    promql_expr_test: list[PromQLCase] = Field(default_factory=list)
    external_labels: dict[str, Text] = Field(default_factory=dict)
    external_url: str = ""


class RuleTestSpec(_Spec):
    rule_files: list[str] = Field(default_factory=list)
    evaluation_interval: PositiveDuration = timedelta(minutes=1)
    fuzzy_compare: bool = False
    group_eval_order: list[str] = Field(default_factory=list)
    tests: list[RuleTestGroup] = Field(default_factory=list)


class RuleTestInvalid(ValidationFailed):
    """A test file (or a plan it names) has problems; ``problems`` lists all of them."""

    def __init__(self, problems: list[SourceProblem]) -> None:
        super().__init__(
            f"{len(problems)} problem(s) in rule test file",
            [(p.path, p.message) for p in problems],
        )
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


@dataclass(frozen=True)
class RuleTests:
    """A valid test file and the alert rules of the plans it names."""

    file: str
    spec: RuleTestSpec
    rules: list[AlertRule]


def _rule_files(doc: SourceDocument, base: Path) -> tuple[list[Path], list[SourceProblem]]:
    """The plan files ``rule_files`` names (globs expanded), and one problem per entry that
    matches no file."""
    entries = doc.data.get("rule_files") if isinstance(doc.data, dict) else None
    paths: list[Path] = []
    problems = []
    for i, pattern in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(pattern, str):
            continue  # validation reports it
        full = Path(pattern).expanduser()
        full = full if full.is_absolute() else base / full
        is_glob = any(c in pattern for c in "*?[")
        if is_glob:
            found = [Path(p) for p in sorted(glob.glob(str(full)))]
        else:
            found = [full] if full.is_file() else []
        if not found:
            where = ("rule_files", i)
            message = f"no file matches {full}" if is_glob else f"no file {full}"
            problems.append(
                SourceProblem(doc.file, doc.position(where), format_path(where), message)
            )
        paths += found
    return paths, problems


def load_rule_tests(path: Path, env: Mapping[str, str] | None = None) -> RuleTests:
    """Return the tests in ``path`` with their rules; raise RuleTestInvalid listing every
    problem of the test file (or of the plan files it names) with file:line:column."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problem = SourceProblem(str(path), None, "", f"cannot read: {reason}")
        raise RuleTestInvalid([problem]) from None
    doc = parse_plan_text(text, file=str(path), env=env, base_dir=path.parent)
    if doc.data is None and doc.problems:
        raise RuleTestInvalid(doc.problems)
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        message = "a rule test file must be a mapping (rule_files, evaluation_interval, tests)"
        raise RuleTestInvalid([SourceProblem(doc.file, doc.position(()), "", message)])
    plan_files, problems = _rule_files(doc, path.parent)
    problems += doc.problems
    context: dict[str, Any] = {}
    spec = None
    try:
        spec = RuleTestSpec.model_validate(data, context=context)
    except ValidationError as exc:
        for where, message, is_key in explain(exc, data, context):
            pos = doc.position(where, key=is_key)
            problems.append(SourceProblem(doc.file, pos, format_path(where), message))
    if spec is None or problems:
        problems.sort(key=lambda p: (p.position.line, p.position.column) if p.position else (0, 0))
        raise RuleTestInvalid(problems)
    rules: list[AlertRule] = []
    for plan_file in plan_files:
        try:
            rules += load_plan_file(plan_file, env=env).plan.alerts.rules
        except PlanInvalid as exc:
            problems += exc.problems
    if problems:
        raise RuleTestInvalid(problems)
    return RuleTests(doc.file, spec, rules)


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One expectation: ``lines`` explain a failure or a skip."""

    title: str
    status: Literal["pass", "fail", "skip"]
    lines: tuple[str, ...] = ()


@dataclass
class GroupResult:
    title: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(o.status == "fail" for o in self.outcomes)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


@dataclass
class FileResult:
    file: str
    groups: list[GroupResult]

    @property
    def failed(self) -> bool:
        return any(g.failed for g in self.groups)


def _ms(value: timedelta) -> int:
    return round(value.total_seconds() * 1000)


def _when(ms: int) -> str:
    return format_duration(timedelta(milliseconds=ms))


def format_labels(labels: Iterable[tuple[str, str]]) -> str:
    """``up{instance="a:80", job="api"}``: the metric name first, then the labels sorted."""
    pairs = sorted(labels)
    name = next((v for k, v in pairs if k == METRIC_NAME), "")
    inner = ", ".join(
        f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in pairs if k != METRIC_NAME
    )
    return f"{name}{{{inner}}}" if inner or not name else name


AlertView = tuple[Labels, Labels]


def _diff(expected: list[Any], got: list[Any], show: Any, same: Any) -> list[str]:
    """``exp``/``got`` listings, ``-`` marking what is expected but missing and ``+`` what
    came but was not expected."""
    unmatched = set(range(len(got)))
    missing = set()
    for i, item in enumerate(expected):
        twin = next((j for j in sorted(unmatched) if same(item, got[j])), None)
        if twin is None:
            missing.add(i)
        else:
            unmatched.discard(twin)
    lines = ["exp:" + (" (none)" if not expected else "")]
    lines += [f"  {'-' if i in missing else ' '} {show(e)}" for i, e in enumerate(expected)]
    lines.append("got:" + (" (none)" if not got else ""))
    lines += [f"  {'+' if j in unmatched else ' '} {show(g)}" for j, g in enumerate(got)]
    return lines


def _show_alert(alert: AlertView) -> str:
    return f"{format_labels(alert[0])} annotations {format_labels(alert[1])}"


def _show_sample(sample: tuple[Labels, float]) -> str:
    return f"{format_labels(sample[0])} {go_float(sample[1])}"


def _same_sample(a: tuple[Labels, float], b: tuple[Labels, float]) -> bool:
    if a[0] != b[0]:
        return False
    if math.isnan(a[1]) or math.isnan(b[1]):
        return math.isnan(a[1]) and math.isnan(b[1])
    return math.isclose(a[1], b[1], rel_tol=REL_TOLERANCE)


# -- running ----------------------------------------------------------------------------------


def _bind_external_labels(rule: AlertRule, external: Mapping[str, str]) -> AlertRule:
    """``rule`` with ``$externalLabels`` set in its templates (``step`` renders it empty)."""
    if not external:
        return rule
    prelude = "{% set externalLabels = " + json.dumps(dict(external)) + " %}"

    def bind(templates: Mapping[str, str]) -> dict[str, str]:
        return {k: prelude + t if "externalLabels" in t else t for k, t in templates.items()}

    return rule.model_copy(
        update={"labels": bind(rule.labels), "annotations": bind(rule.annotations)}
    )


def _write_alerts(
    source: MemorySource, alerts: Mapping[str, Active], before: set[Labels], now_ms: int
) -> set[Labels]:
    """Append the ``ALERTS`` samples of one evaluation, and staleness markers for the series
    that ended; return the series written."""
    series = {
        make_labels({**a.labels, METRIC_NAME: "ALERTS", "alertstate": a.state})
        for a in alerts.values()
    }
    for labels in series:
        source.add(labels, [now_ms], [1.0])
    for labels in before - series:
        source.add(labels, [now_ms], [STALE_NAN])
    return series


class _Group:
    def __init__(self, tests: RuleTests, index: int) -> None:
        self.group = tests.spec.tests[index]
        self.eval_ms = _ms(tests.spec.evaluation_interval)
        interval = self.group.interval or tests.spec.evaluation_interval
        self.source = MemorySource()
        for item in self.group.input_series:
            values = expand_values(item.values)
            points = [(i * _ms(interval), v) for i, v in enumerate(values) if v is not None]
            if points:
                self.source.add(
                    parse_series(item.series), [t for t, _ in points], [v for _, v in points]
                )
        self.engine = Engine(self.source, subquery_step_ms=self.eval_ms)
        external = self.group.external_labels
        self.rules = [_bind_external_labels(r, external) for r in tests.rules if r.is_promql]
        self.check_rules = {r.name for r in tests.rules if not r.on_interval}
        self.log_rules = {r.name for r in tests.rules if r.kind in ("logs", "errors")}
        title = f"tests[{index}]"
        self.result = GroupResult(f"{title} {self.group.name}" if self.group.name else title)

    def run(self) -> GroupResult:
        cases = self.group.alert_rule_test
        times = [_ms(c.eval_time) for c in cases]
        times += [_ms(c.eval_time) for c in self.group.promql_expr_test]
        due: dict[int, list[AlertCase]] = {}
        for case in sorted(cases, key=lambda c: c.eval_time):
            due.setdefault(_ms(case.eval_time) // self.eval_ms, []).append(case)
        active: list[dict[str, Active]] = [{} for _ in self.rules]
        written: list[set[Labels]] = [set() for _ in self.rules]
        for k in range(max(times, default=-1) // self.eval_ms + 1):
            now_ms = k * self.eval_ms
            now = EPOCH + timedelta(milliseconds=now_ms)
            for i, rule in enumerate(self.rules):
                try:
                    results = query_results(self.engine, rule.promql(), now_ms)
                except (PromQLError, EvaluationError) as exc:
                    title = f"rule: {rule.name}, time: {_when(now_ms)}"
                    self.result.outcomes.append(Outcome(title, "fail", (f"error: {exc}",)))
                    return self.result  # later evaluations would build on a wrong state
                active[i], _ = step(rule, active[i], results, now, self.group.external_url)
                written[i] = _write_alerts(self.source, active[i], written[i], now_ms)
            for case in due.get(k, []):
                self.result.outcomes.append(self._check_alerts(case, active))
        for promql_case in self.group.promql_expr_test:
            self.result.outcomes.append(self._check_query(promql_case))
        return self.result

    def _check_alerts(self, case: AlertCase, active: list[dict[str, Active]]) -> Outcome:
        name = case.alertname
        title = f"alertname: {name}, time: {format_duration(case.eval_time)}"
        rules = [i for i, r in enumerate(self.rules) if r.name == name]
        if not rules and name in self.check_rules:
            note = (
                f'skipped: "{name}" is a check-state rule (check: or heartbeat:); its '
                "alerts follow check results, which rule unit tests do not simulate"
            )
            return Outcome(title, "skip", (note,))
        if not rules and name in self.log_rules:
            note = (
                f'skipped: "{name}" is a log or error rule (logs:, errors:); rule unit tests '
                "do not simulate logs or error events"
            )
            return Outcome(title, "skip", (note,))
        alerts = [a for i in rules for a in active[i].values()]
        got = sorted(
            (make_labels(a.labels), make_labels(a.annotations))
            for a in alerts
            if a.state == "firing"
        )
        expected = sorted(
            (
                make_labels({**e.exp_labels, "alertname": name}),
                make_labels(e.exp_annotations),
            )
            for e in case.exp_alerts
        )
        if got == expected:
            return Outcome(title, "pass")
        lines = _diff(expected, got, _show_alert, lambda a, b: a == b)
        pending = [a for a in alerts if a.state == "pending"]
        for alert in pending:
            since = _when(_ms(alert.active_at - EPOCH))
            shown = format_labels(alert.labels.items())
            lines.append(f"pending (not firing yet, since {since}): {shown}")
        if not rules:
            lines.append(f'note: no PromQL rule named "{name}" in the rule files')
        return Outcome(title, "fail", tuple(lines))

    def _check_query(self, case: PromQLCase) -> Outcome:
        at = _ms(case.eval_time)
        title = f"expr: {json.dumps(case.expr)}, time: {format_duration(case.eval_time)}"
        try:
            result = self.engine.instant(case.expr, at)
        except (PromQLError, EvaluationError) as exc:
            return Outcome(title, "fail", (f"error: {exc}",))
        if isinstance(result, Vector):
            got = sorted((s.labels, s.value) for s in result.samples)
        elif isinstance(result, Scalar):
            got = [((), result.value)]
        else:
            return Outcome(
                title, "fail", ("error: the expression must return a vector or a scalar",)
            )
        expected = sorted((parse_series(s.labels), s.value) for s in case.exp_samples)
        pairs = len(got) == len(expected) and all(
            _same_sample(a, b) for a, b in zip(expected, got, strict=True)
        )
        if pairs:
            return Outcome(title, "pass")
        return Outcome(title, "fail", tuple(_diff(expected, got, _show_sample, _same_sample)))


def run_rule_tests(tests: RuleTests) -> FileResult:
    """Run every test group of ``tests``; the result says what passed, failed and why."""
    return FileResult(tests.file, [_Group(tests, i).run() for i in range(len(tests.spec.tests))])


def run_rule_test_file(path: Path, env: Mapping[str, str] | None = None) -> FileResult:
    """Load and run the test file ``path``; raise RuleTestInvalid when it (or a plan file it
    names) has problems."""
    return run_rule_tests(load_rule_tests(path, env))
