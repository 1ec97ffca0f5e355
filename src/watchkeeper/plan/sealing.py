"""Plan secrets at rest: the values of ``Secret`` fields (passwords, tokens, credentials in
connection URLs) are sealed by the secrets service when an object is stored, and opened
when it is read back, so the ``objects`` table never holds them in clear.

A ``Secret`` value is validated into a :class:`SecretText` (a ``str``), which is how the
paths to seal are found in a validated object. Reading is transparent: the ``objects.spec``
column opens every sealed value it returns (``store/sealed_json.py``), with the keys of the
secrets services this process has (:func:`remember`). This module does not load
SQLAlchemy: commands that only read a plan file start faster without it.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel

from watchkeeper.auth.secrets import SecretBox, SecretError

log = logging.getLogger(__name__)

_SEALED = re.compile(r"^wk1:[0-9a-f]{8}:[A-Za-z0-9_=-]+$")
_boxes: list[SecretBox] = []

Path = tuple[str | int, ...]


class SecretText(str):
    """A secret's value: a ``str`` that says it is one."""

    __slots__ = ()


def is_sealed(value: str) -> bool:
    """True when ``value`` has the form of a sealed secret (``wk1:<key id>:<data>``)."""
    return bool(_SEALED.match(value))


def mark_secret(value: str) -> str:
    """The ``Secret`` type's last validator."""
    return SecretText(value)


def remember(box: SecretBox) -> None:
    """Seal with ``box`` from now on, and open with it (and every box remembered before:
    a process that served several stores, as the tests do, reads them all)."""
    if box in _boxes:
        _boxes.remove(box)
    _boxes.insert(0, box)


def secret_paths(value: Any, path: Path = ()) -> Iterator[Path]:
    """Yield the paths of the secret values in a validated plan object (keys as dumped)."""
    if isinstance(value, SecretText):
        yield path
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            key = info.serialization_alias or info.alias or name
            yield from secret_paths(getattr(value, name), (*path, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from secret_paths(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from secret_paths(item, (*path, key))


def seal(spec: dict[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    """Return a copy of ``spec`` with the values at ``paths`` sealed (``spec`` itself is
    left as it is); unchanged when this process has no secrets service."""
    if not _boxes:
        return spec
    box = _boxes[0]
    sealed = copy.deepcopy(spec)
    for path in paths:
        parent: Any = sealed
        try:
            for step in path[:-1]:
                parent = parent[step]
            value = parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(value, str) and value and not _SEALED.match(value):
            parent[path[-1]] = box.seal(value)
    return sealed


def needs_sealing(raw: Any, paths: Iterable[Path]) -> bool:
    """True when a value at ``paths`` of the stored (raw) spec is in clear, or sealed with
    a key other than the current one."""
    if not _boxes:
        return False
    for path in paths:
        value: Any = raw
        try:
            for step in path:
                value = value[step]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(value, str) and value:
            if not _SEALED.match(value) or _boxes[0].needs_reseal(value):
                return True
    return False


def open_all(value: Any) -> Any:
    """Return ``value`` with every sealed string opened (in place for dicts and lists). A
    value no remembered key opens stays sealed and is logged (the key was changed without
    WATCHKEEPER_SECRET_KEY_PREVIOUS)."""
    if isinstance(value, str):
        return _open(value) if _SEALED.match(value) else value
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = open_all(item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = open_all(item)
    return value


def _open(sealed: str) -> str:
    for box in _boxes:
        try:
            return box.open(sealed)
        except SecretError:
            continue
    log.error(
        "a stored plan secret cannot be opened with this server's secret key; set "
        "WATCHKEEPER_SECRET_KEY_PREVIOUS to the key it was sealed with"
    )
    return sealed
