"""Label sets, series fingerprints, matchers and the staleness marker, shared by ingest,
storage and queries."""

from __future__ import annotations

import hashlib
import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Labels = tuple[tuple[str, str], ...]
"""A label set sorted by name, ``__name__`` included: hashable and canonical."""

METRIC_NAME = "__name__"
NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

STALE_NAN_BITS = 0x7FF0000000000002
"""Prometheus's staleness marker: a NaN with this exact bit pattern ends a series."""
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def is_stale(value: float) -> bool:
    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


def make_labels(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """Return the canonical label set: sorted, empty values dropped (as Prometheus does)."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted((k, v) for k, v in items if v != ""))


def metric_name(labels: Labels) -> str:
    for key, value in labels:
        if key == METRIC_NAME:
            return value
    return ""


def fingerprint(labels: Labels) -> str:
    """A stable 32-hex-digit identity of a label set (the unique key of a stored series)."""
    digest = hashlib.blake2b(digest_size=16)
    for key, value in labels:
        digest.update(key.encode())
        digest.update(b"\xff")
        digest.update(value.encode())
        digest.update(b"\xfe")
    return digest.hexdigest()


MatchOp = Literal["=", "!=", "=~", "!~"]


@dataclass(frozen=True)
class Matcher:
    """A label matcher as in PromQL; regular expressions are fully anchored."""

    name: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_regex", re.compile(f"(?s:{self.value})"))

    def matches(self, value: str) -> bool:
        """Match a label's value ("" when the series lacks the label, as in Prometheus)."""
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(value) is not None
        return found if self.op == "=~" else not found

    def matches_empty(self) -> bool:
        return self.matches("")


def matches_all(labels: Mapping[str, str], matchers: Iterable[Matcher]) -> bool:
    return all(m.matches(labels.get(m.name, "")) for m in matchers)
