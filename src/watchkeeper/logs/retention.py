"""Log retention: delete whole chunks of each stream, by age and by a size cap.

Each stream follows the first ``logs.retention`` rule whose ``match`` selector picks it
(``default_retention`` when none does): chunks whose newest line is older than ``keep`` go
first; then, when the rule has a ``max_size`` and the stream's chunks still hold more
bytes than that, the oldest chunks until it fits. Deleting whole chunks (files, metadata
and index documents at once) is what keeps retention cheap; lines still in a stream's
in-memory head are never touched and age out once they are cut into a chunk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from watchkeeper.logs.config import LogsSection
from watchkeeper.logs.model import Labels
from watchkeeper.logs.selector import (
    Matcher,
    QuerySyntaxError,
    matches_all,
    parse_selector,
    quote,
)
from watchkeeper.logs.store import ChunkRef, LogStore

log = logging.getLogger(__name__)
DEFAULT_RULE = "default_retention"


@dataclass(frozen=True)
class Policy:
    """The retention one stream follows: the rule's name, its age limit and size cap."""

    rule: str
    keep: timedelta
    max_size: int | None = None


@dataclass(frozen=True)
class StreamRemoval:
    """What retention removed from one stream."""

    labels: Labels
    rule: str
    chunks: int
    lines: int
    stored_bytes: int
    by_size: int  # of ``chunks``, those removed by the size cap


@dataclass
class RetentionReport:
    streams: list[StreamRemoval] = field(default_factory=list)

    @property
    def chunks(self) -> int:
        return sum(s.chunks for s in self.streams)

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.streams)

    @property
    def stored_bytes(self) -> int:
        return sum(s.stored_bytes for s in self.streams)


def compile_rules(section: LogsSection) -> list[tuple[tuple[Matcher, ...], Policy]]:
    """The section's retention rules with their selectors parsed, in plan order. A rule
    whose selector cannot be read is logged and skipped (its streams fall through)."""
    out = []
    for rule in section.retention:
        try:
            matchers = parse_selector(rule.match)
        except QuerySyntaxError as exc:
            log.error("logs retention rule %s: bad match selector: %s", rule.name, exc)
            continue
        out.append((matchers, Policy(rule.name, rule.keep, rule.max_size)))
    return out


def policy_for(
    labels: Labels, rules: list[tuple[tuple[Matcher, ...], Policy]], default: timedelta
) -> Policy:
    """The first rule whose selector matches ``labels``, else the default retention."""
    for matchers, policy in rules:
        if matches_all(matchers, labels):
            return policy
    return Policy(DEFAULT_RULE, default)


def expired(chunks: list[ChunkRef], policy: Policy, now_ns: int) -> tuple[list[ChunkRef], int]:
    """Chunks to delete under ``policy`` (``chunks`` sorted oldest first by newest line):
    those past ``keep``, then the oldest until the rest fit ``max_size``. Return them and
    how many of them the size cap chose."""
    cutoff = now_ns - int(policy.keep.total_seconds() * 1e9)
    old = [c for c in chunks if c.max_ts < cutoff]
    if policy.max_size is None:
        return old, 0
    kept = [c for c in chunks if c.max_ts >= cutoff]
    size = sum(c.stored_bytes for c in kept)
    over: list[ChunkRef] = []
    for ref in kept:
        if size <= policy.max_size:
            break
        over.append(ref)
        size -= ref.stored_bytes
    return old + over, len(over)


def enforce_retention(store: LogStore, section: LogsSection, now_ns: int) -> RetentionReport:
    """Apply the section's retention to every stream of ``store`` at ``now_ns`` and return
    what was removed."""
    rules = compile_rules(section)
    report = RetentionReport()
    ids: list[int] = []
    for stream in store.streams():
        policy = policy_for(stream.labels, rules, section.default_retention)
        chunks = sorted(store.chunks_of(stream.id), key=lambda c: (c.max_ts, c.id))
        doomed, by_size = expired(chunks, policy, now_ns)
        if not doomed:
            continue
        ids += [c.id for c in doomed]
        report.streams.append(
            StreamRemoval(
                stream.labels,
                policy.rule,
                len(doomed),
                sum(c.lines for c in doomed),
                sum(c.stored_bytes for c in doomed),
                by_size,
            )
        )
    if ids:
        store.delete_chunks(ids)  # one index commit for the whole pass
    return report


def describe(removal: StreamRemoval) -> str:
    """One log line's worth about a stream's removal."""
    labels = "{" + ", ".join(f"{k}={quote(v)}" for k, v in removal.labels) + "}"
    cap = f", {removal.by_size} over the size cap" if removal.by_size else ""
    return (
        f"{labels}: {removal.chunks} chunk(s), {removal.lines} line(s), "
        f"{removal.stored_bytes} byte(s) removed by {removal.rule}{cap}"
    )
