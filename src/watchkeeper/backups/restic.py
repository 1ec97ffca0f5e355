"""The restic engine: drives the ``restic`` command through its ``--json`` output.

Secrets stay out of argv and out of messages: the repository password and the repository's
environment (S3 keys...) go to restic through its environment only, and every error text
taken from restic or a dump command is scrubbed of them before it is raised.

A run that is cancelled (a timeout, shutdown) interrupts restic's whole process group with
SIGINT first, so that restic removes its repository lock and leaves the repository
consistent, and kills it after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchkeeper.backups.engine import (
    BackupResult,
    CheckResult,
    EngineError,
    ForgetResult,
    KeepPolicy,
    Progress,
    ProgressCallback,
    RepositoryAccess,
    Snapshot,
    WrittenCallback,
    tool_environment,
)
from watchkeeper.logging_setup import redact

log = logging.getLogger(__name__)

HOST = "watchkeeper"
"""The host name every snapshot Watchkeeper makes carries (stable across replicas, so that
retention groups snapshots the same wherever the backup ran)."""

_TAIL_LINES = 8
_STREAM_LIMIT = 16 * 1024 * 1024  # one JSON line (a large snapshot list) may be long
_FRACTION = re.compile(r"\.(\d{6})\d+")
_RESTORING = re.compile(
    r"^restoring <Snapshot (?P<id>[0-9a-f]+) of \[(?P<paths>.*)\] at "
    r"(?P<day>\d{4}-\d\d-\d\d) (?P<clock>\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))? (?P<zone>[+-]\d{4}) "
)


@dataclass
class _Done:
    code: int
    stdout: list[str]
    stderr: str


class Restic:
    """The :class:`~watchkeeper.backups.engine.Engine` on top of the restic command."""

    name = "restic"

    def __init__(
        self,
        binary: str = "restic",
        *,
        cache_dir: Path | None = None,
        grace: float = 10.0,
        progress_fps: float = 1.0,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self.cache_dir = cache_dir
        self.grace = grace
        self.progress_fps = progress_fps
        self._base_env = base_env

    # -- the Engine protocol ------------------------------------------------------------------

    async def init(self, repo: RepositoryAccess) -> bool:
        """Create the repository if it does not exist; return True when it was created."""
        done = await self._run(repo, ["init"], check=False)
        if done.code == 0:
            return True
        if "already exists" in done.stderr or "already initialized" in done.stderr:
            return False
        raise self._error(repo, "cannot create the repository", done)

    async def backup_paths(
        self,
        repo: RepositoryAccess,
        paths: Sequence[Path],
        *,
        tags: Sequence[str],
        exclude: Sequence[str] = (),
        progress: ProgressCallback | None = None,
    ) -> BackupResult:
        args = ["backup", "--host", HOST, *_tag_args(tags)]
        for pattern in exclude:
            args += ["--exclude", pattern]
        args += ["--", *(str(p) for p in paths)]
        summary: dict[str, Any] = {}
        done = await self._run(
            repo,
            args,
            check=False,
            limits=True,
            on_line=_backup_lines(summary, progress),
        )
        # Exit code 3: some source files could not be read, but the snapshot was made.
        if done.code not in (0, 3) or "snapshot_id" not in summary:
            raise self._error(repo, "backup failed", done)
        return _result(summary)

    async def backup_command(
        self,
        repo: RepositoryAccess,
        argv: Sequence[str],
        filename: str,
        *,
        tags: Sequence[str],
        env: Mapping[str, str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> BackupResult:
        """Back up the standard output of ``argv`` as ``filename``; raise EngineError and
        forget the snapshot restic made of the partial output if the command fails."""
        args = [
            "backup",
            "--host",
            HOST,
            "--stdin",
            "--stdin-filename",
            filename,
            *_tag_args(tags),
        ]
        summary: dict[str, Any] = {}
        read_end, write_end = os.pipe()
        secrets = [*(env or {}).values()]
        try:
            try:
                dump = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=write_end,
                    stderr=asyncio.subprocess.PIPE,
                    env=self._child_env(env or {}),
                    start_new_session=True,
                )
            except OSError as exc:
                raise EngineError(
                    f"cannot start the dump command {argv[0]}", exc.strerror or ""
                ) from None
            os.close(write_end)
            write_end = -1
            dump_errors = asyncio.create_task(_tail(dump.stderr))
            try:
                done = await self._run(
                    repo,
                    args,
                    check=False,
                    limits=True,
                    stdin=read_end,
                    on_line=_backup_lines(summary, progress),
                )
            except BaseException:
                await _finish(dump, self.grace)
                raise
            finally:
                os.close(read_end)
                read_end = -1
            # restic stopped reading: at the end of the dump, or because it failed (the dump
            # then gets a broken pipe); either way the dump must end now.
            await _settle(dump, self.grace)
            dump_code = dump.returncode
            dump_tail = await dump_errors
        finally:
            for fd in (read_end, write_end):
                if fd >= 0:
                    os.close(fd)
        snapshot = str(summary.get("snapshot_id", ""))
        if dump_code != 0:
            if snapshot:
                with contextlib.suppress(EngineError):
                    await self._run(repo, ["forget", snapshot])
            raise EngineError(
                f"the dump command {argv[0]} failed with exit status {dump_code}",
                self._scrub(repo, dump_tail, secrets),
            )
        if done.code != 0 or not snapshot:
            raise self._error(repo, "backup failed", done)
        return _result(summary)

    async def snapshots(self, repo: RepositoryAccess, tags: Sequence[str] = ()) -> list[Snapshot]:
        args = ["snapshots"]
        if tags:
            args += ["--tag", ",".join(tags)]
        done = await self._run(repo, args, limits=True)
        data = _json(done.stdout, repo)
        return sorted((_snapshot(s) for s in data or []), key=lambda s: s.time)

    async def forget(
        self,
        repo: RepositoryAccess,
        keep: KeepPolicy,
        *,
        tags: Sequence[str],
        dry_run: bool,
    ) -> ForgetResult:
        """Apply ``keep`` to the snapshots carrying every tag of ``tags``, grouped by their
        tags; ``dry_run`` only reports. When not a dry run, unreferenced data is pruned."""
        # Per path and tags: each database of a policy is its own snapshot series, so
        # keep-last 1 keeps the latest dump of every database, not of one of them.
        args = ["forget", "--group-by", "paths,tags", *_keep_args(keep)]
        if not args[3:]:
            raise EngineError("a retention policy needs at least one keep count")
        if tags:
            args += ["--tag", ",".join(tags)]
        args.append("--dry-run" if dry_run else "--prune")
        done = await self._run(repo, args, limits=True)
        keep_list: list[Snapshot] = []
        remove: list[Snapshot] = []
        for group in _json(done.stdout, repo) or []:
            keep_list += [_snapshot(s) for s in group.get("keep") or []]
            remove += [_snapshot(s) for s in group.get("remove") or []]
        return ForgetResult(
            keep=tuple(sorted(keep_list, key=lambda s: s.time)),
            remove=tuple(sorted(remove, key=lambda s: s.time)),
        )

    async def check(self, repo: RepositoryAccess, read_data_subset: str | None) -> CheckResult:
        args = ["check"]
        if read_data_subset:
            args.append(f"--read-data-subset={read_data_subset}")
        done = await self._run(repo, args, check=False, limits=True, json_output=False)
        output = self._scrub(repo, "\n".join([*done.stdout, done.stderr]).strip(), [])
        return CheckResult(ok=done.code == 0, output=output)

    async def copy(
        self, source: RepositoryAccess, target: RepositoryAccess, snapshot_ids: Sequence[str]
    ) -> None:
        extra = {
            **source.env,
            "RESTIC_FROM_REPOSITORY": source.url,
            "RESTIC_FROM_PASSWORD": source.password,
        }
        done = await self._run(
            target,
            ["copy", *snapshot_ids],
            check=False,
            limits=True,
            extra_env=extra,
            json_output=False,
        )
        if done.code != 0:
            raise self._error(
                target, f"copy from {source.name} failed", done, [source.password, source.url]
            )

    async def restore(
        self,
        repo: RepositoryAccess,
        snapshot_id: str,
        target: Path,
        *,
        include: Sequence[str] = (),
        tags: Sequence[str] = (),
        written: WrittenCallback | None = None,
    ) -> Snapshot | None:
        args = ["restore", snapshot_id, "--target", str(target)]
        if tags:
            args += ["--tag", ",".join(tags)]
        for pattern in include:
            args += ["--include", pattern]
        done = await self._run(
            repo, args, limits=True, json_output=False, written=written, extra_env={"TZ": "UTC"}
        )
        # restic 0.14 has no JSON output for restore; its first line names the snapshot.
        return next(filter(None, map(restored_snapshot, done.stdout)), None)

    async def restore_size(self, repo: RepositoryAccess, snapshot_id: str) -> int:
        """Bytes a full restore of ``snapshot_id`` writes (``restic stats --mode restore-size``)."""
        done = await self._run(repo, ["stats", "--mode", "restore-size", snapshot_id])
        data = _json(done.stdout, repo)
        return int(data.get("total_size", 0)) if isinstance(data, dict) else 0

    async def dump_to_command(
        self,
        repo: RepositoryAccess,
        snapshot_id: str,
        filename: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        written: WrittenCallback | None = None,
    ) -> None:
        path = filename if filename.startswith("/") else f"/{filename}"
        read_end, write_end = os.pipe()
        secrets = [*(env or {}).values()]
        try:
            try:
                sink = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=read_end,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                    env=self._child_env(env or {}),
                    start_new_session=True,
                )
            except OSError as exc:
                raise EngineError(
                    f"cannot start the restore command {argv[0]}", exc.strerror or ""
                ) from None
            os.close(read_end)
            read_end = -1
            sink_errors = asyncio.create_task(_tail(sink.stderr))
            try:
                done = await self._run(
                    repo,
                    ["dump", snapshot_id, path],
                    check=False,
                    limits=True,
                    stdout=write_end,
                    json_output=False,
                    written=written,
                )
            except BaseException:
                await _finish(sink, self.grace)
                raise
            finally:
                os.close(write_end)
                write_end = -1
            # The sink sees the end of its input now; a restore may take a while after that.
            try:
                await sink.wait()
            finally:
                await _finish(sink, self.grace)
            sink_tail = await sink_errors
        finally:
            for fd in (read_end, write_end):
                if fd >= 0:
                    os.close(fd)
        if done.code != 0:
            raise self._error(repo, f"dump of {filename} failed", done)
        if sink.returncode != 0:
            raise EngineError(
                f"the restore command {argv[0]} failed with exit status {sink.returncode}",
                self._scrub(repo, sink_tail, secrets),
            )

    # -- beyond the protocol ------------------------------------------------------------------

    async def unlock(self, repo: RepositoryAccess) -> None:
        """Remove stale locks (left by a restic that was killed); live locks stay."""
        await self._run(repo, ["unlock"], json_output=False)

    # -- running restic -----------------------------------------------------------------------

    def _child_env(self, extra: Mapping[str, str]) -> dict[str, str]:
        base = self._base_env if self._base_env is not None else tool_environment()
        # The caller's own RESTIC_* settings (a repository, a password file) must not leak
        # into a run meant for another repository.
        env = {k: v for k, v in base.items() if not k.startswith("RESTIC_")}
        env.update(extra)
        return env

    def _restic_env(self, repo: RepositoryAccess, extra: Mapping[str, str]) -> dict[str, str]:
        env = self._child_env(
            {
                **repo.env,
                "RESTIC_REPOSITORY": repo.url,
                "RESTIC_PASSWORD": repo.password,
                "RESTIC_PROGRESS_FPS": str(self.progress_fps),
            }
        )
        if self.cache_dir is not None:
            # restic check wants the directory to exist (for its temporary cache)
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            env["RESTIC_CACHE_DIR"] = str(self.cache_dir)
        env.update(extra)
        return env

    async def _run(
        self,
        repo: RepositoryAccess,
        args: list[str],
        *,
        check: bool = True,
        limits: bool = False,
        json_output: bool = True,
        stdin: int | None = None,
        stdout: int | None = None,
        extra_env: Mapping[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
        written: WrittenCallback | None = None,
    ) -> _Done:
        """Run restic on ``repo``; return its exit code, stdout lines and stderr tail.

        Raise EngineError when it cannot start, or (``check``) when it exits non-zero."""
        argv = [self.binary, *args]
        if json_output:
            argv.insert(1, "--json")
        if limits and repo.limit_upload:
            argv.insert(1, f"--limit-upload={repo.limit_upload}")
        if limits and repo.limit_download:
            argv.insert(1, f"--limit-download={repo.limit_download}")
        log.debug("restic %s on repository %s", args[0], repo.name)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=stdout if stdout is not None else asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._restic_env(repo, extra_env or {}),
                start_new_session=True,
                limit=_STREAM_LIMIT,
            )
        except OSError as exc:
            raise EngineError(f"cannot run {self.binary}", exc.strerror or "") from None
        lines: list[str] = []
        errors = asyncio.create_task(_tail(proc.stderr))
        watcher = asyncio.create_task(_watch_writes(proc.pid, written)) if written else None
        try:
            if proc.stdout is not None:
                await _read_lines(proc.stdout, lines, on_line)
            await proc.wait()
        except BaseException:
            await _finish(proc, self.grace)
            errors.cancel()
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
        try:  # a child restic started (ssh) may hold stderr open a moment longer
            stderr = await asyncio.wait_for(errors, self.grace)
        except TimeoutError:
            stderr = ""
        done = _Done(proc.returncode or 0, lines, stderr)
        if check and done.code != 0:
            raise self._error(repo, f"restic {args[0]} failed", done)
        return done

    def _error(
        self, repo: RepositoryAccess, what: str, done: _Done, more: Sequence[str] = ()
    ) -> EngineError:
        text = done.stderr.strip() or "\n".join(done.stdout[-_TAIL_LINES:])
        detail = self._scrub(repo, text, more) or f"exit status {done.code}"
        return EngineError(f"repository {repo.name}: {what}", detail)

    def _scrub(self, repo: RepositoryAccess, text: str, more: Sequence[str]) -> str:
        """``text`` without the repository's secrets (password, environment values) or any
        credentials the log redaction recognises."""
        for secret in sorted([repo.password, *repo.env.values(), *more], key=len, reverse=True):
            if secret and len(secret) >= 4 and secret != repo.url:
                text = text.replace(secret, "••••••••")
        return redact(text)


def restored_snapshot(line: str) -> Snapshot | None:
    """The snapshot a ``restic restore`` line ``restoring <Snapshot 0159420a of [/srv/app]
    at 2026-12-06 14:20:07.2623 +0000 UTC by root@host> to /restore`` names (its short ID,
    paths, time), or None for any other line."""
    found = _RESTORING.match(line)
    if found is None:
        return None
    frac = (found["frac"] or "0")[:6].ljust(6, "0")
    try:
        moment = datetime.strptime(
            f"{found['day']} {found['clock']}.{frac} {found['zone']}", "%Y-%m-%d %H:%M:%S.%f %z"
        )
    except ValueError:
        return None
    paths = tuple(p for p in re.split(r" (?=/)", found["paths"]) if p)
    return Snapshot(found["id"], moment.astimezone(UTC), paths, ())


def written_bytes(pid: int) -> int | None:
    """Bytes process ``pid`` has written so far (``wchar`` of ``/proc/PID/io``: to files and
    pipes alike), or None when the system does not tell."""
    try:
        with open(f"/proc/{pid}/io", "rb") as f:
            for line in f:
                if line.startswith(b"wchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


async def _watch_writes(pid: int, written: WrittenCallback, every: float = 1.0) -> None:
    """Tell ``written`` how many bytes restic has written, every ``every`` seconds: restic
    0.14's restore and dump report no progress of their own, and reading the kernel's count
    costs nothing on the data's path."""
    while True:
        await asyncio.sleep(every)
        count = await asyncio.to_thread(written_bytes, pid)
        if count is None:
            return
        written(count)


async def _read_lines(
    stream: asyncio.StreamReader, lines: list[str], on_line: Callable[[str], None] | None
) -> None:
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line past the limit: skip it
            continue
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if on_line is not None:
            on_line(line)
        else:
            lines.append(line)


async def _tail(stream: asyncio.StreamReader | None, keep: int = _TAIL_LINES) -> str:
    """The last ``keep`` lines of ``stream`` (progress bars and blank lines left out)."""
    if stream is None:
        return ""
    last: deque[str] = deque(maxlen=keep)
    while True:
        try:
            raw = await stream.readline()
        except ValueError:
            continue
        if not raw:
            break
        for part in raw.decode("utf-8", "replace").split("\r"):
            part = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", part).strip()
            if part and not part.startswith("["):
                last.append(part)
    return "\n".join(last)


async def _finish(proc: asyncio.subprocess.Process, grace: float) -> None:
    """Make sure ``proc`` and its process group have ended: SIGINT (restic then removes its
    lock), SIGKILL after ``grace`` seconds. Shielded, so that a cancelled caller still
    waits for the process to go."""
    if proc.returncode is not None:
        return

    async def stop() -> None:
        _signal_group(proc, signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            _signal_group(proc, signal.SIGKILL)
            await proc.wait()

    task: Awaitable[None] = asyncio.ensure_future(stop())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


async def _settle(proc: asyncio.subprocess.Process, grace: float) -> None:
    """Give ``proc`` ``grace`` seconds to end by itself, then end it (see _finish)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
    await _finish(proc, grace)


def _signal_group(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _tag_args(tags: Sequence[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        if "," in tag:
            raise EngineError(f'a tag cannot contain ",": {tag!r}')
        out += ["--tag", tag]
    return out


def _keep_args(keep: KeepPolicy) -> list[str]:
    out: list[str] = []
    for name in ("last", "hourly", "daily", "weekly", "monthly", "yearly"):
        count = getattr(keep, name)
        if count:
            out += [f"--keep-{name}", str(count)]
    return out


def _backup_lines(
    summary: dict[str, Any], progress: ProgressCallback | None
) -> Callable[[str], None]:
    def on_line(line: str) -> None:
        if not line.startswith("{"):
            return
        try:
            msg = json.loads(line)
        except ValueError:
            return
        kind = msg.get("message_type")
        if kind == "summary":
            summary.update(msg)
        elif kind == "status" and progress is not None:
            progress(_progress(msg))

    return on_line


def _progress(msg: Mapping[str, Any]) -> Progress:
    remaining = msg.get("seconds_remaining")
    total = int(msg.get("total_bytes") or 0)
    done = int(msg.get("bytes_done") or 0)
    fraction = float(msg.get("percent_done") or 0.0)
    return Progress(
        fraction=max(0.0, min(1.0, fraction)),
        bytes_done=done,
        bytes_total=max(total, done),
        files_done=int(msg.get("files_done") or 0),
        seconds_elapsed=float(msg.get("seconds_elapsed") or 0),
        # restic reports an absurd estimate while it cannot know the total (stdin).
        seconds_remaining=float(remaining) if remaining and remaining < 10**7 else None,
    )


def _result(summary: Mapping[str, Any]) -> BackupResult:
    return BackupResult(
        snapshot_id=str(summary["snapshot_id"]),
        bytes_total=int(summary.get("total_bytes_processed") or 0),
        bytes_added=int(summary.get("data_added") or 0),
        files=int(summary.get("total_files_processed") or 0),
        seconds=float(summary.get("total_duration") or 0.0),
    )


def _json(lines: Sequence[str], repo: RepositoryAccess) -> Any:
    for line in lines:
        if line.startswith(("[", "{")):
            try:
                return json.loads(line)
            except ValueError:
                break
    raise EngineError(f"repository {repo.name}: restic gave no readable JSON output")


def parse_time(value: str) -> datetime:
    """Return restic's RFC 3339 time (nanoseconds, any offset) as an aware UTC datetime."""
    text = _FRACTION.sub(r".\1", value.strip()).replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _snapshot(data: Mapping[str, Any]) -> Snapshot:
    return Snapshot(
        id=str(data.get("id") or ""),
        time=parse_time(str(data["time"])),
        paths=tuple(data.get("paths") or ()),
        tags=tuple(data.get("tags") or ()),
        hostname=str(data.get("hostname") or ""),
    )
