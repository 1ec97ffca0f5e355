"""What a forwarding target is: how a batch of lines becomes one HTTP request, and how the
answer of a target that accepted the request is read (some targets, like Elasticsearch's
``_bulk``, accept the request but refuse single lines in it)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from watchkeeper.logs.config import Forwarder
from watchkeeper.logs.model import LogLine


@dataclass(frozen=True)
class Encoded:
    """The body of one request and how it is encoded; ``gzip`` asks the sender to compress
    it (and send ``Content-Encoding: gzip``)."""

    body: bytes
    content_type: str
    gzip: bool = False


@dataclass
class Accepted:
    """What a target did with the lines of a request it answered with 2xx: ``retry`` holds
    the lines to send again (refused for a passing reason: 429, 5xx), ``refused`` counts the
    lines it will never take (mapping errors, too old...), ``reason`` says why (first one)."""

    retry: list[LogLine] = field(default_factory=list)
    refused: int = 0
    reason: str = ""


class Target(ABC):
    """One kind of log system lines are forwarded to, registered under the plan's ``type``."""

    type: ClassVar[str]
    path: ClassVar[str]
    """Path appended to the forwarder's ``url`` (``/loki/api/v1/push``)."""

    def __init__(self, config: Forwarder) -> None:
        self.config = config

    @abstractmethod
    def encode(self, lines: Sequence[LogLine]) -> Encoded:
        """Return the request body carrying ``lines``, in their order."""

    def accepted(self, body: bytes, lines: Sequence[LogLine]) -> Accepted:
        """Return what the target did with ``lines``, given the body of its 2xx answer.
        By default: it took them all."""
        return Accepted()


def rfc3339_ns(ns: int) -> str:
    """Return the UTC time ``ns`` (nanoseconds since the epoch) as RFC 3339 with 9 fraction
    digits, e.g. ``2025-03-01T12:00:00.000000001Z``."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def level_of(line: LogLine) -> str:
    """Return the line's level: its ``level`` label, else its ``level`` or ``severity``
    field, lower-cased ("" when it has none)."""
    level = line.label("level") or line.fields.get("level") or line.fields.get("severity", "")
    return level.lower()
