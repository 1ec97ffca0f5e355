"""Templates in labels, annotations and messages: Jinja2 in a sandbox, with Prometheus's
variable names and functions.

``{{ $labels.instance }}``, ``{{ $value | humanize }}`` and ``{{ $externalURL }}`` work as in
Prometheus rule files (a ``$`` before a variable name is accepted and dropped), and so does
any Jinja2 syntax (``{% if $value > 10 %}...{% endif %}``). A template with bad syntax is a
plan error with its file:line; a template that fails while rendering shows its error in the
text instead of losing the notification.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

_BLOCK = re.compile(r"({{.*?(?:}}|\Z)|{%.*?(?:%}|\Z))", re.DOTALL)
_DOLLAR = re.compile(r"\$(?=[A-Za-z_])")


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def humanize(value: Any) -> str:
    """1234567 -> "1.235M", 0.0012 -> "1.2m" (SI prefixes, as Prometheus's humanize)."""
    v = _as_float(value)
    if v is None:
        return str(value)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    if abs(v) >= 1:
        for prefix in ("", "k", "M", "G", "T", "P", "E", "Z"):
            if abs(v) < 1000:
                return f"{v:.4g}{prefix}"
            v /= 1000
        return f"{v:.4g}Y"
    for prefix in ("", "m", "u", "n", "p", "f", "a", "z"):
        if abs(v) >= 1:
            return f"{v:.4g}{prefix}"
        v *= 1000
    return f"{v:.4g}y"


def humanize1024(value: Any) -> str:
    """1048576 -> "1Mi" (binary prefixes)."""
    v = _as_float(value)
    if v is None:
        return str(value)
    if abs(v) < 1 or math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    for prefix in ("", "ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi"):
        if abs(v) < 1024:
            return f"{v:.4g}{prefix}"
        v /= 1024
    return f"{v:.4g}Yi"


def humanize_duration(value: Any) -> str:
    """Seconds -> "1d 2h 3m 4s" (under a second: "12.3ms")."""
    v = _as_float(value)
    if v is None:
        return str(value)
    if math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    if abs(v) < 1:
        return humanize(v) + "s" if v else "0s"
    sign, v = ("-" if v < 0 else ""), abs(v)
    days, rest = divmod(int(v), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    parts.append(f"{seconds}s")
    return sign + " ".join(parts)


def humanize_percentage(value: Any) -> str:
    v = _as_float(value)
    return f"{v * 100:.4g}%" if v is not None else str(value)


def humanize_timestamp(value: Any) -> str:
    v = _as_float(value)
    if v is None or math.isnan(v) or math.isinf(v):
        return str(value)
    return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


FILTERS = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
    "humanizeTimestamp": humanize_timestamp,
    "toUpper": str.upper,
    "toLower": str.lower,
}


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)
    env.filters.update(FILTERS)
    env.globals.update(FILTERS)
    return env


_ENV = _environment()


def translate(source: str) -> str:
    """Drop the ``$`` of Prometheus-style variables inside ``{{ }}`` and ``{% %}``."""
    return _BLOCK.sub(lambda m: _DOLLAR.sub("", m.group(0)), source)


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    return _ENV.from_string(translate(source))


class TemplateProblem(ValueError):
    pass


def check(source: str) -> None:
    """Raise TemplateProblem when ``source`` does not compile."""
    try:
        _compile(source)
    except TemplateSyntaxError as exc:
        where = f"line {exc.lineno} of the template: " if "\n" in source else ""
        raise TemplateProblem(f"template error: {where}{exc.message}") from None


def render(source: str, variables: dict[str, Any]) -> str:
    """Render ``source``; a template that fails shows its error rather than raising."""
    if "{" not in source:
        return source
    try:
        return str(_compile(source).render(variables))
    except TemplateSyntaxError as exc:
        return f"{source} [template error: {exc.message}]"
    except TemplateError as exc:
        return f"{source} [template error: {exc}]"
    except Exception as exc:  # a sandboxed template must never stop a notification
        return f"{source} [template error: {type(exc).__name__}: {exc}]"


def go_float(v: float) -> str:
    """Format ``v`` as Go's ``%v`` does (what ``{{ $value }}`` prints in Prometheus):
    shortest digits, exponent form below 1e-4 and from 1e6 (``1e+06`` for a million)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    sign = "-" if v < 0 else ""
    shortest = repr(abs(v))
    mantissa, _, e = shortest.partition("e")
    if e:
        exp = int(e)
        nd = mantissa.replace(".", "").lstrip("0").rstrip("0") or "0"
    else:
        whole, _, frac = shortest.partition(".")
        frac = frac.rstrip("0")
        raw = (whole.lstrip("0") + frac) if whole.strip("0") else frac
        lead = len(raw) - len(raw.lstrip("0"))
        nd = raw.lstrip("0").rstrip("0") or "0"
        exp = len(whole.lstrip("0")) - 1 if whole.strip("0") else -(lead + 1)
    if exp < -4 or exp >= 6:  # strconv's 'g' with the shortest digits
        body = nd[0] + ("." + nd[1:] if len(nd) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    point = exp + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{nd}"
    if point >= len(nd):
        return f"{sign}{nd}{'0' * (point - len(nd))}"
    return f"{sign}{nd[:point]}.{nd[point:]}"


class Value(float):
    """A sample value that prints as Prometheus prints it (``1``, not ``1.0``)."""

    def __str__(self) -> str:
        return go_float(float(self))


def rule_variables(
    labels: dict[str, str], value: float | None, external_url: str = ""
) -> dict[str, Any]:
    """The variables of a rule's label and annotation templates (Prometheus's names)."""
    return {
        "labels": labels,
        "value": Value(value if value is not None else float("nan")),
        "externalURL": external_url,
        "externalLabels": {},
    }


def _validate(value: Any) -> Any:
    if isinstance(value, str):
        try:
            check(value)
        except TemplateProblem as exc:
            raise PydanticCustomError("template", "{reason}", {"reason": str(exc)}) from None
    return value


Template = Annotated[str, AfterValidator(_validate)]
"""A template string (Jinja2 with Prometheus-style ``$labels`` / ``$value``), checked when
the plan is loaded."""
