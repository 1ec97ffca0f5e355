"""Contexts for the hardening checks on a prepared directory tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from watchkeeper.security.config import HardeningProfile
from watchkeeper.security.hardening.interface import AuditContext


def profile(**fields: Any) -> HardeningProfile:
    return HardeningProfile.model_validate({"name": "test", **fields})


def tree_context(root: Path, **fields: Any) -> AuditContext:
    """A context auditing the files under ``root`` with a profile of ``fields``."""
    return AuditContext(profile=profile(**fields), root=root)


def write(root: Path, path: str, text: str, mode: int | None = None) -> Path:
    """Write ``text`` at the system path ``path`` under ``root``."""
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    if mode is not None:
        target.chmod(mode)
    return target
