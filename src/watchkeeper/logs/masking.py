"""Masking personal data and secrets before a line is stored.

A :class:`Mask` replaces what it finds in a text, and for the key/value masks
(``bearer_token``, ``password_field``) also the whole value of a field whose *name* says it
holds a secret (``password``, ``user.api_key``...), since a parsed JSON or logfmt value no
longer carries its key. Built-ins avoid false positives where a check is cheap: card numbers
must pass the Luhn check and IBANs the ISO 7064 mod-97 check.
"""

from __future__ import annotations

import re
from collections.abc import Callable

BUILTIN_REPLACEMENTS = {
    "email": "[email]",
    "card_number": "[card]",
    "iban": "[iban]",
    "ipv4": "[ipv4]",
    "bearer_token": "[token]",
    "password_field": "[password]",
}
"""The built-in masks and their default replacement text."""
BUILTINS = tuple(BUILTIN_REPLACEMENTS)

_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,8}\.[A-Za-z]{2,24}\b"
)
# The patterns start with a plain character class and check what precedes with a
# lookbehind *after* it: the regex engine can then skip quickly to candidate characters.
# 13 to 19 digits with single spaces or dashes between, not part of a word or a decimal:
_CARD = re.compile(r"[0-9](?<![\w.][0-9])(?:[ -]?[0-9]){12,18}(?!\w)")
_IBAN = re.compile(
    r"[A-Z](?<![A-Za-z0-9_][A-Z])[A-Z][0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?"
    r"(?![A-Za-z0-9_])"
)
_IPV4 = re.compile(r"[0-9](?<![\w.][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?!\.?[0-9]|\w)")
_VALUE = r"""(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"'&,;]+))"""
_SEP = r"""(["']?\s*[=:]\s*)"""
# Key/value masks match from the secret word on (the rest of a longer key before it
# stays): `x_api_key=abc` -> `x_api_key=[token]`.
_TOKEN_PAIR = re.compile(
    rf"([TtAaSs](?i:oken|pi[_-]?key|pikey|ccess[_-]?key|ecret[_-]?key)){_SEP}{_VALUE}"
)
_PASSWORD_PAIR = re.compile(rf"([PpSs](?i:assword|asswd|assphrase|wd|ecret)[\w.-]*+){_SEP}{_VALUE}")
_AUTHORIZATION = re.compile(
    r"""([Aa](?i:uthorization)["']?\s*[:=]\s*["']?)"""
    r"""(?:((?i:basic|digest|bearer|token|apikey))(\s+))?([^\s"',;]+)"""
)
_BEARER = re.compile(r"([Bb](?i:earer)\s+)[A-Za-z0-9\-._~+/]+=*")
# Field names that hold a secret as a whole value.
_TOKEN_NAME = re.compile(
    r"(?i)[\w.-]*(?:token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|authorization)"
)
_PASSWORD_NAME = re.compile(r"(?i)[\w.-]*(?:password|passwd|passphrase|pwd|secret)[\w.-]*")
_PASSWORD_WORDS = ("pass", "pwd", "secret")
_NOT_DIGITS = bytes(c for c in range(256) if not 48 <= c <= 57)

Replace = Callable[[str], str]


def _digits(text: str) -> int:
    """Return how many ASCII digits ``text`` holds (a fast pre-check for the digit masks)."""
    return len(text.encode("utf-8", "surrogatepass").translate(None, _NOT_DIGITS))


class Mask:
    """One mask: :meth:`text` masks a message or field value, :meth:`field` a field given
    its name."""

    __slots__ = ("name", "_apply", "_name_rx", "_replacement", "_names", "_min_len")

    def __init__(
        self,
        name: str,
        apply: Replace,
        replacement: str,
        name_rx: re.Pattern[str] | None = None,
        min_len: int = 1,
    ) -> None:
        self.name = name
        self._apply = apply
        self._replacement = replacement
        self._name_rx = name_rx
        self._names: dict[str, bool] = {}
        self._min_len = min_len

    def text(self, value: str) -> str:
        """Return ``value`` with what this mask finds replaced."""
        return value if len(value) < self._min_len else self._apply(value)

    @property
    def min_len(self) -> int:
        """Texts shorter than this cannot hold what the mask looks for."""
        return self._min_len

    def secret_name(self, name: str) -> str | None:
        """Return the replacement for the whole value of a field called ``name`` if the name
        says it holds a secret (key/value masks only), else ``None``."""
        if self._name_rx is None:
            return None
        secret = self._names.get(name)
        if secret is None:
            if len(self._names) > 10_000:  # field names are few; guard anyway
                self._names.clear()
            secret = self._names[name] = self._name_rx.fullmatch(name) is not None
        return self._replacement if secret else None

    def field(self, name: str, value: str) -> str:
        """Return the masked value of field ``name``: all of it when the name marks a secret
        (key/value masks only), else :meth:`text` of it."""
        if value and self.secret_name(name) is not None:
            return self._replacement
        return value if len(value) < self._min_len else self._apply(value)


def luhn_valid(digits: str) -> bool:
    """Return True if the digit string passes the Luhn check used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i & 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """Return True if ``text`` (spaces allowed) passes the IBAN mod-97 check."""
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _is_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits.strip("0") != "" and luhn_valid(digits)


def _card_in(found: str, repl: str) -> str:
    """Return ``found`` (digits in groups) with the card number in it replaced: all of it,
    or else the longest run of whole groups that is one (``id 12 4111 1111 1111 1111``)."""
    if _is_card(found.replace(" ", "").replace("-", "")):
        return repl
    groups = re.split(r"([ -])", found)  # digits, separator, digits, ...
    if len(groups) < 3:
        return found
    count = len(groups) // 2 + 1
    for size in range(count - 1, 0, -1):
        for first in range(count - size + 1):
            part = groups[2 * first : 2 * (first + size) - 1]
            if _is_card("".join(part[::2])):
                before = "".join(groups[: 2 * first])
                after = "".join(groups[2 * (first + size) - 1 :])
                return before + repl + after
    return found


def _pair_replacer(rx: re.Pattern[str], replacement: str) -> Replace:
    def one(match: re.Match[str]) -> str:
        key, sep, dq, sq, _bare = match.groups()
        if dq is not None:
            return f'{key}{sep}"{replacement}"'
        if sq is not None:
            return f"{key}{sep}'{replacement}'"
        return f"{key}{sep}{replacement}"

    return lambda text: rx.sub(one, text) if "=" in text or ":" in text else text


def builtin(name: str, replacement: str | None = None) -> Mask:
    """Return the built-in mask ``name`` (one of :data:`BUILTINS`), replacing with
    ``replacement`` or the built-in's default text. Raise ``KeyError`` for another name."""
    repl = BUILTIN_REPLACEMENTS[name] if replacement is None else replacement
    # Each mask first makes a cheap test (a character, a digit count, a word) so that most
    # texts never reach a regular expression.
    if name == "email":
        return Mask(name, lambda t: _EMAIL.sub(repl, t) if "@" in t else t, repl, min_len=6)
    if name == "card_number":

        def card(match: re.Match[str]) -> str:
            return _card_in(match.group(), repl)

        return Mask(name, lambda t: _CARD.sub(card, t) if _digits(t) >= 13 else t, repl, min_len=13)
    if name == "iban":

        def iban(match: re.Match[str]) -> str:
            return repl if iban_valid(match.group()) else match.group()

        return Mask(name, lambda t: _IBAN.sub(iban, t) if _digits(t) >= 4 else t, repl, min_len=15)
    if name == "ipv4":

        def ipv4(match: re.Match[str]) -> str:
            a, b, c, d = match.group().split(".")
            ok = int(a) < 256 and int(b) < 256 and int(c) < 256 and int(d) < 256
            return repl if ok else match.group()

        return Mask(name, lambda t: _IPV4.sub(ipv4, t) if t.count(".") >= 3 else t, repl, min_len=7)
    if name == "bearer_token":
        pairs = _pair_replacer(_TOKEN_PAIR, repl)

        def authorization(match: re.Match[str]) -> str:
            key, scheme, space, _credentials = match.groups()
            return f"{key}{scheme}{space}{repl}" if scheme else key + repl

        def tokens(text: str) -> str:
            lower = text.lower()
            if "bearer" in lower:
                text = _BEARER.sub(lambda m: m.group(1) + repl, text)
            if "authorization" in lower:
                text = _AUTHORIZATION.sub(authorization, text)
            if "token" in lower or "key" in lower:
                text = pairs(text)
            return text

        return Mask(name, tokens, repl, _TOKEN_NAME, min_len=8)
    if name == "password_field":
        pairs = _pair_replacer(_PASSWORD_PAIR, repl)

        def passwords(text: str) -> str:
            lower = text.lower()
            return pairs(text) if any(word in lower for word in _PASSWORD_WORDS) else text

        return Mask(name, passwords, repl, _PASSWORD_NAME, min_len=5)
    raise KeyError(name)


def compile_mask(pattern: str, replacement: str | None = None) -> Mask:
    """Return the mask for ``pattern``: a built-in name or a regular expression whose whole
    matches are replaced (by ``replacement``, default ``[masked]``). Raise ``re.error``
    for a bad expression."""
    if pattern in BUILTIN_REPLACEMENTS:
        return builtin(pattern, replacement)
    rx = re.compile(pattern)
    repl = "[masked]" if replacement is None else replacement
    return Mask(pattern, lambda t: rx.sub(lambda _m: repl, t), repl)
