"""Host metrics and inventory read on this machine: present, named as node_exporter names
them, and with values that make sense."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.agent.conftest import agent_config
from watchkeeper.agent.collect import CPU_MODES, Collector, Sample
from watchkeeper.agent.filesystems import UsageReader, real_mounts
from watchkeeper.agent.inventory import gather_inventory, package_count
from watchkeeper.agent.run import Agent

CPUS = psutil.cpu_count() or 1


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


@pytest.fixture(scope="module")
def samples(collector: Collector) -> dict[str, list[Sample]]:
    by_name: dict[str, list[Sample]] = defaultdict(list)
    for s in collector.collect():
        by_name[s.name].append(s)
    return by_name


def one(samples: dict[str, list[Sample]], name: str) -> float:
    (only,) = samples[name]
    return only.value


def test_cpu_time_per_cpu_and_mode(samples: dict[str, list[Sample]]) -> None:
    cpu = samples["node_cpu_seconds_total"]
    cpus = {dict(s.labels)["cpu"] for s in cpu}
    assert cpus == {str(i) for i in range(CPUS)}
    assert {dict(s.labels)["mode"] for s in cpu} <= set(CPU_MODES)
    idle = [s.value for s in cpu if dict(s.labels)["mode"] == "idle"]
    assert all(v > 0 for v in idle)
    uptime = time.time() - one(samples, "node_boot_time_seconds")
    assert all(v <= uptime * 1.05 for v in idle)  # no CPU idles longer than the host is up
    assert 0 <= one(samples, "node_load1") < 100 * CPUS


def test_memory_and_swap(samples: dict[str, list[Sample]]) -> None:
    total = one(samples, "node_memory_MemTotal_bytes")
    assert total == psutil.virtual_memory().total
    assert 0 < one(samples, "node_memory_MemAvailable_bytes") <= total
    assert 0 <= one(samples, "node_memory_MemFree_bytes") <= total
    assert (
        0
        <= one(samples, "node_memory_SwapFree_bytes")
        <= one(samples, "node_memory_SwapTotal_bytes")
    )


def test_filesystems_are_real_ones_with_consistent_sizes(
    samples: dict[str, list[Sample]],
) -> None:
    sizes = {dict(s.labels)["mountpoint"]: s for s in samples["node_filesystem_size_bytes"]}
    assert sizes, "no filesystem reported"
    avail = {dict(s.labels)["mountpoint"]: s.value for s in samples["node_filesystem_avail_bytes"]}
    free = {dict(s.labels)["mountpoint"]: s.value for s in samples["node_filesystem_free_bytes"]}
    for mountpoint, size in sizes.items():
        labels = dict(size.labels)
        assert labels["fstype"] not in ("proc", "sysfs", "tmpfs", "cgroup", "devpts", "overlay")
        assert not mountpoint.startswith(("/proc", "/sys", "/dev"))
        assert 0 <= avail[mountpoint] <= free[mountpoint] <= size.value
    if any(p.mountpoint == "/" and p.fstype not in ("overlay", "tmpfs") for p in real_mounts()):
        usage = shutil.disk_usage("/")
        assert sizes["/"].value == usage.total


def test_disks_and_network_counters(samples: dict[str, list[Sample]]) -> None:
    disks = {dict(s.labels)["device"] for s in samples["node_disk_read_bytes_total"]}
    assert not any(d.startswith(("loop", "ram", "zram")) for d in disks)
    for name in ("node_disk_written_bytes_total", "node_disk_reads_completed_total"):
        assert {dict(s.labels)["device"] for s in samples[name]} == disks
    received = {
        dict(s.labels)["device"]: s.value for s in samples["node_network_receive_bytes_total"]
    }
    assert "lo" in received
    assert set(received) == set(psutil.net_io_counters(pernic=True))
    assert all(v >= 0 for v in received.values())


def test_system_series(samples: dict[str, list[Sample]]) -> None:
    assert one(samples, "node_procs_total") >= 1
    assert one(samples, "node_boot_time_seconds") == pytest.approx(psutil.boot_time())
    assert one(samples, "node_boot_time_seconds") < one(samples, "node_time_seconds")
    assert abs(one(samples, "node_time_seconds") - time.time()) < 3600  # a clock, not a count
    if os.path.exists("/proc/sys/fs/file-nr"):
        assert 0 < one(samples, "node_filefd_allocated") <= one(samples, "node_filefd_maximum")
    (uname,) = samples["node_uname_info"]
    assert dict(uname.labels)["sysname"] == os.uname().sysname


def test_every_series_is_unique(collector: Collector) -> None:
    keys = [(s.name, s.labels) for s in collector.collect()]
    assert len(keys) == len(set(keys))


def test_inventory_of_this_machine(collector: Collector) -> None:
    inventory = gather_inventory(collector.usage)
    assert inventory["cpu"]["logical"] == os.cpu_count()
    assert inventory["memory_bytes"] == psutil.virtual_memory().total
    assert inventory["kernel"] == os.uname().release
    assert inventory["architecture"] == os.uname().machine
    assert inventory["os"]["name"]
    assert {d["mountpoint"] for d in inventory["disks"]} == {m.mountpoint for m in real_mounts()}
    assert "lo" in inventory["addresses"] and "127.0.0.1" in inventory["addresses"]["lo"]
    assert inventory["boot_time"].endswith("+00:00")
    assert inventory == gather_inventory(collector.usage)  # stable facts only: no resend


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="not a dpkg system")
def test_package_count_matches_dpkg() -> None:
    listed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Status}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert package_count() == {"manager": "dpkg", "count": listed.count("installed")}


def test_a_hanging_filesystem_is_skipped_until_it_answers() -> None:
    # A dead NFS server cannot be made here; a statvfs that blocks until released can.
    release = threading.Event()
    calls: list[str] = []

    def statvfs(path: str) -> os.statvfs_result:
        calls.append(path)
        if path == "/hung":
            release.wait(30)
        return os.statvfs("/")

    reader = UsageReader(statvfs, timeout=0.2)
    try:
        assert reader.usage("/hung") is None
        assert reader.usage("/hung") is None
        assert calls.count("/hung") == 1  # skipped while stuck: no second thread blocked
        assert reader.usage("/") is not None
        release.set()
        deadline = time.monotonic() + 10
        while reader.usage("/hung") is None:
            assert time.monotonic() < deadline, "the mount never came back"
            time.sleep(0.02)
    finally:
        release.set()
        reader.close()


def test_every_metric_is_in_the_operations_guide(collector: Collector, tmp_path: Path) -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    table = guide[guide.index("## Host agent") :]
    agent = Agent(agent_config("http://127.0.0.1:9", "wk_token", tmp_path / "spool"))
    names = {s.name for s in collector.collect()} | {s.name for s in agent._self_metrics()}
    asyncio.run(agent.close())
    undocumented = sorted(n for n in names if f"`{n}`" not in table)
    assert not undocumented, f"add to docs/operations.md, Host agent: {undocumented}"
