"""The disaster-recovery runbook of a backup policy, in Markdown: what is backed up where,
how often, how long it is kept, what the last drill measured, and the exact commands that
restore it with restic alone (for the day Watchkeeper's own server is the thing that is
gone). Secrets never appear: passwords are read from files the reader points to.
"""

from __future__ import annotations

import shlex
from datetime import datetime

from watchkeeper.backups.config import BackupsSection, Policy, Retention, all_repositories
from watchkeeper.backups.sources import mariadb, postgres
from watchkeeper.backups.views import PolicyView, RunView, mask_url

PASSWORD_FILE = "/path/to/repository-password"


def dump_name(source_type: str, database: str) -> str:
    """The path a database dump has inside a snapshot (what ``restic dump`` reads): the
    name the source module stored it under, at the snapshot's root."""
    if source_type == "postgres":
        return "/" + postgres.dump_filename(database)
    return "/" + mariadb.dump_filename(database)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min {seconds % 60} s"
    return f"{minutes // 60} h {minutes % 60} min"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _retention(retention: Retention | None) -> str:
    if retention is None:
        return "No retention: every snapshot is kept (no `forget` runs)."
    keeps = [
        f"{field.removeprefix('keep_')} {getattr(retention, field)}"
        for field in ("keep_last", "keep_hourly", "keep_daily", "keep_weekly")
        + ("keep_monthly", "keep_yearly")
        if getattr(retention, field)
    ]
    return f"Keep {', '.join(keeps)}; `restic forget --prune` runs on `{retention.schedule}` (UTC)."


def _drill(view: PolicyView) -> list[str]:
    drill: RunView | None = view.last_drill
    if view.policy.drill is None:
        return ["Restore drills are switched off for this policy (`drill: null`)."]
    lines = [f"Restore drills run on `{view.policy.drill.schedule}` (UTC)."]
    if drill is None:
        return [*lines, "", "**No drill has run yet: this backup has not been proven to restore.**"]
    verdict = "passed" if drill.status == "succeeded" else "**failed**"
    lines += [
        "",
        f"Last drill {verdict} on {_when(drill.finished_at or drill.started_at)} "
        f"(repository `{drill.repository}`"
        + (f", snapshot `{drill.snapshot_id}`" if drill.snapshot_id else "")
        + "):",
        "",
        f"- measured restore time (RTO): {_duration(drill.rto_s)}",
        f"- snapshot age at restore (RPO): {_duration(drill.rpo_s)}",
    ]
    if drill.error:
        lines.append(f"- error: {drill.error}")
    return lines


def _access(section: BackupsSection, policy: Policy) -> list[str]:
    urls = {r.name: r for r in section.repositories}
    out = ["```sh"]
    for i, name in enumerate(all_repositories(policy)):
        repo = urls.get(name)
        url = mask_url(repo.url) if repo else "?"
        hash_ = "" if i == 0 else "# "
        out.append(f"{hash_}export RESTIC_REPOSITORY={shlex.quote(url)}   # {name}")
        for key in sorted(repo.env if repo else {}):
            out.append(f"{hash_}export {key}=...   # from your secrets store")
    out += [
        f"export RESTIC_PASSWORD_FILE={PASSWORD_FILE}",
        f"restic snapshots --tag {shlex.quote('policy=' + policy.name)}",
        "```",
    ]
    return out


def _restore_steps(view: PolicyView) -> list[str]:
    policy, src = view.policy, view.policy.source
    tag = shlex.quote(f"policy={policy.name}")
    out: list[str] = []
    if src.type == "postgres" and src.mode == "logical":
        dbs = list(src.databases) or ["DATABASE"]
        out.append(
            "Restore each database into a **new** database, check it, then switch the "
            "application over (or rename). `HOST`/`USER` are a PostgreSQL server you can write to."
        )
        for name in dbs:
            new = shlex.quote(f"{name}_restored")
            out += [
                "",
                "```sh",
                f"createdb -h HOST -U USER {new}",
                f"restic dump latest --tag {tag} --path {shlex.quote(dump_name('postgres', name))} "
                f"{shlex.quote(dump_name('postgres', name))} \\",
                f"  | pg_restore --no-owner -h HOST -U USER -d {new}",
                "```",
            ]
    elif src.type == "postgres":
        out += [
            "A physical base backup (a tar of the cluster's data directory): unpack it into "
            "an empty data directory of the same PostgreSQL major version, owned by the "
            "`postgres` user, then start the server on it.",
            "",
            "```sh",
            "mkdir -m 700 /var/lib/postgresql/restored",
            f"restic dump latest --tag {tag} --path /{postgres.BASEBACKUP_FILE} "
            f"/{postgres.BASEBACKUP_FILE} \\",
            "  | tar -x -C /var/lib/postgresql/restored",
            "```",
        ]
    elif src.type in ("mariadb", "mysql"):
        dbs = list(src.databases) or ["DATABASE"]
        out.append("Restore each database into a **new** database, check it, then switch over.")
        for name in dbs:
            new = f"{name}_restored"
            out += [
                "",
                "```sh",
                f"mariadb -h HOST -u USER -p -e {shlex.quote(f'CREATE DATABASE `{new}`')}",
                f"restic dump latest --tag {tag} --path {shlex.quote(dump_name('mariadb', name))} "
                f"{shlex.quote(dump_name('mariadb', name))} \\",
                f"  | mariadb -h HOST -u USER -p {shlex.quote(new)}",
                "```",
            ]
    else:
        out += [
            "Restore into an empty directory, compare, then move files into place:",
            "",
            "```sh",
            f"restic restore latest --target /tmp/restore-{policy.name} --tag {tag}",
        ]
        targets = view.source.targets[:1]
        if targets:
            out.append("# only one path:")
            out.append(
                f"restic restore latest --target /tmp/restore-{policy.name} --tag {tag} "
                f"--include {shlex.quote(targets[0])}"
            )
        out.append("```")
        if src.type == "watchkeeper":
            out += [
                "",
                "Stop Watchkeeper first; put the store and the home directory back, then "
                "start it and run `watchkeeper status`.",
            ]
    return out


def _watchkeeper_steps(policy: Policy) -> list[str]:
    name = shlex.quote(policy.name)
    src = policy.source
    steps = [f"watchkeeper restore points {name}   # the snapshots, newest last"]
    if (src.type == "postgres" and src.mode == "logical") or src.type in ("mariadb", "mysql"):
        dbs = list(src.databases) or ["DATABASE"]
        for db in dbs:
            steps.append(
                f"watchkeeper restore database {name} {shlex.quote(db)} "
                f"--to {shlex.quote(db + '_restored')}   # or --at TIME / --snapshot ID"
            )
    elif src.type == "watchkeeper":
        steps.append(f"watchkeeper restore files {name} --to /var/tmp/restore-{policy.name}")
    else:
        steps.append(
            f"watchkeeper restore files {name} --to /var/tmp/restore-{policy.name}"
            "   # --at TIME, --include PATH"
        )
    return steps


def render_runbook(
    section: BackupsSection,
    view: PolicyView,
    *,
    now: datetime,
    restore_command: bool = False,
) -> str:
    """Return the runbook of ``view``'s policy in Markdown; ``restore_command`` adds the
    ``watchkeeper restore`` way (when this version has that command)."""
    policy = view.policy
    urls = {r.name: r.url for r in section.repositories}
    lines = [
        f"# Disaster recovery runbook: {policy.name}",
        "",
        f"Generated by Watchkeeper on {_when(now)} from the applied plan. Keep a copy "
        "where you can read it when this server is down (print it, or store it with your "
        "other runbooks).",
    ]
    if policy.description:
        lines += ["", policy.description]
    lines += ["", "## What is backed up", "", f"- Source: {view.source.summary}"]
    if view.source.server:
        lines.append(f"- Server: `{view.source.server}`")
    lines += [
        f"- Schedule: `{policy.schedule}` (UTC); next run {_when(view.next_run)}",
        f"- Snapshots carry the tag `policy={policy.name}`"
        + (f" and {', '.join(f'`{t}`' for t in policy.tags)}" if policy.tags else ""),
        "",
        "## Where",
        "",
        "| Repository | Location | Last good backup | Size | Snapshot |",
        "| --- | --- | --- | --- | --- |",
    ]
    for repo in view.repositories:
        last = repo.last_success
        name = f"{repo.name} (copies from {repo.copy_of})" if repo.copy_of else repo.name
        lines.append(
            f"| {name} | `{mask_url(urls.get(repo.name, ''))}` | "
            f"{_when(last.finished_at or last.started_at) if last else 'never'} | "
            f"{_size(last.bytes_total) if last else '–'} | "
            f"`{last.snapshot_id if last and last.snapshot_id else '–'}` |"
        )
    lines += [
        "",
        "Repository passwords and credentials are not in this runbook: they are the plan's "
        "secrets (`backups.repositories[].password`, `env`). Keep a copy of them outside "
        "this server, or the backups cannot be read.",
        "",
        "## Retention",
        "",
        _retention(policy.retention),
        "",
        "## Proof that it restores",
        "",
        *_drill(view),
    ]
    if policy.check is not None:
        check = view.last_check
        result = (
            "never run"
            if check is None
            else f"{'passed' if check.status == 'succeeded' else '**failed**'} on "
            f"{_when(check.finished_at or check.started_at)}"
        )
        lines += [
            "",
            f"Integrity check `restic check --read-data-subset {policy.check.read_data_subset}` "
            f"on `{policy.check.schedule}` (UTC): {result}.",
        ]
    lines += [
        "",
        "## How to restore",
        "",
        "### 1. Reach a repository",
        "",
        "Put the repository password in a file readable only by you, then list the "
        "snapshots (the first repository is the primary; the others hold copies):",
        "",
        *_access(section, policy),
        "",
        "To restore an earlier point in time, use a snapshot ID from that list instead of "
        "`latest`.",
        "",
        "### 2. Restore",
        "",
        *_restore_steps(view),
    ]
    if restore_command:
        lines += [
            "",
            "### With Watchkeeper",
            "",
            "Watchkeeper reads the repository passwords from the plan itself. With the store "
            "lost, add `--plan watchkeeper.yaml` to each command. A restore never writes over "
            "data: databases go to a new name, files to an empty directory.",
            "",
            "```sh",
            *_watchkeeper_steps(policy),
            "```",
        ]
    return "\n".join(lines) + "\n"
