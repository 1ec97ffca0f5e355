"""Test support for the restic engine and the runner: local repositories in temp dirs, a
repository that cannot be reached, and source files to back up."""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path

from tests.conftest import remember_secret
from watchkeeper.backups.config import BackupsSection
from watchkeeper.backups.engine import RepositoryAccess
from watchkeeper.backups.restic import Restic
from watchkeeper.plan.loader import load_plan_text

PASSWORD = remember_secret("engine-repo-password-not-in-logs")


def engine(tmp_path: Path) -> Restic:
    """A Restic with its cache in the test's directory and a short grace period."""
    return Restic(cache_dir=tmp_path / "restic-cache", grace=5.0, progress_fps=20.0)


def local_repo(tmp_path: Path, name: str = "local", password: str = PASSWORD) -> RepositoryAccess:
    return RepositoryAccess(
        name=name, url=str(tmp_path / f"repo-{name}-{uuid.uuid4().hex[:6]}"), password=password
    )


def unreachable_url(tmp_path: Path) -> str:
    """A local repository path under a regular file: restic can never create it."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    return str(blocker / "repo")


def source_dir(tmp_path: Path, size: int = 256 * 1024) -> Path:
    """A directory with a few files (``size`` random bytes in the largest)."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "big.bin").write_bytes(os.urandom(size))
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.txt").write_text("beta\n")
    (src / "skip.tmp").write_text("left out\n")
    return src


def section(tmp_path: Path, body: str) -> BackupsSection:
    """The ``backups`` section of a plan whose text is ``body`` (indented under backups:)."""
    text = "backups:\n" + textwrap.indent(textwrap.dedent(body), "  ")
    return load_plan_text(text, env={}).plan.backups
