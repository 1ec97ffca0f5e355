"""Alertmanager-style label matchers written as text: ``severity="critical"``,
``team=~"db|ops"``, ``env!=staging`` (quotes optional for simple values).

Used by routes, inhibition rules, maintenance windows and silences; matching itself is the
PromQL matcher (``metrics/labels.py``), so regular expressions are fully anchored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from watchkeeper.metrics.labels import LABEL_RE, Matcher, MatchOp

_MATCHER = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*
        (?P<value>"(?:[^"\\]|\\.)*"|[^"\s,{}]*)\s*$""",
    re.VERBOSE,
)


class MatcherError(ValueError):
    pass


def parse_matcher(text: str) -> Matcher:
    """Return the Matcher written as ``name<op>value``; raise MatcherError saying why not."""
    found = _MATCHER.match(text)
    if found is None:
        raise MatcherError(
            f'"{text}" is not a label matcher (write name="value", name!="value", '
            'name=~"regex" or name!~"regex")'
        )
    raw = found.group("value")
    value = raw
    if raw.startswith('"'):
        try:
            value = json.loads(raw)
        except ValueError:
            raise MatcherError(f'"{text}": the quoted value is not a valid string') from None
    op: MatchOp = found.group("op")  # type: ignore[assignment]
    try:
        return Matcher(found.group("name"), op, value)
    except re.error as exc:
        raise MatcherError(
            f'"{text}": "{value}" is not a valid regular expression ({exc})'
        ) from None


def parse_matchers(texts: Iterable[str]) -> list[Matcher]:
    return [parse_matcher(t) for t in texts]


def format_matcher(m: Matcher) -> str:
    return f"{m.name}{m.op}{json.dumps(m.value)}"


def matches(labels: Mapping[str, str], matchers: Iterable[Matcher]) -> bool:
    """True when every matcher matches (a missing label matches as the empty string)."""
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def _check(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parse_matcher(value)
        except MatcherError as exc:
            raise PydanticCustomError("matcher", "{reason}", {"reason": str(exc)}) from None
    return value


LabelMatcher = Annotated[str, AfterValidator(_check)]
"""A label matcher written as text, checked when the plan is loaded."""


def _check_label_name(value: Any) -> Any:
    if isinstance(value, str) and value != "..." and not LABEL_RE.match(value):
        raise PydanticCustomError(
            "label_name", '"{value}" is not a valid label name', {"value": value}
        )
    return value


LabelName = Annotated[str, AfterValidator(_check_label_name)]
