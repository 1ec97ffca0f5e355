"""Escalation policies as the editor sees them: list, describe in words, check that the
schedules, people and channels they page exist, and save the ones made in the UI.

Saving goes through the plan catalog (the objects API's own functions), so a policy made here
is the same object the API and ``watchkeeper plan export`` see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, ValidationFailed
from watchkeeper.incidents.oncall_config import EscalationPolicy, Target
from watchkeeper.incidents.plan import load_oncall
from watchkeeper.plan import catalog
from watchkeeper.plan.catalog import ObjectView
from watchkeeper.plan.types import format_duration

KIND = "oncall.escalation_policies"
CHANNELS_KIND = "notifications.channels"
TARGET_KINDS = ("schedule", "person", "channel")
_MISSING = {
    "schedule": 'no on-call schedule is named "{}" (oncall.schedules)',
    "person": 'no person is named "{}" (oncall.people)',
    "channel": 'no notification channel is named "{}" (notifications.channels)',
}


@dataclass(frozen=True)
class Choices:
    """What a step can page: the names present in the plan."""

    schedules: list[str]
    people: dict[str, str]
    """name -> name to show (the full name when there is one)."""
    channels: list[str]

    def names(self, kind: str) -> set[str]:
        if kind == "schedule":
            return set(self.schedules)
        if kind == "person":
            return set(self.people)
        return set(self.channels)


@dataclass(frozen=True)
class PolicyRow:
    view: ObjectView
    policy: EscalationPolicy | None
    """None when the stored spec no longer validates."""
    summary: str


def choices(db: Session) -> Choices:
    """Return the schedules, people and channels an escalation step can name."""
    oncall = load_oncall(db)
    return Choices(
        schedules=sorted(s.name for s in oncall.schedules),
        people={p.name: p.full_name or p.name for p in sorted(oncall.people, key=lambda p: p.name)},
        channels=[o.name for o in catalog.list_objects(db, CHANNELS_KIND)],
    )


def whom(kind: str, name: str, people: dict[str, str] | None = None) -> str:
    """Return whom a target pages, in words: "on-call of primary", "Carol Ng", "channel ops"."""
    if kind == "schedule":
        return f"on-call of {name}"
    if kind == "person":
        return (people or {}).get(name, name)
    return f"channel {name}"


def target_pair(target: Target) -> tuple[str, str]:
    """Return ``(kind, name)`` of a target: ("schedule", "primary")."""
    for kind in TARGET_KINDS:
        name = getattr(target, kind)
        if name:
            return kind, name
    raise ValueError("a target names nothing")  # the model forbids it


def _and(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def describe_steps(
    steps: list[tuple[list[tuple[str, str]], str]],
    repeat: int,
    people: dict[str, str] | None = None,
) -> list[str]:
    """Return steps given as ``([(kind, name), ...], escalate_after text)`` in words, one line
    per step and one for what follows the last one. The editor's script (escalation.js)
    writes the same lines while a policy is being edited."""
    lines = []
    wait = ""
    for i, (targets, after) in enumerate(steps, 1):
        pages = _and([whom(kind, name, people) for kind, name in targets]) or "nobody yet"
        line = f"step {i}: page {pages}"
        lines.append(f"after {wait}: {line}" if wait else line[0].upper() + line[1:])
        wait = after or "?"
    if not lines:
        return []
    if repeat > 0:
        times = "1 more time" if repeat == 1 else f"{repeat} more times"
        lines.append(f"after {wait}: start again from step 1 ({times})")
    else:
        lines.append(f"after {wait}: stop (nobody else is paged)")
    return lines


def describe(policy: EscalationPolicy, people: dict[str, str] | None = None) -> list[str]:
    """Return the policy in words: ["Step 1: page on-call of primary and carol",
    "after 10m: step 2: page channel ops", "after 30m: start again from step 1 (2 more
    times)"]."""
    steps = [
        ([target_pair(t) for t in step.notify], format_duration(step.escalate_after))
        for step in policy.steps
    ]
    return describe_steps(steps, policy.repeat, people)


def summary(policy: EscalationPolicy, people: dict[str, str] | None = None) -> str:
    """The policy in one line: the lines of :func:`describe` joined by "; "."""
    return "; ".join(describe(policy, people))


def list_policies(db: Session) -> list[PolicyRow]:
    """Return every stored escalation policy (plan-managed and UI-made), by name."""
    people = choices(db).people
    rows = []
    for view in catalog.list_objects(db, KIND):
        try:
            policy = EscalationPolicy.model_validate(view.spec)
        except ValidationError:
            rows.append(PolicyRow(view, None, "(the stored policy is not valid)"))
            continue
        rows.append(PolicyRow(view, policy, summary(policy, people)))
    return rows


def check_references(spec: Any, known: Choices) -> list[tuple[str, str]]:
    """Return ``(field, message)`` for each target of ``spec`` (a policy as plain data, valid
    or not) that names a schedule, person or channel the plan does not have."""
    problems: list[tuple[str, str]] = []
    steps = spec.get("steps") if isinstance(spec, dict) else None
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        notify = step.get("notify") if isinstance(step, dict) else None
        for j, target in enumerate(notify if isinstance(notify, list) else []):
            if not isinstance(target, dict):
                continue
            for kind in TARGET_KINDS:
                name = target.get(kind)
                if isinstance(name, str) and name and name not in known.names(kind):
                    field = f"steps[{i}].notify[{j}].{kind}"
                    problems.append((field, _MISSING[kind].format(name)))
    return problems


def validate_policy(db: Session, spec: Any) -> dict[str, Any]:
    """Return the normalised policy; raise ValidationFailed listing every problem by field:
    the plan model's and the references to missing schedules, people and channels."""
    errors: list[tuple[str, str]] = []
    clean: dict[str, Any] = {}
    try:
        clean = catalog.validate_spec(KIND, spec)
    except ValidationFailed as exc:
        errors += exc.errors
    errors += [e for e in check_references(spec, choices(db)) if e not in errors]
    if errors:
        raise ValidationFailed("invalid escalation policy", errors)
    return clean


def save_policy(db: Session, spec: Any, actor: str | Actor, name: str | None = None) -> ObjectView:
    """Create (``name`` None) or replace the UI-made policy ``name``; raise ValidationFailed
    by field, ConflictError when the name is taken or the policy is managed by the plan,
    NotFoundError when there is no policy ``name``. The caller commits."""
    if name is not None:
        existing = catalog.get_object(db, KIND, name)
        if existing.managed:
            raise ConflictError(
                f"{KIND}/{name} is managed by the plan file; change it there and apply the plan"
            )
    clean = validate_policy(db, spec)
    if name is None:
        return catalog.create_object(db, KIND, clean, actor)
    return catalog.update_object(db, KIND, name, clean, actor)
