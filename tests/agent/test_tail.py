"""Tailing real files: appends, rotation by rename and by truncation, restarts from the saved
positions (also after a crash between spooling and saving), new, excluded and damaged files.
Every test compares the exact list of lines shipped: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.agent.logutil import Shipper, append, messages, spooled_lines, with_plan
from watchkeeper.agent.checkpoint import FILE_NAME
from watchkeeper.logs.config import FileSource
from watchkeeper.logs.model import MAX_LINE_BYTES


def lines(prefix: str, start: int, stop: int) -> str:
    return "".join(f"{prefix} {n}\n" for n in range(start, stop))


def names(prefix: str, start: int, stop: int) -> list[str]:
    return [f"{prefix} {n}" for n in range(start, stop)]


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    path = tmp_path / "log"
    path.mkdir()
    return path


def test_appended_lines_arrive_once_and_a_partial_line_waits(tmp_path: Path, logdir: Path) -> None:
    app = logdir / "app.log"
    app.write_text("written before the agent started\n")
    s = Shipper(tmp_path, [str(app)])
    try:
        assert s.cycle() == 0  # start_at: end (like tail -f)
        append(app, "first\nsecond\nthird, still being writ")
        s.cycle()
        assert messages(s.spool) == ["first", "second"]
        append(app, "ten\n\nfourth\r\n")
        s.cycle()
        assert messages(s.spool) == ["third, still being written", "fourth"]
        shipped = spooled_lines(s.spool)
        assert shipped == []
    finally:
        s.close()


def test_lines_carry_the_host_the_file_name_and_the_source_labels(
    tmp_path: Path, logdir: Path
) -> None:
    app = logdir / "app.log"
    app.write_text("already there\n")
    s = Shipper(tmp_path, [])
    try:
        with_plan(
            s,
            FileSource(
                name="app",
                paths=[str(logdir / "*.log")],
                labels={"app": "shop"},
                start_at="beginning",
            ),
        )
        s.cycle()
        (line,) = spooled_lines(s.spool)
        assert line["message"] == "already there"
        assert line["labels"] == {
            "source": "file",
            "app": "shop",
            "host": "test-host",
            "filename": str(app),
        }
        assert isinstance(line["timestamp"], int) and line["timestamp"] > 1_700_000_000 * 10**9
    finally:
        s.close()


def test_rotation_by_rename_reads_the_old_file_to_its_end_then_the_new_one(
    tmp_path: Path, logdir: Path
) -> None:
    """logrotate's create mode: app.log is renamed to app.log.1 (no longer matched), the
    application still writes a little to the old file, then to a new app.log."""
    app = logdir / "app.log"
    app.touch()
    s = Shipper(tmp_path, [str(app)])
    try:
        s.cycle()
        with app.open("a") as writer:
            writer.write(lines("old", 0, 3))
            writer.flush()
            s.cycle()
            os.rename(app, logdir / "app.log.1")
            writer.write(lines("old", 3, 5))  # before the application reopens its log
        append(app, lines("new", 0, 3))
        s.cycle()
        assert messages(s.spool) == names("old", 0, 5) + names("new", 0, 3)
        assert list(s.shipper.files.values())[0].tailers.keys() == {
            f"{os.stat(app).st_dev}:{os.stat(app).st_ino}"
        }  # the rotated file was let go
        append(app, lines("new", 3, 4))
        s.cycle()
        assert messages(s.spool) == ["new 3"]
    finally:
        s.close()


def test_copytruncate_starts_over_at_the_beginning(tmp_path: Path, logdir: Path) -> None:
    app = logdir / "app.log"
    app.touch()
    s = Shipper(tmp_path, [str(app)])
    try:
        s.cycle()
        append(app, lines("before", 0, 3))
        s.cycle()
        shutil.copyfile(app, logdir / "app.log.1")
        with app.open("r+") as fh:
            fh.truncate(0)
        append(app, lines("after", 0, 2))  # shorter than before: the size shrank
        s.cycle()
        assert messages(s.spool) == names("before", 0, 3) + names("after", 0, 2)
        assert s.shipper.counters.truncations == 1
    finally:
        s.close()


def test_a_file_truncated_and_rewritten_past_the_old_offset_is_noticed_by_its_fingerprint(
    tmp_path: Path, logdir: Path
) -> None:
    app = logdir / "app.log"
    app.touch()
    s = Shipper(tmp_path, [str(app)])
    try:
        s.cycle()
        append(app, "short\n")
        s.cycle()
        with app.open("w") as fh:  # truncated, then more than before written at once
            fh.write("a much longer first line\nand a second\n")
        s.cycle()
        assert messages(s.spool) == ["short", "a much longer first line", "and a second"]
    finally:
        s.close()


def test_a_restart_continues_from_the_saved_positions_through_a_rotation(
    tmp_path: Path, logdir: Path
) -> None:
    app = logdir / "app.log"
    app.touch()
    first = Shipper(tmp_path, [str(app)])
    try:
        first.cycle()
        append(app, lines("a", 0, 4) + "a 4 is half")
        first.cycle()
        shipped = messages(first.spool)
    finally:
        first.close()
    # While the agent is stopped: the half line is finished, more lines come, the file is
    # rotated and the new file gets lines too.
    append(app, " written\n" + lines("a", 5, 7))
    os.rename(app, logdir / "app.log.1")
    append(app, lines("b", 0, 2))
    second = Shipper(tmp_path, [str(app)])
    try:
        second.cycle()
        shipped += messages(second.spool)
    finally:
        second.close()
    assert shipped == [*names("a", 0, 4), "a 4 is half written", *names("a", 5, 7), "b 0", "b 1"]


def test_a_crash_between_spooling_and_saving_the_positions_repeats_nothing(
    tmp_path: Path, logdir: Path
) -> None:
    """The positions file is put back as it was before the last batch, as if the agent
    died right after the batch reached the spool: the batch's header brings it up to date."""
    app = logdir / "app.log"
    app.touch()
    first = Shipper(tmp_path, [str(app)])
    positions = first.config.state_directory / FILE_NAME
    try:
        first.cycle()
        saved = positions.read_bytes()
        append(app, lines("x", 0, 3))
        first.cycle()
    finally:
        first.close()
    positions.write_bytes(saved)  # the save of the last batch never happened
    append(app, lines("x", 3, 5))
    second = Shipper(tmp_path, [str(app)])
    try:
        second.cycle()
        assert messages(second.spool) == names("x", 0, 5)  # the first batch, still spooled
    finally:
        second.close()


def test_a_reused_inode_with_other_content_is_read_from_its_start(
    tmp_path: Path, logdir: Path
) -> None:
    app = logdir / "app.log"
    app.write_text("")
    first = Shipper(tmp_path, [str(app)])
    try:
        first.cycle()
        append(app, "version one\n")
        first.cycle()
        assert messages(first.spool) == ["version one"]
    finally:
        first.close()
    with app.open("r+") as fh:  # same inode, other first bytes, longer than the position
        fh.write("VERSION TWO, first line\nsecond line\n")
    second = Shipper(tmp_path, [str(app)])
    try:
        second.cycle()
        assert messages(second.spool) == ["VERSION TWO, first line", "second line"]
    finally:
        second.close()


def test_new_files_are_read_from_their_start_and_excluded_ones_never(
    tmp_path: Path, logdir: Path
) -> None:
    (logdir / "old.log").write_text("before the source was seen\n")
    s = Shipper(tmp_path, [])
    try:
        with_plan(s, FileSource(name="all", paths=[str(logdir / "*")], exclude=["debug-*"]))
        s.cycle()
        (logdir / "new.log").write_text("created later\n")
        (logdir / "debug-1.log").write_text("excluded\n")
        (logdir / "old.log.2.gz").write_bytes(b"\x1f\x8b compressed")
        append(logdir / "old.log", "appended\n")
        s.cycle()
        assert sorted(messages(s.spool)) == ["appended", "created later"]
    finally:
        s.close()


def test_start_at_beginning_reads_what_the_files_already_hold(tmp_path: Path, logdir: Path) -> None:
    (logdir / "a.log").write_text(lines("a", 0, 2))
    s = Shipper(tmp_path, [])
    try:
        with_plan(s, FileSource(name="a", paths=[str(logdir / "a.log")], start_at="beginning"))
        s.cycle()
        assert messages(s.spool) == names("a", 0, 2)
    finally:
        s.close()


def test_invalid_utf8_is_repaired_and_long_lines_shipped_in_pieces(
    tmp_path: Path, logdir: Path
) -> None:
    app = logdir / "app.log"
    app.touch()
    s = Shipper(tmp_path, [str(app)])
    try:
        s.cycle()
        append(app, b"caf\xe9 \xff ok\n" + b"x" * (MAX_LINE_BYTES + 10) + b"\nafter\n")
        s.cycle()
        got = messages(s.spool)
        assert got == ["caf\ufffd \ufffd ok", "x" * MAX_LINE_BYTES, "x" * 10, "after"]
        assert s.shipper.counters.repaired == 1
        assert s.shipper.counters.cut == 1
    finally:
        s.close()


def test_latin1_files_are_decoded_with_their_encoding(tmp_path: Path, logdir: Path) -> None:
    (logdir / "legacy.log").write_bytes("café\n".encode("latin-1"))
    s = Shipper(tmp_path, [])
    try:
        with_plan(
            s,
            FileSource(
                name="legacy",
                paths=[str(logdir / "legacy.log")],
                encoding="latin-1",
                start_at="beginning",
            ),
            FileSource(name="wide", paths=[str(logdir / "x")], encoding="utf-16"),
        )
        s.cycle()
        assert messages(s.spool) == ["café"]
        assert "file/plan/wide" not in s.shipper.files  # not ASCII-compatible: refused
    finally:
        s.close()


def test_reading_pauses_while_log_batches_fill_half_the_spool(tmp_path: Path, logdir: Path) -> None:
    app = logdir / "app.log"
    app.touch()
    s = Shipper(tmp_path, [str(app)], spool_max_bytes=64 * 1024)
    s.spool.max_bytes = 64 * 1024
    try:
        s.cycle()
        # Random text does not compress: each batch is about its size on disk.
        for batch in range(6):
            append(app, "".join(f"{batch} {os.urandom(3000).hex()}\n" for _ in range(2)))
            asyncio.run(s.shipper._cycle_once(lambda: None))
        assert s.shipper.paused
        assert s.spool.dropped_total == 0
        assert os.path.getsize(app) > s.spool.bytes_of("logs")  # the rest waits in the file
        got = spooled_lines(s.spool)  # the server took them
        asyncio.run(s.shipper._cycle_once(lambda: None))
        assert not s.shipper.paused
        s.cycle()
        got += spooled_lines(s.spool)
        assert [line["message"].split()[0] for line in got] == [
            str(b) for b in range(6) for _ in range(2)
        ]
    finally:
        s.close()


def test_positions_are_saved_owner_only_as_json(tmp_path: Path, logdir: Path) -> None:
    app = logdir / "app.log"
    app.write_text("x\n")
    s = Shipper(tmp_path, [str(app)])
    try:
        s.cycle()
        path = s.config.state_directory / FILE_NAME
        doc = json.loads(path.read_text())
        (state,) = doc["sources"].values()
        (position,) = state["files"].values()
        assert position["offset"] == 2 and position["path"] == str(app)
        assert os.stat(path).st_mode & 0o077 == 0
    finally:
        s.close()
