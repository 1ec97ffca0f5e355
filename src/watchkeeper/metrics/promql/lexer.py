"""Split a PromQL query into tokens, the way Prometheus 3.x's lexer does.

Keywords are not decided here: every word is an ``IDENT`` token and the parser gives it a
meaning from its position (``sum`` is an aggregation before ``(``, a label name inside
``by (...)``), which is how PromQL lets most keywords double as label names. Inside ``{...}``
words cannot contain ``:`` (label names); inside ``[...]`` a ``:`` separates a subquery's
range from its step instead of starting a metric name.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from watchkeeper.metrics.promql.errors import PromQLError

NUMBER = "NUMBER"
DURATION = "DURATION"
STRING = "STRING"
IDENT = "IDENT"
EOF = "EOF"

_HEX = re.compile(r"0[xX]_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*")
_DECIMAL = re.compile(
    r"(?:\d+(?:_\d+)*(?:\.(?:\d+(?:_\d+)*)?)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+(?:_\d+)*)?"
)
_DURATION = re.compile(r"\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*")
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SYMBOLS = ("==", "!=", "<=", ">=", "=~", "!~", "+", "-", "*", "/", "%", "^", "<", ">", "=")
_PUNCTUATION = "(),{}[]:@"
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}

_MS_PER_UNIT = {
    "y": 365 * 86_400_000,
    "w": 7 * 86_400_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1_000,
    "ms": 1,
}
_UNIT_ORDER = list(_MS_PER_UNIT)
MAX_DURATION_MS = 2**62


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``kind`` is NUMBER, DURATION, STRING, IDENT, EOF or the symbol itself
    (``"+"``, ``"=~"``, ``"("``); ``value`` is a string literal's decoded text."""

    kind: str
    text: str
    pos: int
    value: str = ""

    @property
    def end(self) -> int:
        return self.pos + len(self.text)

    def describe(self) -> str:
        """Describe the token for an error message, as Prometheus does."""
        if self.kind == EOF:
            return "end of input"
        if self.kind == IDENT:
            return f'identifier "{self.text}"'
        if self.kind in (NUMBER, DURATION, STRING):
            return f"{self.kind.lower()} {self.text}"
        return f'"{self.text}"'


def parse_duration(text: str, position: int = 0, query: str = "") -> int:
    """Return a duration such as ``1h30m`` in milliseconds; raise PromQLError unless its units
    come from largest to smallest (``y w d h m s ms``), each at most once."""
    if not _DURATION.fullmatch(text):
        raise PromQLError(f'not a valid duration string: "{text}"', position, query)
    total, last = 0, -1
    for count, unit in _DURATION_PART.findall(text):
        index = _UNIT_ORDER.index(unit)
        if index <= last:
            raise PromQLError(f'not a valid duration string: "{text}"', position, query)
        last = index
        total += int(count) * _MS_PER_UNIT[unit]
    if total > MAX_DURATION_MS:
        raise PromQLError(f'duration out of range: "{text}"', position, query)
    return total


def parse_number(text: str) -> float:
    """Return a number literal's value: decimal or float, hex (``0x1f``), octal with a leading
    zero (``0755``, as Go's ParseInt reads it), with optional ``_`` between digits."""
    digits = text.replace("_", "")
    if digits[:2] in ("0x", "0X"):
        return float(int(digits, 16))
    if len(digits) > 1 and digits[0] == "0" and all(c in "01234567" for c in digits):
        return float(int(digits, 8))
    return float(digits)


class Lexer:
    """Produce the tokens of one query; raise PromQLError at the first character it cannot
    read."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.pos = 0
        self.in_braces = False
        self.in_brackets = False

    def error(self, message: str, position: int) -> PromQLError:
        return PromQLError(message, position, self.query)

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        while True:
            token = self.next_token()
            out.append(token)
            if token.kind == EOF:
                return out

    def next_token(self) -> Token:
        query = self.query
        while self.pos < len(query):
            ch = query[self.pos]
            if ch in " \t\r\n":
                self.pos += 1
            elif ch == "#":
                newline = query.find("\n", self.pos)
                self.pos = len(query) if newline < 0 else newline
            else:
                break
        start = self.pos
        if start >= len(query):
            if self.in_braces:
                raise self.error("unexpected end of input inside braces", start)
            return Token(EOF, "", start)
        ch = query[start]
        if ch in "\"'`":
            return self.string(ch)
        if ch.isascii() and (
            ch.isdigit() or (ch == "." and query[start + 1 : start + 2].isdigit())
        ):
            return self.number_or_duration()
        if self.in_braces:
            return self.inside_braces(ch)
        if ch == ":" and self.in_brackets:
            return self.emit(":")
        word = _IDENT.match(query, start)
        if word:
            self.pos = word.end()
            return Token(IDENT, word.group(), start)
        for symbol in _SYMBOLS:
            if query.startswith(symbol, start):
                return self.emit(symbol)
        if ch == "!":
            raise self.error(
                f"unexpected character after '!': {query[start + 1 : start + 2]!r}", start
            )
        if ch in _PUNCTUATION:
            if ch == "{":
                self.in_braces = True
            elif ch == "[":
                if self.in_brackets:
                    raise self.error("unexpected left bracket '['", start)
                self.in_brackets = True
            elif ch == "]":
                self.in_brackets = False
            return self.emit(ch)
        raise self.error(f"unexpected character: {ch!r}", start)

    def emit(self, symbol: str) -> Token:
        token = Token(symbol, symbol, self.pos)
        self.pos += len(symbol)
        return token

    def inside_braces(self, ch: str) -> Token:
        """Label matchers: label names (no ``:``), matcher operators, commas and ``}``."""
        start = self.pos
        match = _LABEL.match(self.query, start)
        if match:
            self.pos = match.end()
            return Token(IDENT, match.group(), start)
        for symbol in ("=~", "!~", "!=", "=", ","):
            if self.query.startswith(symbol, start):
                return self.emit(symbol)
        if ch == "}":
            self.in_braces = False
            return self.emit("}")
        raise self.error(f"unexpected character inside braces: {ch!r}", start)

    def number_or_duration(self) -> Token:
        start, query = self.pos, self.query
        for kind, pattern in ((NUMBER, _HEX), (NUMBER, _DECIMAL), (DURATION, _DURATION)):
            match = pattern.match(query, start)
            if match and not _is_word_char(query[match.end() : match.end() + 1]):
                self.pos = match.end()
                return Token(kind, match.group(), start)
        end = start
        while end < len(query) and _is_word_char(query[end]):
            end += 1
        raise self.error(f'bad number or duration syntax: "{query[start:end]}"', start)

    def string(self, quote: str) -> Token:
        start, query = self.pos, self.query
        pos = start + 1
        if quote == "`":
            end = query.find("`", pos)
            if end < 0:
                raise self.error("unterminated raw string", start)
            self.pos = end + 1
            return Token(STRING, query[start : end + 1], start, query[pos:end])
        chars: list[str] = []
        while True:
            if pos >= len(query) or query[pos] == "\n":
                raise self.error("unterminated quoted string", start)
            ch = query[pos]
            if ch == quote:
                break
            if ch == "\\":
                decoded, pos = self.escape(pos + 1, quote, start)
                chars.append(decoded)
                continue
            chars.append(ch)
            pos += 1
        self.pos = pos + 1
        return Token(STRING, query[start : pos + 1], start, "".join(chars))

    def escape(self, pos: int, quote: str, start: int) -> tuple[str, int]:
        """Decode the escape sequence after a backslash at ``pos - 1`` (Go's rules)."""
        query = self.query
        if pos >= len(query):
            raise self.error("escape sequence not terminated", start)
        ch = query[pos]
        if ch in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[ch], pos + 1
        if ch in ("\\", quote):
            return ch, pos + 1
        if ch in "01234567":
            digits, base, first = 3, 8, pos
        elif ch in _HEX_ESCAPES:
            digits, base, first = _HEX_ESCAPES[ch], 16, pos + 1
        else:
            raise self.error(f"unknown escape sequence U+{ord(ch):04X} {ch!r}", start)
        text = query[first : first + digits]
        valid = "01234567" if base == 8 else string.hexdigits
        if len(text) < digits or any(c not in valid for c in text):
            raise self.error("escape sequence not terminated or malformed", start)
        code = int(text, base)
        limit = 255 if base == 8 or ch == "x" else 0x10FFFF
        if code > limit or 0xD800 <= code < 0xE000:
            raise self.error("escape sequence is an invalid Unicode code point", start)
        return chr(code), first + digits


def _is_word_char(ch: str) -> bool:
    return ch != "" and ch.isascii() and (ch.isalnum() or ch == "_")


def tokenize(query: str) -> list[Token]:
    """Return the tokens of ``query``, ending with an EOF token; raise PromQLError."""
    return Lexer(query).tokens()
