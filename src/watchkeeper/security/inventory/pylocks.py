"""Python requirements and lock files: the exact versions a deployment installs.

Which parser reads a file is decided by its name: ``poetry.lock``, ``uv.lock``,
``Pipfile.lock``, ``pylock.toml``/``pylock.*.toml`` (PEP 751); any other file is read as a
pip requirements file, of which only exact pins count (``name==version``, ``name===version``,
extras allowed). Comments, options (``-r``, ``--index-url``, ``--hash``), line continuations
and environment markers are ignored; other requirements (ranges, URLs, editables, wildcards)
are skipped and counted, since no single version is known for them.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from watchkeeper.security.inventory.model import (
    PYPI,
    Collected,
    CollectError,
    finish,
    normalise_pypi,
)

MAX_FILE_BYTES = 64 << 20
"""Largest requirements or lock file read."""

Pairs = list[tuple[str, str]]

_COMMENT = re.compile(r"(^|\s)#.*$")
_OPTIONS = re.compile(r"\s--?[A-Za-z]")
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?"
    r"\s*===?\s*(?P<version>[^\s,;*]+)$"
)


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined (hashes often sit on continuation lines)."""
    out: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def parse_requirements(text: str) -> tuple[Pairs, int]:
    """Return the exact pins of a pip requirements file and how many requirements were
    skipped because they pin no single version."""
    pairs: Pairs = []
    skipped = 0
    for raw in _logical_lines(text):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        if line.startswith("-"):
            if line.startswith(("-e", "--editable")):
                skipped += 1  # an editable (local or VCS) checkout has no pinned version
            continue  # -r, -c, --index-url ... : options, not requirements
        option = _OPTIONS.search(line)
        if option:
            line = line[: option.start()].strip()  # --hash=... after the requirement
        requirement = line.split(";", 1)[0].strip()  # environment markers
        match = _PIN.match(requirement)
        if match is None:
            skipped += 1
            continue
        pairs.append((normalise_pypi(match["name"]), match["version"]))
    return pairs, skipped


def _toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CollectError(f"{where}: not valid TOML: {exc}") from None


def _named_versions(items: Any, where: str, key: str) -> tuple[Pairs, int]:
    if not isinstance(items, list):
        raise CollectError(f"{where}: `{key}` is not a list of tables")
    pairs: Pairs = []
    skipped = 0
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            skipped += 1
            continue
        version = item.get("version")
        if not isinstance(version, str) or not version:
            skipped += 1
            continue
        pairs.append((normalise_pypi(item["name"]), version))
    return pairs, skipped


def parse_poetry_lock(text: str, where: str = "poetry.lock") -> tuple[Pairs, int]:
    """Return the ``[[package]]`` names and versions of a ``poetry.lock``."""
    return _named_versions(_toml(text, where).get("package", []), where, "package")


def parse_uv_lock(text: str, where: str = "uv.lock") -> tuple[Pairs, int]:
    """Return the ``[[package]]`` names and versions of a ``uv.lock``, without the
    project's own packages (``source = { editable | virtual = ... }``)."""
    items = _toml(text, where).get("package", [])
    if isinstance(items, list):
        items = [
            item
            for item in items
            if not (
                isinstance(item, dict)
                and isinstance(item.get("source"), dict)
                and ("editable" in item["source"] or "virtual" in item["source"])
            )
        ]
    return _named_versions(items, where, "package")


def parse_pylock(text: str, where: str = "pylock.toml") -> tuple[Pairs, int]:
    """Return the ``[[packages]]`` names and versions of a PEP 751 ``pylock.toml``."""
    return _named_versions(_toml(text, where).get("packages", []), where, "packages")


def parse_pipfile_lock(text: str, where: str = "Pipfile.lock") -> tuple[Pairs, int]:
    """Return the ``default`` and ``develop`` packages of a ``Pipfile.lock``; entries
    without an ``==`` version (VCS, paths, editables) are skipped."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CollectError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CollectError(f"{where}: not a Pipfile.lock (no JSON object)")
    pairs: Pairs = []
    skipped = 0
    for group in ("default", "develop"):
        entries = doc.get(group)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise CollectError(f"{where}: `{group}` is not an object")
        for name, entry in entries.items():
            version = entry.get("version") if isinstance(entry, dict) else None
            if not isinstance(version, str) or not version.startswith("=="):
                skipped += 1
                continue
            pairs.append((normalise_pypi(name), version.lstrip("=").strip()))
    return pairs, skipped


def read_text(path: Path) -> str:
    """Return a file's text; raise CollectError naming it when unreadable or too large."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CollectError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise CollectError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MB")
    return data.decode("utf-8", errors="replace")


def parse_python_lock(name: str, text: str, where: str) -> tuple[Pairs, int]:
    """Return the pins of the file called ``name`` (its format chosen by its name)."""
    if name == "poetry.lock":
        return parse_poetry_lock(text, where)
    if name == "uv.lock":
        return parse_uv_lock(text, where)
    if name == "Pipfile.lock":
        return parse_pipfile_lock(text, where)
    if name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml")):
        return parse_pylock(text, where)
    return parse_requirements(text)


def collect_python_lock(location: str) -> Collected:
    """Return the inventory of a requirements or lock file; raise CollectError."""
    path = Path(location)
    pairs, skipped = parse_python_lock(path.name, read_text(path), location)
    return finish(PYPI, location, pairs, skipped=skipped)
