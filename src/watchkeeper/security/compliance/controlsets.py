"""The shipped control sets (``controls/<framework>.yaml``) and the controls that apply.

A control set is a YAML file of controls for one framework, each with its framework
references and evidence queries. The controls that apply are the shipped controls of the
plan's ``frameworks``, minus those ``disabled``, with a plan control of the same id
replacing the shipped one (it stays under that framework), plus the plan's own controls.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError

from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.source import SourceProblem, format_path, parse_plan_text
from watchkeeper.security.compliance.config import ComplianceSection, Control, Framework

CONTROLS_DIR = Path(__file__).parent / "controls"
FRAMEWORKS: tuple[str, ...] = get_args(Framework)
FRAMEWORK_TITLES = {
    "soc2": "SOC 2",
    "iso27001": "ISO/IEC 27001:2022",
    "gdpr": "GDPR",
    "plan": "The plan's own controls",
}
PLAN = "plan"
"""The framework key of the plan's own controls (those replacing no shipped one)."""


class ControlSetFile(PlanModel):
    """A control set file: the framework it covers and its controls."""

    framework: Framework = Field(description="The framework the controls map to.")
    title: str = Field(min_length=1, description="The framework's name as shown.")
    description: str = Field("", description="What the set covers and what it leaves out.")
    controls: list[Control] = Field(min_length=1, description="The controls.")


@dataclass(frozen=True)
class ControlSet:
    framework: str
    title: str
    description: str
    controls: tuple[Control, ...]


class ControlSetInvalid(WatchkeeperError):
    """A control set file has problems; ``problems`` lists them with file:line:column."""

    def __init__(self, problems: list[SourceProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def parse_control_set(text: str, file: str) -> ControlSet:
    """Return the control set in ``text``; raise ControlSetInvalid listing every problem
    (``file:line:column path: message``, as for the plan)."""
    from watchkeeper.plan.explain import explain

    doc = parse_plan_text(text, file=file, env={})
    if doc.problems:
        raise ControlSetInvalid(doc.problems)
    context: dict[str, Any] = {}
    try:
        parsed = ControlSetFile.model_validate(doc.data, context=context)
    except ValidationError as exc:
        raise ControlSetInvalid(
            [
                SourceProblem(file, doc.position(path, key=is_key), format_path(path), message)
                for path, message, is_key in explain(exc, doc.data, context)
            ]
        ) from None
    seen: dict[str, int] = {}
    problems = []
    for i, control in enumerate(parsed.controls):
        if control.name in seen:
            path = ("controls", i, "name")
            problems.append(
                SourceProblem(
                    file,
                    doc.position(path),
                    format_path(path),
                    f'"{control.name}" is already used by controls[{seen[control.name]}]',
                )
            )
        seen.setdefault(control.name, i)
    if problems:
        raise ControlSetInvalid(problems)
    return ControlSet(parsed.framework, parsed.title, parsed.description, tuple(parsed.controls))


@cache
def shipped(framework: str) -> ControlSet:
    """The control set shipped for ``framework``; raise ControlSetInvalid if the file is
    broken (a packaging error: the tests validate every shipped file)."""
    path = CONTROLS_DIR / f"{framework}.yaml"
    found = parse_control_set(path.read_text(encoding="utf-8"), str(path))
    if found.framework != framework:
        raise ControlSetInvalid(
            [SourceProblem(str(path), None, "framework", f'must be "{framework}"')]
        )
    return found


def shipped_ids(frameworks: list[str]) -> dict[str, str]:
    """The ids of the shipped controls of ``frameworks``, with the framework of each."""
    return {c.name: f for f in frameworks for c in shipped(f).controls}


def unknown_disabled(frameworks: list[str], disabled: list[str]) -> list[tuple[int, str]]:
    """``(index, message)`` for each id of ``disabled`` that is no shipped control of
    ``frameworks``."""
    known = shipped_ids(frameworks)
    problems = []
    for i, name in enumerate(disabled):
        if name in known:
            continue
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        sets = ", ".join(frameworks) or "none: `frameworks` is empty"
        problems.append((i, f'"{name}" is not a shipped control of the frameworks ({sets}){hint}'))
    return problems


@dataclass(frozen=True)
class EffectiveControl:
    """A control that applies, where it comes from and the framework it is shown under."""

    control: Control
    framework: str
    origin: Literal["shipped", "replaced", "plan"]

    @property
    def id(self) -> str:
        return self.control.name


def effective_controls(section: ComplianceSection) -> list[EffectiveControl]:
    """The controls that apply under ``section`` (see the module docstring), shipped ones
    first in their files' order, then the plan's own in the plan's order."""
    own = {c.name: c for c in section.controls}
    disabled = set(section.disabled)
    out: list[EffectiveControl] = []
    used: set[str] = set()
    for framework in dict.fromkeys(section.frameworks):
        for control in shipped(framework).controls:
            if control.name in disabled or control.name in used:
                continue
            replacement = own.get(control.name)
            if replacement is not None:
                out.append(EffectiveControl(replacement, framework, "replaced"))
            else:
                out.append(EffectiveControl(control, framework, "shipped"))
            used.add(control.name)
    out += [EffectiveControl(c, PLAN, "plan") for c in section.controls if c.name not in used]
    return out
