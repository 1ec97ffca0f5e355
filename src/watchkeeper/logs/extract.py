"""Field extraction shared by the automatic step and the pipeline stages: JSON objects
flattened into fields, logfmt pairs, and the many spellings of a log level.

Everything here is called once per line on the ingest path, so it avoids work for lines it
does not apply to and never raises on bad input (it returns ``None`` instead).
"""

from __future__ import annotations

import json
import re

MAX_FIELDS = 256
"""Fields taken from one line; a larger object keeps its first 256 keys (flattened)."""
MAX_DEPTH = 8
"""Nesting flattened into ``a.b.c`` names; deeper objects are kept as JSON text."""
MESSAGE_KEYS = ("message", "msg")
"""Keys of a JSON object that hold the human-readable message."""
LEVEL_KEYS = ("level", "severity", "lvl", "log.level")
"""Fields the automatic step reads the level from, in this order."""
MAX_LEVEL = 32

LEVELS = ("trace", "debug", "info", "warn", "error", "critical")
"""The canonical level label values."""

_LEVEL_SPELLINGS = {
    "trace": "trace",
    "finest": "trace",
    "debug": "debug",
    "dbg": "debug",
    "fine": "debug",
    "finer": "debug",
    "info": "info",
    "inf": "info",
    "information": "info",
    "informational": "info",
    "notice": "info",
    "config": "info",
    "warn": "warn",
    "warning": "warn",
    "wrn": "warn",
    "error": "error",
    "err": "error",
    "eror": "error",
    "severe": "error",
    "critical": "critical",
    "crit": "critical",
    "fatal": "critical",
    "emerg": "critical",
    "emergency": "critical",
    "alert": "critical",
    "panic": "critical",
    # pino / bunyan numeric levels
    "10": "trace",
    "20": "debug",
    "30": "info",
    "40": "warn",
    "50": "error",
    "60": "critical",
}

_LOGFMT_START = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*=")
_LOGFMT_PAIR = re.compile(r'(?<!\S)([^\s="]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))')
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_raw_decode = json.JSONDecoder().raw_decode


def normalise_level(value: str) -> str | None:
    """Return the canonical level (one of :data:`LEVELS`) for a spelling such as ``WARNING``,
    ``err``, ``fatal`` or pino's ``30``; ``None`` if the spelling is not known."""
    return _LEVEL_SPELLINGS.get(value.strip().lower())


def level_label(value: str) -> str:
    """Return the level label for ``value``: canonical when known, else lower-cased and cut
    (so an odd value cannot create long label values)."""
    known = normalise_level(value)
    return known if known is not None else value.strip().lower()[:MAX_LEVEL]


def looks_like_logfmt(text: str) -> bool:
    """Return True if ``text`` starts with ``identifier=`` (the cheap test the automatic
    step uses before parsing logfmt)."""
    return _LOGFMT_START.match(text) is not None


def parse_logfmt(text: str) -> dict[str, str]:
    """Return the ``key=value`` and ``key="quoted value"`` pairs of ``text``; words without
    ``=`` are ignored (they are prose, not flags, in most application logs)."""
    out: dict[str, str] = {}
    # findall is much faster than finditer here; an unmatched group comes back as "", so
    # `k=""` and `k=` both give the empty value, as they should.
    for key, quoted, bare in _LOGFMT_PAIR.findall(text):
        if quoted:
            out[key] = _unescape(quoted) if "\\" in quoted else quoted
        else:
            out[key] = bare
    if len(out) > MAX_FIELDS:
        out = dict(list(out.items())[:MAX_FIELDS])
    return out


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def parse_json_object(text: str) -> dict[str, object] | None:
    """Return ``text`` decoded if it is a JSON object, else ``None``."""
    if text[:1] != "{":
        text = text.lstrip()
    try:
        value, end = _raw_decode(text)
    except (ValueError, RecursionError):
        return None
    if end != len(text) and text[end:].strip():
        return None
    return value if type(value) is dict else None


def flatten(obj: dict[str, object], out: dict[str, str], prefix: str = "", depth: int = 0) -> None:
    """Add the members of ``obj`` to ``out`` as strings: nested objects become ``a.b`` names,
    arrays JSON text, ``true``/``false`` lower case and ``null`` the empty string."""
    # type() identity tests: this runs for every member of every JSON line.
    for key, value in obj.items():
        name = prefix + key if prefix else key
        kind = type(value)
        if kind is str:
            out[name] = value  # type: ignore[assignment]
        elif kind is int or kind is float:
            out[name] = str(value)
        elif kind is dict and value and depth < MAX_DEPTH:
            flatten(value, out, name + ".", depth + 1)  # type: ignore[arg-type]
        elif value is None:
            out[name] = ""
        elif kind is bool:
            out[name] = "true" if value else "false"
        else:
            out[name] = _dumps(value)


def json_fields(text: str, take_message: bool = True) -> tuple[dict[str, str], str | None] | None:
    """Return the flattened fields of the JSON object ``text`` (at most :data:`MAX_FIELDS`)
    and, if ``take_message``, its ``message``/``msg`` string (removed from the fields);
    ``None`` if ``text`` is not a JSON object."""
    obj = parse_json_object(text)
    if obj is None:
        return None
    fields: dict[str, str] = {}
    flatten(obj, fields)
    if len(fields) > MAX_FIELDS:
        fields = dict(list(fields.items())[:MAX_FIELDS])
    if take_message:
        for key in MESSAGE_KEYS:
            value = obj.get(key)
            if type(value) is str:
                fields.pop(key, None)
                return fields, value
    return fields, None


def level_from_fields(fields: dict[str, str]) -> str | None:
    """Return the canonical level named by the first of :data:`LEVEL_KEYS` present in
    ``fields`` with a known spelling, else ``None``."""
    for key in LEVEL_KEYS:
        value = fields.get(key)
        if value is not None:
            level = normalise_level(value)
            if level is not None:
                return level
    return None
