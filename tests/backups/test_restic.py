"""The restic engine against real restic and local repositories."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from tests.backups.restic_support import PASSWORD, engine, local_repo, source_dir, unreachable_url
from watchkeeper.backups.engine import EngineError, KeepPolicy, Progress
from watchkeeper.backups.restic import parse_time

TAGS = ["watchkeeper", "policy=files"]


def test_init_creates_once(tmp_path: Path) -> None:
    restic, repo = engine(tmp_path), local_repo(tmp_path)

    async def main() -> tuple[bool, bool]:
        return await restic.init(repo), await restic.init(repo)

    assert asyncio.run(main()) == (True, False)


def test_backup_paths_reports_progress_and_lists_snapshot(tmp_path: Path) -> None:
    restic, repo, src = engine(tmp_path), local_repo(tmp_path), source_dir(tmp_path, 2 << 20)
    seen: list[Progress] = []

    async def main() -> None:
        await restic.init(repo)
        result = await restic.backup_paths(
            repo, [src], tags=TAGS, exclude=["*.tmp"], progress=seen.append
        )
        assert result.snapshot_id
        assert result.files == 3  # skip.tmp left out
        assert result.bytes_total >= 2 << 20
        snaps = await restic.snapshots(repo, ["policy=files"])
        assert [s.id[:8] for s in snaps] == [result.snapshot_id[:8]]
        assert set(TAGS) <= set(snaps[0].tags)
        assert snaps[0].hostname == "watchkeeper"
        assert snaps[0].time.tzinfo is not None
        assert await restic.snapshots(repo, ["policy=other"]) == []
        target = tmp_path / "restored"
        await restic.restore(repo, result.snapshot_id, target)
        restored = target / src.relative_to("/")
        assert (restored / "sub" / "b.txt").read_text() == "beta\n"
        assert not (restored / "skip.tmp").exists()

    asyncio.run(main())
    assert seen, "the progress callback was never called"
    assert all(0.0 <= p.fraction <= 1.0 for p in seen)


def test_backup_command_round_trip_through_dump(tmp_path: Path) -> None:
    restic, repo = engine(tmp_path), local_repo(tmp_path)
    out = tmp_path / "out.sql"

    async def main() -> None:
        await restic.init(repo)
        result = await restic.backup_command(
            repo, ["sh", "-c", "echo 'CREATE TABLE t (x int);'"], "app.sql", tags=TAGS
        )
        assert result.bytes_total == len("CREATE TABLE t (x int);\n")
        await restic.dump_to_command(
            repo, result.snapshot_id, "app.sql", ["sh", "-c", f"cat > {out}"]
        )

    asyncio.run(main())
    assert out.read_text() == "CREATE TABLE t (x int);\n"


def test_failing_dump_keeps_no_snapshot(tmp_path: Path) -> None:
    restic, repo = engine(tmp_path), local_repo(tmp_path)

    async def main() -> None:
        await restic.init(repo)
        with pytest.raises(EngineError) as caught:
            await restic.backup_command(
                repo,
                ["sh", "-c", "echo partial; echo 'pg_dump: connection refused' >&2; exit 3"],
                "db.pgdump",
                tags=TAGS,
            )
        assert "exit status 3" in str(caught.value)
        assert "connection refused" in str(caught.value)
        assert await restic.snapshots(repo) == []

    asyncio.run(main())


def test_failing_restore_command_is_an_error(tmp_path: Path) -> None:
    restic, repo = engine(tmp_path), local_repo(tmp_path)

    async def main() -> None:
        await restic.init(repo)
        result = await restic.backup_command(repo, ["echo", "data"], "x.sql", tags=TAGS)
        with pytest.raises(EngineError, match="exit status 4"):
            await restic.dump_to_command(
                repo, result.snapshot_id, "x.sql", ["sh", "-c", "cat >/dev/null; exit 4"]
            )
        with pytest.raises(EngineError, match="dump of missing.sql failed"):
            await restic.dump_to_command(repo, result.snapshot_id, "missing.sql", ["cat"])

    asyncio.run(main())


def test_forget_dry_run_lists_exactly_what_is_removed(tmp_path: Path) -> None:
    restic, repo, src = engine(tmp_path), local_repo(tmp_path), source_dir(tmp_path)
    keep = KeepPolicy(last=2)

    async def main() -> None:
        await restic.init(repo)
        made = []
        for i in range(4):
            (src / "a.txt").write_text(f"version {i}\n")
            made.append((await restic.backup_paths(repo, [src], tags=TAGS)).snapshot_id)
        # another policy's snapshot is not touched
        other = await restic.backup_paths(repo, [src], tags=["watchkeeper", "policy=other"])
        planned = await restic.forget(repo, keep, tags=["policy=files"], dry_run=True)
        assert len(await restic.snapshots(repo)) == 5  # nothing removed yet
        applied = await restic.forget(repo, keep, tags=["policy=files"], dry_run=False)
        assert [s.id for s in applied.remove] == [s.id for s in planned.remove]
        assert {s.id[:8] for s in planned.remove} == {m[:8] for m in made[:2]}
        left = {s.id[:8] for s in await restic.snapshots(repo)}
        assert left == {made[2][:8], made[3][:8], other.snapshot_id[:8]}
        assert (await restic.check(repo, None)).ok

    asyncio.run(main())


def test_forget_keeps_the_latest_dump_of_every_database(tmp_path: Path) -> None:
    """One policy, two databases, the same tags: keep_last 1 keeps one dump of each."""
    restic, repo = engine(tmp_path), local_repo(tmp_path)

    async def main() -> None:
        await restic.init(repo)
        made = {}
        for db in ("orders", "billing"):
            result = await restic.backup_command(
                repo, ["sh", "-c", f"echo {db}"], f"{db}.sql", tags=TAGS
            )
            made[db] = result.snapshot_id
        planned = await restic.forget(repo, KeepPolicy(last=1), tags=TAGS, dry_run=True)
        assert planned.remove == ()
        assert {s.id[:8] for s in planned.keep} == {v[:8] for v in made.values()}

    asyncio.run(main())


def test_check_reads_a_subset(tmp_path: Path) -> None:
    restic, repo, src = engine(tmp_path), local_repo(tmp_path), source_dir(tmp_path)

    async def main() -> None:
        await restic.init(repo)
        await restic.backup_paths(repo, [src], tags=TAGS)
        result = await restic.check(repo, "50%")
        assert result.ok, result.output
        assert "no errors were found" in result.output
        for pack in (Path(repo.url) / "data").rglob("*"):
            if pack.is_file():
                pack.write_bytes(b"\0" * pack.stat().st_size)
        broken = await restic.check(repo, "100%")
        assert not broken.ok

    asyncio.run(main())


def test_copy_to_second_repository(tmp_path: Path) -> None:
    restic, src = engine(tmp_path), source_dir(tmp_path)
    first = local_repo(tmp_path, "first")
    second = local_repo(tmp_path, "second", password="another-password-for-copy")

    async def main() -> None:
        await restic.init(first)
        await restic.init(second)
        made = await restic.backup_paths(first, [src], tags=TAGS)
        await restic.copy(first, second, [made.snapshot_id])
        copied = await restic.snapshots(second, ["policy=files"])
        assert len(copied) == 1 and set(TAGS) <= set(copied[0].tags)

    asyncio.run(main())


def test_cancelled_backup_leaves_repository_consistent(tmp_path: Path) -> None:
    restic, src = engine(tmp_path), source_dir(tmp_path, 4 << 20)
    # 50 KiB/s: the backup cannot finish before it is cancelled
    repo = dataclasses.replace(local_repo(tmp_path), limit_upload=50)

    async def main() -> None:
        await restic.init(repo)
        started = asyncio.Event()
        task = asyncio.create_task(
            restic.backup_paths(repo, [src], tags=TAGS, progress=lambda p: started.set())
        )
        await asyncio.wait_for(started.wait(), 60)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not list((Path(repo.url) / "locks").iterdir()), "restic left its lock"
        assert await restic.snapshots(repo) == []
        result = await restic.check(repo, None)
        assert result.ok, result.output

    asyncio.run(main())


def test_cancelled_dump_backup_ends_the_dump_command(tmp_path: Path) -> None:
    restic, repo = engine(tmp_path), local_repo(tmp_path)
    pid_file = tmp_path / "dump.pid"

    async def main() -> None:
        await restic.init(repo)
        task = asyncio.create_task(
            restic.backup_command(
                repo,
                ["sh", "-c", f"echo $$ > {pid_file}; head -c 100000 /dev/zero; exec sleep 600"],
                "slow.dump",
                tags=TAGS,
            )
        )
        for _ in range(500):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await restic.snapshots(repo) == []
        # A restic killed after the grace period leaves its (now stale) lock: the runner
        # removes stale locks after a cancel, as here; a live lock would stay and fail below.
        await restic.unlock(repo)
        assert (await restic.check(repo, None)).ok

    asyncio.run(main())
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"


def test_unreachable_repository_error_names_it_without_secrets(tmp_path: Path) -> None:
    restic = engine(tmp_path)
    repo = dataclasses.replace(local_repo(tmp_path, "offsite"), url=unreachable_url(tmp_path))

    async def main() -> None:
        with pytest.raises(EngineError) as caught:
            await restic.init(repo)
        message = str(caught.value)
        assert "offsite" in message
        assert "not a directory" in message
        assert PASSWORD not in message

    asyncio.run(main())


def test_wrong_password_is_an_error_without_the_password(tmp_path: Path) -> None:
    restic, repo, src = engine(tmp_path), local_repo(tmp_path), source_dir(tmp_path)
    wrong = dataclasses.replace(repo, password="wrong-password-guessed")

    async def main() -> None:
        await restic.init(repo)
        with pytest.raises(EngineError) as caught:
            await restic.backup_paths(wrong, [src], tags=TAGS)
        assert "wrong password" in str(caught.value)
        assert "wrong-password-guessed" not in str(caught.value)

    asyncio.run(main())


def test_tags_with_commas_are_refused(tmp_path: Path) -> None:
    restic, repo = engine(tmp_path), local_repo(tmp_path)
    with pytest.raises(EngineError, match="cannot contain"):
        asyncio.run(restic.backup_paths(repo, [tmp_path], tags=["a,b"]))


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-12-05T04:23:48.026328932Z", "2026-12-05T04:23:48.026328+00:00"),
        ("2026-12-05T06:23:48.5+02:00", "2026-12-05T04:23:48.500000+00:00"),
        ("2026-12-05T04:23:48Z", "2026-12-05T04:23:48+00:00"),
    ],
)
def test_parse_time(text: str, iso: str) -> None:
    assert parse_time(text).isoformat() == iso
