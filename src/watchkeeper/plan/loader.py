"""Load and validate a plan file, reporting every problem at once with file:line:column."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from watchkeeper.exceptions import ValidationFailed
from watchkeeper.knowledge.runbook_folder import folder_problems
from watchkeeper.plan.crossrefs import broken_references
from watchkeeper.plan.models import Plan
from watchkeeper.plan.objects import plan_objects
from watchkeeper.plan.source import (
    Path_,
    SourceDocument,
    SourceProblem,
    format_path,
    parse_plan_text,
)


class PlanInvalid(ValidationFailed):
    """The plan file has problems; ``problems`` lists all of them in file order."""

    def __init__(self, problems: list[SourceProblem]) -> None:
        super().__init__(
            f"{len(problems)} problem(s) in plan", [(p.path, p.message) for p in problems]
        )
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


@dataclass(frozen=True)
class LoadedPlan:
    """A valid plan, where it came from, and the digest of its text."""

    plan: Plan
    file: str
    digest: str


def _data_path(data: Any, loc: tuple[int | str, ...]) -> Path_:
    """Map a pydantic ``loc`` to a path in the data, skipping union-branch names."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(part, str) and isinstance(node, dict) and i == len(loc) - 1:
            path.append(part)  # a missing or unknown key: keep it so the message names it
    return tuple(path)


def _lookup(data: Any, path: Path_) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _message(err: ErrorDetails, data: Any, path: Path_, allowed: dict[int, list[str]]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = _lookup(data, path[:-1])
        hint = ""
        names = allowed.get(id(parent), [])
        close = difflib.get_close_matches(str(path[-1]), names, n=1, cutoff=0.6)
        if close:
            hint = f' (did you mean "{close[0]}"?)'
        elif names:
            hint = f" (allowed: {', '.join(names)})"
        return f"unknown key{hint}"
    if kind == "missing":
        return "is required"
    if kind == "union_tag_invalid":
        tags = str(ctx.get("expected_tags", "")).replace("'", "")
        return f'unknown type "{ctx.get("tag")}" (available: {tags})'
    if kind == "union_tag_not_found":
        return f'"{ctx.get("discriminator", "type").strip(chr(39))}" is required'
    msg = err["msg"]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        msg = "must be a mapping of keys"
    elif kind == "list_type":
        msg = "must be a list"
    elif kind.startswith("value_error"):
        msg = msg.removeprefix("Value error, ")
    msg = msg[:1].lower() + msg[1:]
    value = err.get("input")
    if (
        isinstance(value, str | int | float)
        and not isinstance(value, bool)
        and (f'"{value}"' not in msg)
    ):
        msg += f' (got "{value}")' if isinstance(value, str) else f" (got {value})"
    return msg


def explain(
    exc: ValidationError, data: Any, context: dict[str, Any]
) -> list[tuple[Path_, str, bool]]:
    """Return ``(path in data, message, is_about_a_key)`` for each error of validating
    ``data`` with ``context`` (the dict passed to ``model_validate``)."""
    allowed: dict[int, list[str]] = context.get("allowed_keys", {})
    out = []
    for err in exc.errors():
        path = _data_path(data, err["loc"])
        out.append((path, _message(err, data, path, allowed), err["type"] == "extra_forbidden"))
    return out


def _duplicate_names(doc: SourceDocument, plan: Plan) -> list[SourceProblem]:
    problems = []
    for obj in plan_objects(plan):
        if obj.duplicate_of is not None:
            path = (*obj.path, "name")
            problems.append(
                SourceProblem(
                    doc.file,
                    doc.position(path),
                    format_path(path),
                    f'"{obj.name}" is already used by {format_path(obj.duplicate_of)}',
                )
            )
    return problems


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
        problems += _duplicate_names(doc, plan)
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
