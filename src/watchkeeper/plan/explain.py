"""Pydantic's validation errors said the way the plan's problems are: where in the data,
and a message a person writing YAML understands (unknown keys with the closest allowed
one, missing keys, unknown types, the value that was refused). Used by the plan loader and
by everything that validates one part of a plan on its own."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from watchkeeper.plan.source import Path_


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
