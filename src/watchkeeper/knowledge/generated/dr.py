"""The disaster-recovery runbooks: one per backup policy of the plan, as the backups domain
writes it (``backups/runbook.py``), gathered under a table of where each policy stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from watchkeeper.backups import views
from watchkeeper.backups.runbook import render_runbook
from watchkeeper.knowledge.generated import markdown as md

RESTORE_COMMAND = True  # `watchkeeper restore` exists (cli_restore.py)


@dataclass(frozen=True)
class PolicyRunbook:
    """One policy's runbook, on its own (a file of the offline bundle)."""

    policy: str
    markdown: str


@dataclass(frozen=True)
class DrRunbooks:
    markdown: str
    parts: tuple[PolicyRunbook, ...]


def build(db: Session, links: md.Links, now: datetime) -> DrRunbooks:
    """Return every policy's runbook, and all of them in one document."""
    section = views.load_section(db)
    found = [views.policy_view(db, section, p, now) for p in section.policies]
    parts = tuple(
        PolicyRunbook(v.name, render_runbook(section, v, now=now, restore_command=RESTORE_COMMAND))
        for v in found
    )
    lines = ["# Disaster-recovery runbooks", ""]
    if not found:
        lines.append(
            "No backup policies are declared (`backups.policies`): there is nothing to "
            "restore from. Declare repositories and policies in the plan; each policy then "
            "gets its runbook here."
        )
        return DrRunbooks("\n".join(lines), parts)
    lines += [
        "How to restore each backup of the plan, with restic alone if need be (for the day "
        "this server is what is gone). Repository passwords are not in these runbooks: keep "
        "them where you can reach them without this server.",
        "",
    ]
    rows = []
    for v in found:
        good = v.last_success
        drill = v.last_drill
        rows.append(
            [
                md.link(v.name, links.dr_policy(v.name)),
                md.text(v.source.summary),
                md.text(md.when(good.finished_at or good.started_at) if good else "never"),
                md.text(
                    "none"
                    if drill is None
                    else ("passed " if drill.status == "succeeded" else "failed ")
                    + md.when(drill.finished_at or drill.started_at)
                ),
            ]
        )
    lines += md.table(["Policy", "What", "Last good backup", "Last restore drill"], rows)
    for part in parts:
        lines += ["", "---", "", md.demote(part.markdown)]
    return DrRunbooks("\n".join(lines), parts)
