"""Evidence about logs and the audit trail: how long the plan keeps given log streams
(``logs.retention``), and whether the hash chain of the audit trail is intact."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.logs.audit_stream import SELECTOR as AUDIT_SELECTOR
from watchkeeper.logs.model import Labels
from watchkeeper.logs.retention import compile_rules, policy_for
from watchkeeper.logs.selector import QuerySyntaxError, parse_selector
from watchkeeper.logs.system import load_section
from watchkeeper.plan.types import Duration, format_duration
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceParams,
    Fact,
    NoParams,
    evidence_query,
    verdict,
)


def _labels(selector: str) -> Labels:
    """The label set a selector of ``=`` matchers names; raise ValueError otherwise."""
    try:
        matchers = parse_selector(selector)
    except QuerySyntaxError as exc:
        raise ValueError(f"not a stream selector: {exc}") from None
    if any(m.op != "=" for m in matchers):
        raise ValueError(
            'name a stream with `=` matchers only, e.g. {source="watchkeeper", stream="audit"}'
        )
    return tuple(sorted((m.name, m.value) for m in matchers))


def _stream(value: str) -> str:
    _labels(value)
    return value


class RetentionParams(EvidenceParams):
    minimum: Duration = Field(
        timedelta(days=365), alias="min", description="Least retention the streams need."
    )
    streams: list[Annotated[str, AfterValidator(_stream)]] = Field(
        default_factory=lambda: [AUDIT_SELECTOR],
        min_length=1,
        description='The streams, each as its labels (`{app="auth"}`); default: Watchkeeper\'s '
        "own audit trail stream.",
    )


@evidence_query("log_retention", RetentionParams)
def log_retention(db: Session, params: RetentionParams, now: datetime) -> Evidence:
    """The plan keeps each of ``streams`` at least ``min``: the first ``logs.retention`` rule
    that matches the stream's labels (else ``logs.default_retention``) keeps lines that
    long, and has no size cap that could delete them sooner."""
    section = load_section(db)
    rules = compile_rules(section)
    facts = []
    for selector in params.streams:
        policy = policy_for(_labels(selector), rules, section.default_retention)
        rule = "default_retention" if policy.rule == "default_retention" else f"rule {policy.rule}"
        if policy.keep < params.minimum:
            facts.append(Fact(selector, "fail", f"kept {format_duration(policy.keep)} by {rule}"))
        elif policy.max_size is not None:
            facts.append(
                Fact(
                    selector,
                    "fail",
                    f"kept {format_duration(policy.keep)} by {rule}, but its size cap of "
                    f"{policy.max_size} bytes may delete lines sooner",
                )
            )
        else:
            facts.append(Fact(selector, "pass", f"kept {format_duration(policy.keep)} by {rule}"))
    kept = sum(1 for f in facts if f.status == "pass")
    summary = f"Log streams kept at least {format_duration(params.minimum)}: {kept} of {len(facts)}"
    failing = next((f for f in facts if f.status == "fail"), None)
    if failing is not None:
        summary += f"; {failing.subject} is {failing.detail}"
    return Evidence(verdict(facts), summary + ".", tuple(facts))


def _entries(count: int) -> str:
    return "1 entry" if count == 1 else f"{count} entries"


WHOLE_WALK_EVERY = timedelta(hours=6)
"""How often the audit trail is walked whole; in between, only the entries appended since
the last walk are (a walk costs ≈45 µs per entry: 2 s at 50,000 entries)."""
_walks: dict[str, tuple[audit.Checkpoint, datetime]] = {}  # store URL -> last good walk
_walks_lock = threading.Lock()


def _verify(db: Session, now: datetime) -> audit.Verification:
    """Verify the trail from the last good walk of this store in this process, or whole when
    there is none or it is older than ``WHOLE_WALK_EVERY``."""
    key = db.get_bind().engine.url.render_as_string(hide_password=True)
    with _walks_lock:
        last = _walks.get(key)
    whole = last is None or now - last[1] >= WHOLE_WALK_EVERY
    result = audit.verify(db, after=None if whole or last is None else last[0])
    if not result.ok and not whole:
        # The verdict is the whole walk's: a store restored from a backup (a different
        # trail, consistent in itself) must not read as tampering.
        result, whole = audit.verify(db), True
    with _walks_lock:
        if result.ok and result.checkpoint is not None:
            _walks[key] = (result.checkpoint, now if whole or last is None else last[1])
        else:
            _walks.pop(key, None)  # walk whole next time
    return result


@evidence_query("audit_trail_intact", NoParams)
def audit_trail_intact(db: Session, params: NoParams, now: datetime) -> Evidence:
    """Every entry of Watchkeeper's audit trail still matches its hash, and the chain links
    each entry to the one before it: no entry was edited, removed or slipped in. The trail
    is walked whole every 6 hours, and from the last walk's end in between."""
    result = _verify(db, now)
    if result.ok:
        return Evidence(
            "pass",
            f"The audit trail ({_entries(result.checked)}) is intact: its hash chain verifies.",
            (Fact("audit trail", "pass", f"{_entries(result.checked)} verified"),),
        )
    where = f"entry {result.bad_id}" if result.bad_id is not None else "the newest entries"
    return Evidence(
        "fail",
        f"The audit trail was tampered with: {where} {result.reason}.",
        (
            Fact(
                "audit trail",
                "fail",
                f"{_entries(result.checked)} verified before {where}: {result.reason}",
            ),
        ),
    )
