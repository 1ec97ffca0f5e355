"""Load one section of a plan file on its own, for the commands that work on that section only
(``watchkeeper backup run --plan``, ``watchkeeper restore ... --plan``): they start without
importing and validating every other section's models, which was most of their start-up.

The section is checked as a full load checks it (keys and values, duplicate names, the
references inside it), each problem at its file:line:column. The rest of the file is read as
YAML but not validated (``watchkeeper plan check`` and ``watchkeeper up`` do that): a mistake
in another section does not stop a backup or a restore.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from watchkeeper.plan.explain import explain
from watchkeeper.plan.objects import duplicate_names, section_objects
from watchkeeper.plan.source import (
    Path_,
    PlanInvalid,
    SourceDocument,
    SourceProblem,
    format_path,
    parse_plan_text,
)

M = TypeVar("M", bound=BaseModel)
References = Callable[[M], Iterable[tuple[Path_, str]]]


def load_section(
    path: Path,
    name: str,
    model: type[M],
    *,
    env: Mapping[str, str] | None = None,
    references: References[M] | None = None,
) -> M:
    """Return the section ``name`` of the plan file at ``path`` as ``model`` (its defaults
    when the file has no such section); raise PlanInvalid listing the section's problems.
    ``references`` yields (path from the plan's root, message) for names the section uses
    but does not declare."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PlanInvalid([SourceProblem(str(path), None, "", f"cannot read: {reason}")]) from None
    doc = parse_plan_text(text, file=str(path), env=env, base_dir=path.parent)
    problems = [p for p in doc.problems if _within(p.path, name)]
    if doc.data is None and doc.problems:  # a syntax error: nothing to validate
        raise PlanInvalid(doc.problems)
    data = doc.data.get(name) if isinstance(doc.data, dict) else None
    context: dict[str, Any] = {}
    try:
        section = model.model_validate({} if data is None else data, context=context)
    except ValidationError as exc:
        explained = [p.path for p in problems]
        for where, message, is_key in explain(exc, data, context):
            full = (name, *where)
            shown = format_path(full)
            if any(_within(e, shown) for e in explained):
                continue  # a source problem (an unset ${VAR}) inside it explains it
            problems.append(SourceProblem(doc.file, doc.position(full, key=is_key), shown, message))
        raise PlanInvalid(_in_file_order(problems)) from None
    problems += duplicate_names(doc, section_objects(name, section))
    problems += _located(doc, references(section) if references else ())
    if problems:
        raise PlanInvalid(_in_file_order(problems))
    return section


def _within(shown: str, section: str) -> bool:
    """Whether the plan path ``shown`` (``backups.policies[0].name``) is in ``section``."""
    return shown == section or shown.startswith((section + ".", section + "["))


def _located(doc: SourceDocument, found: Iterable[tuple[Path_, str]]) -> list[SourceProblem]:
    return [
        SourceProblem(doc.file, doc.position(where), format_path(where), message)
        for where, message in found
    ]


def _in_file_order(problems: list[SourceProblem]) -> list[SourceProblem]:
    return sorted(
        problems, key=lambda p: (p.position.line, p.position.column) if p.position else (0, 0)
    )
