"""Logs: every log source of the plan (agents' ``files`` and ``journald`` sources, the
syslog listeners) sent a line within ``compliance.plan_status.log_silence``, and retention
is applied: no stream keeps a chunk whose newest line is older than its rule's ``keep``
(plus :data:`RETENTION_SLACK`, as retention runs hourly).

Both are read from the log store, which belongs to the server process (each replica holds
the logs it received): elsewhere (the CLI) they are unknown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.globs import matches_any
from watchkeeper.logs.config import LogsSection
from watchkeeper.logs.retention import DEFAULT_RULE, compile_rules, policy_for
from watchkeeper.logs.selector import quote
from watchkeeper.logs.store import LogStore, StreamUsage
from watchkeeper.logs.system import RETENTION_EVERY, RETENTION_FIRST
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    declared,
    every,
    load_section,
    not_in_plan,
    plural,
    times_by_name,
)
from watchkeeper.store.tables import Host

RETENTION_SLACK = timedelta(seconds=RETENTION_EVERY + RETENTION_FIRST) + timedelta(minutes=15)
NO_STORE = "the log store belongs to the server process (`watchkeeper up`)"


@dataclass(frozen=True)
class _Source:
    kind: str  # file source, journald source, syslog listener
    name: str
    label: str  # the streams' ``source`` label
    labels: Mapping[str, str]
    hosts: list[str] | None  # agent sources: the host globs
    paths: list[str]  # file sources: the path globs


def _sources(section: LogsSection) -> list[_Source]:
    found: list[_Source] = []
    for src in section.files:
        found.append(_Source("file source", src.name, "file", src.labels, src.hosts, src.paths))
    for jsrc in section.journald:
        found.append(_Source("journald source", jsrc.name, "journald", jsrc.labels, jsrc.hosts, []))
    syslog = section.syslog
    listeners = [
        f"{proto} {addr}"
        for proto, addr in (
            ("udp", syslog.udp),
            ("tcp", syslog.tcp),
            ("tls", syslog.tls.listen if syslog.tls else None),
        )
        if addr
    ]
    if listeners:
        found.append(
            _Source("syslog listener", ", ".join(listeners), "syslog", syslog.labels, None, [])
        )
    return found


def evaluate(db: Session, live: Live) -> SectionResult:
    if not declared(db, "logs"):
        return not_in_plan("logs")
    section = load_section(db, "logs", LogsSection)
    tally = Tally("logs")
    sources = _sources(section)
    if live.logs is None:
        for src in sources:
            tally.cannot_tell(src.kind, src.name, NO_STORE)
        tally.cannot_tell("retention", "log retention", NO_STORE)
        return tally.result()
    usage = live.logs.usage()
    hosts = times_by_name(db, select(Host.name, Host.last_seen))
    silent = 0
    for src in sources:
        silent += not _judge_source(tally, live, src, usage, hosts)
    if sources:
        tally.say(
            f"{plural(len(sources), 'log source')}; {len(sources) - silent} sent a line within "
            f"{every(live.settings.log_silence)}."
        )
    _judge_retention(tally, live, live.logs, section, usage)
    return tally.result()


def _streams_of(src: _Source, usage: list[StreamUsage]) -> list[StreamUsage]:
    out = []
    for u in usage:
        labels = dict(u.stream.labels)
        if labels.get("source") != src.label:
            continue
        if any(labels.get(k) != v for k, v in src.labels.items()):
            continue
        if src.hosts is not None and not matches_any(labels.get("host", ""), src.hosts):
            continue
        if src.paths and not matches_any(
            labels.get("filename", ""),
            (os.path.expanduser(p) for p in src.paths),
            case_sensitive=True,
        ):
            continue
        out.append(u)
    return out


def _judge_source(
    tally: Tally, live: Live, src: _Source, usage: list[StreamUsage], hosts: Mapping[str, object]
) -> bool:
    silence = live.settings.log_silence
    since_ns = int((live.now - silence).timestamp() * 1e9)
    streams = _streams_of(src, usage)
    newest = max((u.newest for u in streams if u.newest is not None), default=None)
    link = "/logs?" + urlencode({"q": "{source=" + quote(src.label) + "}", "range": "24h"})
    if newest is not None and newest >= since_ns:
        tally.passed()
        return True
    if newest is None:
        why = "no line received yet"
    else:
        last = datetime.fromtimestamp(newest / 1e9, UTC)
        why = f"no line since {at(last)}"
    if src.hosts is not None:
        matching = [h for h in hosts if matches_any(h, src.hosts)]
        why += (
            f" ({plural(len(matching), 'agent host')} match {', '.join(src.hosts)})"
            if matching
            else f" (no agent host matches {', '.join(src.hosts)})"
        )
    tally.failed(src.kind, src.name, f"{why}; expected within {every(silence)}", link)
    return False


def _judge_retention(
    tally: Tally, live: Live, store: LogStore, section: LogsSection, usage: list[StreamUsage]
) -> None:
    rules = compile_rules(section)
    names = [p.rule for _, p in rules] + [DEFAULT_RULE]
    overdue: dict[str, tuple[StreamUsage, int]] = {}
    now_ns = int(live.now.timestamp() * 1e9)
    for u in usage:
        policy = policy_for(u.stream.labels, rules, section.default_retention)
        limit = now_ns - int((policy.keep + RETENTION_SLACK).total_seconds() * 1e9)
        if u.oldest is None or u.oldest >= limit or policy.rule in overdue:
            continue  # the cheap test first: nothing in it is that old
        oldest_newest = min((c.max_ts for c in store.chunks_of(u.stream.id)), default=None)
        if oldest_newest is not None and oldest_newest < limit:
            overdue[policy.rule] = (u, oldest_newest)
    for name in names:
        shown = "default retention" if name == DEFAULT_RULE else f"retention rule {name}"
        found = overdue.get(name)
        if found is None:
            tally.passed()
            continue
        u, ts = found
        labels = "{" + ", ".join(f"{k}={quote(v)}" for k, v in u.stream.labels) + "}"
        kept = datetime.fromtimestamp(ts / 1e9, UTC)
        tally.failed(
            "retention",
            shown,
            f"stream {labels} still holds lines from {at(kept)}: retention is not being applied",
            "/logs/streams",
        )
    if not overdue:
        tally.say(
            "Retention applied: no stream keeps lines past its limit "
            f"({plural(len(names), 'rule')})."
        )
