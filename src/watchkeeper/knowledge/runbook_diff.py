"""The difference between two revisions of a runbook, line by line, as the history page and
the API show it (a unified diff with the line numbers of both sides)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from watchkeeper.exceptions import ValidationFailed
from watchkeeper.knowledge.runbooks import RevisionView, revision

CONTEXT = 3


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff: ``kind`` is "hunk" (a ``@@`` header), "add", "del" or "same";
    ``old`` and ``new`` are its line numbers on each side (None where it is absent)."""

    kind: str
    old: int | None
    new: int | None
    text: str


@dataclass(frozen=True)
class RunbookDiff:
    slug: str
    old: RevisionView
    new: RevisionView
    lines: list[DiffLine]

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.kind == "add")

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.kind == "del")

    def unified(self) -> str:
        """The diff as ``diff -u`` prints it."""
        out = [
            f"--- {self.slug} version {self.old.version}",
            f"+++ {self.slug} version {self.new.version}",
        ]
        sign = {"hunk": "", "add": "+", "del": "-", "same": " "}
        out += [sign[line.kind] + line.text for line in self.lines]
        return "\n".join(out) + "\n"


def diff_lines(old: str, new: str, context: int = CONTEXT) -> list[DiffLine]:
    """Return the lines of the unified diff from ``old`` to ``new`` ([] when equal)."""
    a, b = old.splitlines(), new.splitlines()
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        header = f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@"
        out.append(DiffLine("hunk", None, None, header))
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out += [DiffLine("same", a1 + k + 1, b1 + k + 1, a[a1 + k]) for k in range(a2 - a1)]
                continue
            out += [DiffLine("del", k + 1, None, a[k]) for k in range(a1, a2)]
            out += [DiffLine("add", None, k + 1, b[k]) for k in range(b1, b2)]
    return out


def diff(db: Session, slug: str, old: int, new: int) -> RunbookDiff:
    """Return the diff of runbook ``slug`` from version ``old`` to version ``new``; raise
    NotFoundError if either version does not exist."""
    if old < 1 or new < 1:
        raise ValidationFailed("versions start at 1", [("from" if old < 1 else "to", "at least 1")])
    before, after = revision(db, slug, old), revision(db, slug, new)
    return RunbookDiff(slug, before, after, diff_lines(before.content, after.content))
