"""Parse the Prometheus text format (0.0.4) and OpenMetrics 1.0 text.

Unlike Prometheus, which drops a whole scrape for one bad line, the parser keeps every good
line and reports each bad one with its ``line:column`` and the reason, so that one broken
exporter line does not blind a dashboard. Otherwise it follows Prometheus's parsers:

- label values unescape ``\\\\``, ``\\"`` and ``\\n``; any other escape stays as written;
- values are Go floats (``NaN``, ``+Inf``, ``-Inf``, any case; no ``_`` or hex);
- timestamps are integer milliseconds in the Prometheus format, seconds (a decimal number)
  in OpenMetrics;
- OpenMetrics exemplars are checked for syntax and ignored; ``# EOF`` must end the text;
- OpenMetrics counters are stored under their sample names: family ``foo`` gives
  ``foo_total``, and its ``foo_created`` lines are kept as their own series, as Prometheus
  does when it scrapes (unless its created-timestamp feature flag is on);
- the Prometheus format is lenient with blanks (leading, trailing, around ``{``, ``=``,
  ``,``), OpenMetrics is strict (single spaces, no blank lines, no free comments).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from watchkeeper.metrics.labels import METRIC_NAME, Labels, make_labels

Format = Literal["prometheus", "openmetrics"]
OPENMETRICS_TYPE = "application/openmetrics-text"

PROMETHEUS_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
OPENMETRICS_TYPES = frozenset(
    {"counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"}
)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_QUOTED_REST = re.compile(r'(?:[^"\\]|\\.)*"')  # a label value's text and closing quote
_BLANKS = re.compile(r"[ \t]*")
_TOKEN = re.compile(r"[^ \t]*")
_FLOAT = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?"
    r"|[nN][aA][nN])"
)
_INT = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_PAIR = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
# The common shape of a sample line, parsed in one step; anything else (or anything wrong)
# goes through the token-by-token path, which also finds the position of an error.
_SIMPLE = re.compile(
    rf"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{{((?:{_PAIR}(?:,{_PAIR})*,?)?)\}})?"
    r" ([^ \t#]+)(?: ([^ \t#]+))?"
)
_PAIRS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_LABEL_ESCAPES = re.compile(r'\\([\\"n])')
_HELP_ESCAPES = re.compile(r"\\([\\n])")
_UNESCAPED = {"\\": "\\", '"': '"', "n": "\n"}


@dataclass(frozen=True)
class ParseError:
    """One bad line: 1-based line and column (in characters) and what is wrong there."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class Sample:
    labels: Labels
    value: float
    timestamp_ms: int | None = None


@dataclass
class Family:
    """What the ``HELP``/``TYPE``/``UNIT`` lines say about a metric family."""

    type: str = "unknown"
    help: str = ""
    unit: str = ""


@dataclass
class Exposition:
    samples: list[Sample] = field(default_factory=list)
    families: dict[str, Family] = field(default_factory=dict)
    errors: list[ParseError] = field(default_factory=list)


class _Bad(Exception):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


def format_of(content_type: str) -> Format:
    """Return the format a scrape response's Content-Type names; anything but OpenMetrics
    is read as the Prometheus text format (as Prometheus 2 did)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return "openmetrics" if media == OPENMETRICS_TYPE else "prometheus"


def parse_bytes(body: bytes, fmt: Format = "prometheus") -> Exposition:
    """Parse an exposition as received; a line that is not UTF-8 is reported and skipped."""
    try:
        return parse(body.decode(), fmt)
    except UnicodeDecodeError:
        pass
    lines, bad = [], []
    for number, raw in enumerate(body.split(b"\n"), 1):
        try:
            lines.append(raw.decode())
        except UnicodeDecodeError as exc:
            column = len(raw[: exc.start].decode(errors="replace")) + 1
            bad.append(ParseError(number, column, "the line is not valid UTF-8"))
            lines.append("")  # keeps the numbering; reported above, so not an error below
    result = _Parser(fmt, skip={e.line for e in bad}).run(lines)
    result.errors = sorted(bad + result.errors, key=lambda e: (e.line, e.column))
    return result


def parse(text: str, fmt: Format = "prometheus") -> Exposition:
    """Return the samples of every good line and a ParseError for every bad one."""
    return _Parser(fmt).run(text.split("\n"))


def _unescape(raw: str) -> str:
    return _LABEL_ESCAPES.sub(lambda m: _UNESCAPED[m.group(1)], raw)


class _Parser:
    def __init__(self, fmt: Format, skip: set[int] | None = None) -> None:
        self.om = fmt == "openmetrics"
        self.skip = skip or set()
        self.out = Exposition()
        self.seen: set[tuple[Labels, int | None]] = set()

    def run(self, lines: list[str]) -> Exposition:
        if lines and lines[-1] == "":
            lines = lines[:-1]  # the newline that ends the last line
        eof_at = 0
        for number, line in enumerate(lines, 1):
            if number in self.skip:
                continue
            if eof_at:
                self.out.errors.append(ParseError(number, 1, "text after # EOF"))
                break
            if self.om and line == "# EOF":
                eof_at = number
                continue
            try:
                self._line(line)
            except _Bad as bad:
                self.out.errors.append(ParseError(number, bad.pos + 1, bad.message))
        if self.om and not eof_at:
            self.out.errors.append(
                ParseError(len(lines) + 1, 1, "an OpenMetrics exposition must end with # EOF")
            )
        return self.out

    # -- lines -------------------------------------------------------------------------------

    def _line(self, line: str) -> None:
        if self.om:
            if not line:
                raise _Bad(0, "empty line (not allowed in OpenMetrics)")
            if line.startswith("#"):
                self._om_descriptor(line)
                return
            self._sample(line, 0)
            return
        start = _BLANKS.match(line).end()  # type: ignore[union-attr]
        if start == len(line):
            return
        if line[start] == "#":
            self._prom_comment(line, start)
            return
        self._sample(line, start)

    def _prom_comment(self, line: str, start: int) -> None:
        words = line[start + 1 :].lstrip(" \t")
        keyword = words.split(maxsplit=1)[0] if words.strip() else ""
        if keyword not in ("HELP", "TYPE") or not line[start + 1 : start + 2].isspace():
            return  # an ordinary comment
        self._descriptor(line, line.index(keyword, start) + 4, keyword)

    def _om_descriptor(self, line: str) -> None:
        keyword = line[2:6]
        if not line.startswith("# ") or keyword not in ("HELP", "TYPE", "UNIT"):
            raise _Bad(0, "expected # HELP, # TYPE, # UNIT or # EOF (OpenMetrics has no comments)")
        self._descriptor(line, 6, keyword)

    def _descriptor(self, line: str, pos: int, keyword: str) -> None:
        """Read ``<name> <text>`` after HELP/TYPE/UNIT (``pos`` is just past the keyword)."""
        after = self._space(line, pos, f"expected a metric name after {keyword}")
        name = _NAME.match(line, after)
        if name is None:
            raise _Bad(after, f"expected a metric name after {keyword}")
        end = name.end()
        if end < len(line):
            text_at = self._space(line, end, f"expected a space after the metric name in {keyword}")
        else:
            text_at = end
        text = line[text_at:]
        family = self.out.families.setdefault(name.group(), Family())
        if keyword == "HELP":
            escapes = _LABEL_ESCAPES if self.om else _HELP_ESCAPES
            family.help = escapes.sub(lambda m: _UNESCAPED[m.group(1)], text)
        elif keyword == "TYPE":
            kind = text if self.om else text.strip(" \t")
            allowed = OPENMETRICS_TYPES if self.om else PROMETHEUS_TYPES
            if kind not in allowed:
                raise _Bad(
                    text_at, f'unknown metric type "{kind}" (use {", ".join(sorted(allowed))})'
                )
            family.type = kind
        else:
            if text and not (name.group().endswith("_" + text)):
                raise _Bad(text_at, f'unit "{text}" is not a suffix of the metric name')
            family.unit = text

    # -- samples -----------------------------------------------------------------------------

    def _sample(self, line: str, pos: int) -> None:
        sample = self._simple(line, pos) or self._full(line, pos)
        key = (sample.labels, sample.timestamp_ms)
        if key in self.seen:
            raise _Bad(0, "duplicate sample: this series already has a sample in this exposition")
        self.seen.add(key)
        self.out.samples.append(sample)

    def _simple(self, line: str, pos: int) -> Sample | None:
        """Return the sample of a line of the common shape, or None to take the full path."""
        match = _SIMPLE.fullmatch(line, pos)
        if match is None:
            return None
        name, body, value_text, ts_text = match.groups()
        pairs = {METRIC_NAME: name}
        if body:
            for label, raw in _PAIRS.findall(body):
                if label in pairs:
                    return None
                pairs[label] = _unescape(raw) if "\\" in raw else raw
        try:
            value = self._float(value_text, 0)
            timestamp = None if ts_text is None else self._timestamp(ts_text, 0)
        except _Bad:
            return None
        return Sample(make_labels(pairs), value, timestamp)

    def _full(self, line: str, pos: int) -> Sample:
        name = _NAME.match(line, pos)
        if name is None:
            raise _Bad(pos, "expected a metric name")
        pairs: dict[str, str] = {METRIC_NAME: name.group()}
        pos = name.end()
        brace = self._blanks(line, pos)
        if brace < len(line) and line[brace] == "{":
            pos = self._labels(line, brace + 1, pairs)
        pos = self._space(line, pos, "expected a space and the sample value")
        token = _TOKEN.match(line, pos).group()  # type: ignore[union-attr]
        value = self._float(token, pos)
        pos += len(token)
        timestamp = None
        if pos < len(line):
            pos = self._space(line, pos, "expected a space")
            if pos < len(line) and line[pos] != "#":
                token = _TOKEN.match(line, pos).group()  # type: ignore[union-attr]
                timestamp = self._timestamp(token, pos)
                pos += len(token)
                if pos < len(line):
                    pos = self._space(line, pos, "expected a space")
            if pos < len(line):
                if not self.om or line[pos] != "#":
                    raise _Bad(pos, "unexpected text after the sample")
                self._exemplar(line, pos)
        return Sample(make_labels(pairs), value, timestamp)

    def _labels(self, line: str, pos: int, pairs: dict[str, str]) -> int:
        """Read ``name="value", ...}`` into ``pairs``; return the position after ``}``."""
        while True:
            pos = self._blanks(line, pos)
            if pos < len(line) and line[pos] == "}":
                return pos + 1
            name = _LABEL.match(line, pos)
            if name is None:
                raise _Bad(pos, 'expected a label name or "}"')
            label = name.group()
            if label == METRIC_NAME:
                raise _Bad(pos, "the metric name cannot also be given as the label __name__")
            if label in pairs:
                raise _Bad(pos, f'duplicate label "{label}"')
            pos = self._blanks(line, name.end())
            if pos >= len(line) or line[pos] != "=":
                raise _Bad(pos, f'expected "=" after the label name "{label}"')
            pos = self._blanks(line, pos + 1)
            if pos >= len(line) or line[pos] != '"':
                raise _Bad(pos, f'expected a quoted value for the label "{label}"')
            rest = _QUOTED_REST.match(line, pos + 1)
            if rest is None:
                raise _Bad(pos, f'the value of the label "{label}" has no closing quote')
            raw = rest.group()[:-1]
            pairs[label] = _unescape(raw)
            pos = self._blanks(line, rest.end())
            if pos < len(line) and line[pos] == ",":
                pos += 1
            elif pos >= len(line) or line[pos] != "}":
                raise _Bad(pos, 'expected "," or "}" after a label')

    def _exemplar(self, line: str, pos: int) -> None:
        """Check an OpenMetrics exemplar (`` # {labels} value [timestamp]``); it is ignored."""
        if not line.startswith("# {", pos):
            raise _Bad(pos, 'expected an exemplar ("# {labels} value")')
        pos = self._labels(line, pos + 3, {})
        pos = self._space(line, pos, "expected a space and the exemplar value")
        token = _TOKEN.match(line, pos).group()  # type: ignore[union-attr]
        self._float(token, pos)
        pos += len(token)
        if pos < len(line):
            pos = self._space(line, pos, "expected a space")
            token = _TOKEN.match(line, pos).group()  # type: ignore[union-attr]
            self._timestamp(token, pos)
            if pos + len(token) < len(line):
                raise _Bad(pos + len(token), "unexpected text after the exemplar")

    # -- tokens ------------------------------------------------------------------------------

    def _blanks(self, line: str, pos: int) -> int:
        """Skip optional blanks (Prometheus format only; OpenMetrics allows none)."""
        if self.om:
            return pos
        return _BLANKS.match(line, pos).end()  # type: ignore[union-attr]

    def _space(self, line: str, pos: int, message: str) -> int:
        """Skip the one required separator: one space (OpenMetrics) or blanks."""
        if self.om:
            if line.startswith(" ", pos) and not line.startswith("  ", pos):
                if pos + 1 == len(line):
                    raise _Bad(pos, "trailing space")
                return pos + 1
            raise _Bad(pos, message + (" (exactly one)" if line.startswith(" ", pos) else ""))
        end = _BLANKS.match(line, pos).end()  # type: ignore[union-attr]
        if end == pos:
            raise _Bad(pos, message)
        return end

    def _float(self, token: str, pos: int) -> float:
        if not token:
            raise _Bad(pos, "expected the sample value")
        if _FLOAT.fullmatch(token) is None:
            raise _Bad(pos, f'"{token}" is not a number (use e.g. 1, 1.5e3, NaN, +Inf, -Inf)')
        value = float(token)
        if math.isinf(value) and "n" not in token.lower():
            raise _Bad(pos, f'"{token}" is out of range for a 64-bit float')
        return value

    def _timestamp(self, token: str, pos: int) -> int:
        if self.om:
            if _DECIMAL.fullmatch(token) is None:
                raise _Bad(pos, f'"{token}" is not a timestamp (seconds since the epoch)')
            try:
                ms = int(Decimal(token) * 1000)
            except ArithmeticError:  # InvalidOperation, Overflow
                raise _Bad(pos, f'timestamp "{token}" is out of range') from None
        else:
            if _INT.fullmatch(token) is None:
                raise _Bad(pos, f'"{token}" is not a timestamp (integer milliseconds)')
            ms = int(token)
        if not INT64_MIN <= ms <= INT64_MAX:
            raise _Bad(pos, f'timestamp "{token}" is out of range')
        return ms
