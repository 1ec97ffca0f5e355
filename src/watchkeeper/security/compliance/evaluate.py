"""Evaluate the controls that apply: run each evidence query, judge each control, and keep
the outcome — the latest per control in ``compliance_state``, each change of status (with
the evidence at that moment) in ``compliance_events``.

A control passes when every one of its evidence queries passes; it fails when one fails;
otherwise (a query could not judge) it is unknown. A query that raises is logged and
counts as unknown, so that one broken query never stops the others; the evidence names
only the error's type (see :func:`_reason`), never a driver's message.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ConflictError, StoreError, WatchkeeperError
from watchkeeper.plan.stored import stored_section
from watchkeeper.security.compliance.config import ComplianceSection, EvidenceQuery
from watchkeeper.security.compliance.controlsets import (
    FRAMEWORKS,
    PLAN,
    EffectiveControl,
    effective_controls,
)
from watchkeeper.security.compliance.evidence import Evidence, Status, registry
from watchkeeper.security.compliance.evidence.interface import STATUSES
from watchkeeper.store.tables import ComplianceEvent, ComplianceState
from watchkeeper.telemetry import COMPLIANCE_CONTROLS

log = logging.getLogger(__name__)


class SectionUnreadable(ConflictError):
    """The stored ``compliance`` section does not validate (a shipped control it disables
    was renamed by an upgrade, say): nothing is evaluated, the last states stay."""


def load_section(db: Session) -> ComplianceSection:
    """The stored ``compliance`` section (the defaults when absent); raise SectionUnreadable
    when it does not validate — never the defaults then, which would drop every state."""
    try:
        return ComplianceSection.model_validate(stored_section(db, "compliance"))
    except ValidationError as exc:
        raise SectionUnreadable(
            f"the stored compliance section does not validate ({exc.error_count()} "
            "problem(s)); re-apply the plan (`watchkeeper plan check` shows where)"
        ) from None


def query_key(query: EvidenceQuery) -> dict[str, Any]:
    """How a query is identified in the stored evidence: its name and parameters."""
    return {"query": query.query, "params": query.params}


def _reason(exc: Exception) -> str:
    """Why a query failed, as viewers and signed reports may show it: the message of one of
    our own errors (written for people: a stored section that does not validate, ...);
    only the type of anything else, whose message can hold SQL, parameters or paths (the
    server log has it in full)."""
    if isinstance(exc, WatchkeeperError) and not isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, ValidationError):  # the stored parameters, from another version
        return f"its parameters do not validate ({exc.error_count()} problem(s))"
    return f"{type(exc).__name__} (the server log has the details)"


def run_query(db: Session, query: EvidenceQuery, now: datetime) -> dict[str, Any]:
    """Run one evidence query; return its outcome as stored (``query``, ``params``,
    ``status``, ``summary``, ``facts``). A failure of the query itself is ``unknown``."""
    found = registry.get(query.query)
    if found is None:  # validated at plan load; a stored plan from another version
        log.error("compliance: there is no evidence query %s", query.query)
        evidence = Evidence(
            "unknown", f'There is no evidence query "{query.query}" in this Watchkeeper.'
        )
    else:
        try:
            with db.begin_nested():  # a failing query must not spoil the session
                evidence = found.evaluate(db, query.params, now)
        except Exception as exc:  # one broken query must not stop the others
            log.exception("compliance: evidence query %s failed", query.query)
            reason = _reason(exc)
            evidence = Evidence("unknown", f"The evidence could not be gathered: {reason}.")
    return {
        **query_key(query),
        "status": evidence.status,
        "summary": evidence.summary,
        "facts": [f.as_json() for f in evidence.facts],
    }


@dataclass(frozen=True)
class Outcome:
    """One control's evaluation."""

    control: EffectiveControl
    status: Status
    evidence: list[dict[str, Any]]


def evaluate_control(
    db: Session,
    control: EffectiveControl,
    now: datetime,
    cache: dict[str, dict[str, Any]] | None = None,
) -> Outcome:
    """Run every evidence query of ``control`` and judge it. With ``cache``, a query asked
    with the same parameters by several controls (the frameworks overlap) runs once."""
    evidence = []
    for query in control.control.evidence:
        if cache is None:
            evidence.append(run_query(db, query, now))
            continue
        key = json.dumps(query_key(query), sort_keys=True, default=str)
        if key not in cache:
            cache[key] = run_query(db, query, now)
        evidence.append(copy.deepcopy(cache[key]))
    statuses = [e["status"] for e in evidence]
    status: Status = (
        "fail" if "fail" in statuses else "unknown" if "unknown" in statuses else "pass"
    )
    return Outcome(control, status, evidence)


def record(db: Session, outcomes: list[Outcome], now: datetime) -> list[str]:
    """Keep ``outcomes`` as the controls' states, append an event for each control whose
    status changed (or was judged for the first time) and drop the states of controls that
    no longer apply; return the ids whose status changed. Caller commits."""
    states = {s.control: s for s in db.scalars(select(ComplianceState))}
    changed = []
    for outcome in outcomes:
        state = states.pop(outcome.control.id, None)
        if state is None:
            state = ComplianceState(control=outcome.control.id, status=outcome.status, since=now)
            db.add(state)
            changed.append(outcome.control.id)
        elif state.status != outcome.status:
            state.status, state.since = outcome.status, now
            changed.append(outcome.control.id)
        state.evaluated_at = now
        state.evidence = outcome.evidence
        if outcome.status == "pass":
            state.last_pass_at = now
        if outcome.control.id in changed:
            db.add(
                ComplianceEvent(
                    control=outcome.control.id,
                    at=now,
                    status=outcome.status,
                    evidence=outcome.evidence,
                )
            )
    for gone in states.values():
        db.delete(gone)
    return changed


def evaluate_all(
    db: Session, now: datetime, section: ComplianceSection | None = None
) -> list[Outcome]:
    """Evaluate every control that applies and record the outcomes (see :func:`record`);
    update the ``watchkeeper_compliance_controls`` gauge. Caller commits."""
    controls = effective_controls(section if section is not None else load_section(db))
    cache: dict[str, dict[str, Any]] = {}
    outcomes = [evaluate_control(db, c, now, cache) for c in controls]
    changed = record(db, outcomes, now)
    if changed:
        log.info("compliance: %d control(s) changed status: %s", len(changed), ", ".join(changed))
    set_gauge([(o.control.framework, o.status) for o in outcomes])
    return outcomes


def due(db: Session, section: ComplianceSection, now: datetime) -> bool:
    """True when the controls should be evaluated now: one has never been judged, its
    evidence queries changed since, a state is left of a control that no longer applies,
    or the oldest evaluation is ``interval`` old."""
    controls = effective_controls(section)
    states = {s.control: s for s in db.scalars(select(ComplianceState))}
    if set(states) != {c.id for c in controls}:
        return True
    for control in controls:
        state = states[control.id]
        asked = [query_key(q) for q in control.control.evidence]
        if [{"query": e.get("query"), "params": e.get("params")} for e in state.evidence] != asked:
            return True
        if now - state.evaluated_at >= section.interval:
            return True
    return False


def refresh_gauge(db: Session, section: ComplianceSection) -> None:
    """Set the gauge from the stored states (a replica taking over shows them at once)."""
    states = {s.control: s.status for s in db.scalars(select(ComplianceState))}
    set_gauge([(c.framework, states[c.id]) for c in effective_controls(section) if c.id in states])


def set_gauge(judged: list[tuple[str, str]]) -> None:
    """``watchkeeper_compliance_controls{status, framework}`` from ``(framework, status)``
    pairs: every status of every framework present is set, absent ones to 0."""
    COMPLIANCE_CONTROLS.clear()
    frameworks = [f for f in (*FRAMEWORKS, PLAN) if any(j[0] == f for j in judged)]
    for framework in frameworks:
        for status in STATUSES:
            count = sum(1 for f, s in judged if f == framework and s == status)
            COMPLIANCE_CONTROLS.labels(status=status, framework=framework).set(count)
