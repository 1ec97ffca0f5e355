"""The on-disk spool: bounded (oldest dropped and counted), ordered, survives a restart."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from watchkeeper.agent.spool import LOGS, METRICS, PACKAGES, Spool
from watchkeeper.exceptions import ConfigError


def bodies(spool: Spool) -> list[bytes]:
    """Every batch in the order the sender would take them (acknowledging each)."""
    out = []
    while (entry := spool.oldest()) is not None:
        body = spool.read(entry)
        assert body is not None
        out.append(body)
        spool.remove(entry)
    return out


def test_batches_come_out_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1_000_000)
    for i in range(12):  # past 9 -> 10, where sorting names as text would go wrong
        spool.put(f"batch {i}".encode())
    assert len(spool) == 12
    assert spool.size_bytes == sum(len(f"batch {i}") for i in range(12))
    assert bodies(spool) == [f"batch {i}".encode() for i in range(12)]
    assert len(spool) == 0 and spool.size_bytes == 0
    assert list((tmp_path / "spool").iterdir()) == []


def test_over_the_bound_the_oldest_are_dropped_counted_and_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool", 1000)
    for i in range(10):
        spool.put(bytes([i]) * 100)
    assert spool.dropped_total == 0 and not caplog.records

    with caplog.at_level(logging.WARNING, logger="watchkeeper.agent.spool"):
        spool.put(b"x" * 350)  # 1350 bytes: the 4 oldest (400 bytes) must go
    assert spool.dropped_total == 4
    assert spool.size_bytes == 950
    assert [b[:1] for b in bodies(spool)] == [bytes([i]) for i in range(4, 10)] + [b"x"]
    (warning,) = caplog.records
    assert "dropped the 4 oldest batch(es)" in warning.getMessage()
    assert "(4 dropped since the agent started)" in warning.getMessage()


def test_a_batch_larger_than_the_bound_is_still_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 100)
    spool.put(b"a" * 50)
    spool.put(b"b" * 500)
    assert spool.dropped_total == 1
    assert bodies(spool) == [b"b" * 500]


def test_the_spool_survives_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    first = Spool(directory, 1_000_000)
    for i in range(3):
        first.put(f"before {i}".encode())
    first.remove(first.oldest())  # type: ignore[arg-type]
    # A crash in the middle of writing a batch leaves only its temporary file.
    (directory / "00000000000000000004.tmp").write_bytes(b"half a ba")

    again = Spool(directory, 1_000_000)
    assert len(again) == 2
    again.put(b"after")
    assert bodies(again) == [b"before 1", b"before 2", b"after"]
    assert not list(directory.glob("*.tmp"))


def test_the_directory_is_private(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1000)
    entry = spool.put(b"secret-ish metrics")
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600


def test_an_unusable_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ConfigError, match=r"spool directory .*file/spool"):
        Spool(tmp_path / "file" / "spool", 1000)


def test_log_batches_are_their_own_kind_in_the_same_order_and_bound(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory, 1000)
    spool.put(b"m" * 300)
    spool.put(b"l" * 300, LOGS)
    spool.put(b"m" * 300)
    assert spool.oldest(LOGS).kind == LOGS  # type: ignore[union-attr]
    assert spool.oldest().kind == METRICS  # type: ignore[union-attr]
    assert spool.bytes_of(LOGS) == 300
    assert sorted(p.name for p in directory.iterdir()) == [
        "00000000000000000001.batch",  # the name older agents wrote and read
        "00000000000000000002.logs.batch",
        "00000000000000000003.batch",
    ]
    spool.put(b"l" * 300, LOGS)  # over the bound: the oldest goes, whatever its kind
    assert spool.dropped_by_kind == {LOGS: 0, METRICS: 1, PACKAGES: 0}
    again = Spool(directory, 1000)
    assert [(e.seq, e.kind) for e in again.entries()] == [(2, LOGS), (3, METRICS), (4, LOGS)]
    (directory / "00000000000000000009.traces.batch").write_bytes(b"a newer agent's")
    assert len(Spool(directory, 1000)) == 3  # left alone


def test_a_batch_is_not_seen_before_its_callback_ran_and_is_undone_if_it_fails(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool", 1000)
    seen: list[object] = []
    spool.put(b"kept", LOGS, before_visible=lambda: seen.append(spool.oldest()))
    assert seen == [None] and len(spool) == 1

    def fail() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        spool.put(b"undone", LOGS, before_visible=fail)
    assert bodies(spool) == [b"kept"]
    assert list((tmp_path / "spool").iterdir()) == []
