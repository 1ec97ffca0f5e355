"""Load and validate a plan file, reporting every problem at once with file:line:column."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from watchkeeper.knowledge.runbook_folder import folder_problems
from watchkeeper.plan.crossrefs import broken_references
from watchkeeper.plan.explain import explain
from watchkeeper.plan.models import Plan
from watchkeeper.plan.objects import duplicate_names, plan_objects
from watchkeeper.plan.source import (
    PlanInvalid as PlanInvalid,  # where callers have always found it
)
from watchkeeper.plan.source import (
    SourceDocument,
    SourceProblem,
    format_path,
    parse_plan_text,
)


@dataclass(frozen=True)
class LoadedPlan:
    """A valid plan, where it came from, and the digest of its text."""

    plan: Plan
    file: str
    digest: str


def validate_document(doc: SourceDocument) -> Plan:
    """Return the Plan for a parsed document; raise PlanInvalid listing every problem."""
    problems = list(doc.problems)
    if doc.data is None and problems:  # a syntax error: nothing to validate
        raise PlanInvalid(problems)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise PlanInvalid(
            [
                SourceProblem(
                    doc.file, doc.position(()), "", "the plan must be a mapping of sections"
                )
            ]
        )
    context: dict[str, Any] = {}
    try:
        plan = Plan.model_validate(data, context=context)
        problems += duplicate_names(doc, plan_objects(plan))
        problems += [
            SourceProblem(doc.file, doc.position(path), format_path(path), message)
            for path, message in broken_references(plan)
        ]
        if not problems:
            return plan
    except ValidationError as exc:
        explained = [p.path for p in problems]
        for path, message, is_key in explain(exc, data, context):
            shown = format_path(path)
            if any(e == shown or e.startswith((shown + ".", shown + "[")) for e in explained):
                continue  # a source problem (e.g. an unset ${VAR}) inside it explains it
            pos = doc.position(path, key=is_key)
            problems.append(SourceProblem(doc.file, pos, shown, message))
    problems.sort(key=lambda p: (p.position.line, p.position.column) if p.position else (0, 0))
    raise PlanInvalid(problems)


def load_plan_text(
    text: str,
    *,
    file: str = "watchkeeper.yaml",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> LoadedPlan:
    """Return the validated plan in ``text``; raise PlanInvalid with every problem found."""
    doc = parse_plan_text(text, file=file, env=env, base_dir=base_dir)
    plan = validate_document(doc)
    if base_dir is not None and (problems := folder_problems(doc, plan.runbooks, base_dir)):
        raise PlanInvalid(problems)  # the runbooks folder's files, each at its file:line
    return LoadedPlan(plan=plan, file=file, digest=hashlib.sha256(text.encode("utf-8")).hexdigest())


def load_plan_file(path: Path, *, env: Mapping[str, str] | None = None) -> LoadedPlan:
    """Return the validated plan in ``path``; raise PlanInvalid (also when unreadable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PlanInvalid([SourceProblem(str(path), None, "", f"cannot read: {reason}")]) from None
    return load_plan_text(text, file=str(path), env=env, base_dir=path.parent)
