"""Escalation policy pages: the list, one policy in words, and a structured editor (ordered
steps, targets picked from the plan's schedules, people and channels, "escalate after",
repeat) with a readable preview. Policies from the plan file are shown read-only."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ConflictError, ValidationFailed
from watchkeeper.incidents import policies
from watchkeeper.incidents.oncall_config import EscalationPolicy
from watchkeeper.plan import catalog
from watchkeeper.plan.types import format_duration
from watchkeeper.web.pages import render, templates

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageOperator = Annotated[SessionInfo, require("operator", page=True)]
EDIT_ROLE = "operator"
BASE = "/incidents/escalation-policies"
MAX_STEPS = 20
MAX_TARGETS = 20
DEFAULT_AFTER = "10m"
NOTICES = {"saved": "Saved.", "created": "Escalation policy created."}
templates.env.filters["plan_duration"] = format_duration


async def _form(request: Request) -> FormData:
    return await request.form()  # already read (and cached) by the CSRF check


Form = Annotated[FormData, Depends(_form)]


@dataclass
class StepForm:
    targets: list[str]
    """``kind:name`` values, as the selects send them."""
    after: str


@dataclass
class PolicyForm:
    name: str = ""
    description: str = ""
    repeat: str = "0"
    steps: list[StepForm] = field(default_factory=lambda: [StepForm([""], DEFAULT_AFTER)])


def _from_policy(policy: EscalationPolicy) -> PolicyForm:
    return PolicyForm(
        name=policy.name,
        description=policy.description,
        repeat=str(policy.repeat),
        steps=[
            StepForm(
                [":".join(policies.target_pair(t)) for t in step.notify],
                format_duration(step.escalate_after),
            )
            for step in policy.steps
        ],
    )


def _from_spec(spec: dict[str, Any]) -> PolicyForm:
    """The form for a stored spec, even one that no longer validates."""
    try:
        return _from_policy(EscalationPolicy.model_validate(spec))
    except ValidationError:
        steps = []
        for step in spec.get("steps") or []:
            targets = [f"{k}:{v}" for t in step.get("notify") or [] for k, v in t.items() if v]
            steps.append(StepForm(targets or [""], str(step.get("escalate_after", ""))))
        return PolicyForm(
            str(spec.get("name", "")),
            str(spec.get("description", "")),
            str(spec.get("repeat", 0)),
            steps or PolicyForm().steps,
        )


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _read(form: FormData) -> PolicyForm:
    """The policy as the editor sent it: ``step-<i>-target`` (repeated) and ``step-<i>-after``
    for i = 0, 1, ... in order (the script numbers them)."""
    steps: list[StepForm] = []
    while f"step-{len(steps)}-after" in form and len(steps) <= MAX_STEPS:
        i = len(steps)
        targets = [v.strip() for v in form.getlist(f"step-{i}-target") if isinstance(v, str)]
        steps.append(StepForm([t for t in targets if t] or [""], _text(form, f"step-{i}-after")))
    return PolicyForm(_text(form, "name"), _text(form, "description"), _text(form, "repeat"), steps)


def _spec(form: PolicyForm) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Return the spec the form stands for, and the problems only the form can have."""
    problems: list[tuple[str, str]] = []
    if len(form.steps) > MAX_STEPS:
        problems.append(("steps", f"at most {MAX_STEPS} steps"))
    steps = []
    for i, step in enumerate(form.steps[:MAX_STEPS]):
        notify: list[dict[str, str]] = []
        chosen = [t for t in step.targets if t]
        if len(chosen) > MAX_TARGETS:
            problems.append((f"steps[{i}].notify", f"at most {MAX_TARGETS} targets"))
        for j, value in enumerate(chosen[:MAX_TARGETS]):
            kind, _, name = value.partition(":")
            if kind not in policies.TARGET_KINDS or not name:
                problems.append(
                    (f"steps[{i}].notify[{j}]", "choose a schedule, a person or a channel")
                )
            notify.append({kind: name} if kind in policies.TARGET_KINDS else {})
        if not chosen:
            problems.append((f"steps[{i}].notify", "choose at least one target"))
        item: dict[str, Any] = {"notify": notify}
        if step.after:
            item["escalate_after"] = step.after
        steps.append(item)
    spec: dict[str, Any] = {"name": form.name, "steps": steps}
    if form.description:
        spec["description"] = form.description
    if form.repeat:
        spec["repeat"] = form.repeat
    return spec, problems


_STEP_PATH = re.compile(r"steps\[(\d+)\](?:\.notify(?:\[(\d+)\])?)?(?:\.(\w+))?")


def field_label(path: str) -> str:
    """Return where a problem is, for people: "Step 2, target 1", "Repeat"."""
    found = _STEP_PATH.fullmatch(path)
    if found:
        step, target, rest = found.groups()
        label = f"Step {int(step) + 1}"
        if target is not None:
            return f"{label}, target {int(target) + 1}"
        if ".notify" in path:
            return f"{label}, targets"
        return f"{label}, escalate after" if rest == "escalate_after" else label
    return {"name": "Name", "description": "Description", "repeat": "Repeat", "steps": "Steps"}.get(
        path, path
    )


class Problems:
    """The problems of a save, by field, for the template to show next to each field."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.all = [(field_label(f), m) for f, m in errors]
        self._by_field: dict[str, list[str]] = {}
        for path, message in errors:
            self._by_field.setdefault(path, []).append(message)

    def at(self, path: str) -> list[str]:
        return self._by_field.get(path, [])

    def under(self, path: str) -> list[str]:
        """Problems at ``path`` and inside it (a target's ``.schedule`` and so on)."""
        return [
            m
            for p, ms in self._by_field.items()
            if p == path or p.startswith(path + ".")
            for m in ms
        ]

    def __bool__(self) -> bool:
        return bool(self.all)


def _preview(form: PolicyForm, choices: policies.Choices) -> list[str]:
    steps = []
    for step in form.steps:
        pairs = []
        for value in step.targets:
            kind, _, name = value.partition(":")
            if kind in policies.TARGET_KINDS and name:
                pairs.append((kind, name))
        steps.append((pairs, step.after or DEFAULT_AFTER))
    try:
        repeat = int(form.repeat or 0)
    except ValueError:
        repeat = 0
    return policies.describe_steps(steps, repeat, choices.people)


def _editor(
    request: Request,
    db: Db,
    form: PolicyForm,
    *,
    name: str | None,
    status: int = 200,
    errors: list[tuple[str, str]] | None = None,
) -> Response:
    choices = policies.choices(db)
    known = {f"schedule:{n}" for n in choices.schedules}
    known |= {f"person:{n}" for n in choices.people}
    known |= {f"channel:{n}" for n in choices.channels}
    return render(
        request,
        "escalation_policy_edit.html",
        status=status,
        form=form,
        name=name,
        choices=choices,
        known=known,
        problems=Problems(errors or []),
        preview=_preview(form, choices),
        default_after=DEFAULT_AFTER,
        blank_step=StepForm([""], DEFAULT_AFTER),
        scripts=["js/escalation.js"],
        active="incidents",
        page_title=f"Edit escalation policy {name}" if name else "New escalation policy",
    )


def _save(
    request: Request, db: Db, user: SessionInfo, data: FormData, name: str | None
) -> Response:
    form = _read(data)
    if name is not None:
        form.name = name
    spec, problems = _spec(form)
    try:
        if problems:  # the model's own checks as well, so that every problem shows at once
            try:
                policies.validate_policy(db, spec)
            except ValidationFailed as exc:
                problems += [e for e in exc.errors if e[0] not in {p for p, _ in problems}]
            raise ValidationFailed("invalid escalation policy", problems)
        view = policies.save_policy(db, spec, _actor(request, user), name)
    except ValidationFailed as exc:
        db.rollback()
        return _editor(request, db, form, name=name, status=422, errors=exc.errors)
    except ConflictError as exc:
        db.rollback()
        where = "name" if name is None else "policy"
        return _editor(request, db, form, name=name, status=409, errors=[(where, str(exc))])
    db.commit()
    done = "created" if name is None else "saved"
    return RedirectResponse(f"{BASE}/{view.name}?done={done}", status_code=303)


@router.get(BASE)
def policies_page(request: Request, db: Db, user: PageUser) -> Response:
    return render(
        request,
        "escalation_policies.html",
        rows=policies.list_policies(db),
        can_edit=role_allows(user.role, EDIT_ROLE),
        kind=policies.KIND,
        active="incidents",
        page_title="Escalation policies",
    )


@router.get(f"{BASE}/new")
def new_policy(request: Request, db: Db, _: PageOperator) -> Response:
    return _editor(request, db, PolicyForm(), name=None)


@router.post(f"{BASE}/new")
def create_policy(request: Request, db: Db, user: PageOperator, data: Form) -> Response:
    return _save(request, db, user, data, None)


@router.get(BASE + "/{name}")
def policy_page(request: Request, name: str, db: Db, user: PageUser) -> Response:
    view = catalog.get_object(db, policies.KIND, name)
    choices = policies.choices(db)
    try:
        policy: EscalationPolicy | None = EscalationPolicy.model_validate(view.spec)
    except ValidationError:
        policy = None
    return render(
        request,
        "escalation_policy.html",
        view=view,
        policy=policy,
        lines=policies.describe(policy, choices.people) if policy else [],
        broken=policies.check_references(view.spec, choices),
        people=choices.people,
        can_edit=not view.managed and role_allows(user.role, EDIT_ROLE),
        kind=policies.KIND,
        notice=NOTICES.get(request.query_params.get("done", "")),
        active="incidents",
        page_title=f"Escalation policy {name}",
    )


@router.get(BASE + "/{name}/edit")
def edit_policy(request: Request, name: str, db: Db, _: PageOperator) -> Response:
    view = catalog.get_object(db, policies.KIND, name)
    if view.managed:
        return RedirectResponse(f"{BASE}/{name}", status_code=303)
    return _editor(request, db, _from_spec(view.spec), name=name)


@router.post(BASE + "/{name}/edit")
def update_policy(request: Request, name: str, db: Db, user: PageOperator, data: Form) -> Response:
    return _save(request, db, user, data, name)
