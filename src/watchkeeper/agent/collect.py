"""Host metrics from psutil, named and labelled as node_exporter names them.

Dashboards and alert rules written for node_exporter (Grafana's "Node Exporter Full", the
usual ``100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)``) then work
on the agent's data unchanged. The ``instance`` and ``job`` labels are added to every series
when the batch is built (see ``batch.py``).
"""

from __future__ import annotations

import platform
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from watchkeeper.agent.filesystems import UsageReader, real_mounts

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
# psutil's field -> node_exporter's /proc/meminfo name; fields a platform lacks are skipped.
MEMORY_FIELDS = {
    "total": "MemTotal",
    "available": "MemAvailable",
    "free": "MemFree",
    "buffers": "Buffers",
    "cached": "Cached",
    "shared": "Shmem",
    "active": "Active",
    "inactive": "Inactive",
    "slab": "Slab",
}
# Whole disks only: partitions, loop and RAM devices would count the same I/O twice.
IGNORED_DISKS = re.compile(r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")
FILE_NR = Path("/proc/sys/fs/file-nr")


@dataclass(frozen=True)
class Sample:
    """One value of one series; ``labels`` excludes the metric name."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


def _sample(name: str, value: float, **labels: str) -> Sample:
    return Sample(name, tuple(sorted(labels.items())), float(value))


class Collector:
    """Read the host's metrics; one instance per agent. ``usage`` (filesystem sizes, with
    a thread pool released by ``close``) is shared with the inventory."""

    def __init__(self, usage: UsageReader | None = None) -> None:
        self.usage = usage or UsageReader()

    def collect(self) -> list[Sample]:
        """Return one sample per series, read now. Blocking: call it from a thread."""
        out: list[Sample] = [_sample("node_time_seconds", time.time())]
        out += self._cpu()
        out += self._memory()
        out += self._filesystems()
        out += self._disks()
        out += self._network()
        out += self._system()
        return out

    def close(self) -> None:
        self.usage.close()

    def _cpu(self) -> list[Sample]:
        out = []
        for cpu, times in enumerate(psutil.cpu_times(percpu=True)):
            for mode in CPU_MODES:
                value = getattr(times, mode, None)
                if value is not None:
                    out.append(_sample("node_cpu_seconds_total", value, cpu=str(cpu), mode=mode))
        load1, load5, load15 = psutil.getloadavg()
        out += [
            _sample("node_load1", load1),
            _sample("node_load5", load5),
            _sample("node_load15", load15),
        ]
        return out

    def _memory(self) -> list[Sample]:
        mem = psutil.virtual_memory()
        out = [
            _sample(f"node_memory_{name}_bytes", getattr(mem, field))
            for field, name in MEMORY_FIELDS.items()
            if hasattr(mem, field)
        ]
        swap = psutil.swap_memory()
        out += [
            _sample("node_memory_SwapTotal_bytes", swap.total),
            _sample("node_memory_SwapFree_bytes", swap.free),
        ]
        return out

    def _filesystems(self) -> list[Sample]:
        out = []
        for mount in real_mounts():
            usage = self.usage.usage(mount.mountpoint)
            if usage is None:
                continue
            labels = {
                "device": mount.device,
                "fstype": mount.fstype,
                "mountpoint": mount.mountpoint,
            }
            out += [
                _sample("node_filesystem_size_bytes", usage.size, **labels),
                _sample("node_filesystem_free_bytes", usage.free, **labels),
                _sample("node_filesystem_avail_bytes", usage.avail, **labels),
                _sample("node_filesystem_files", usage.files, **labels),
                _sample("node_filesystem_files_free", usage.files_free, **labels),
            ]
        return out

    def _disks(self) -> list[Sample]:
        out = []
        counters = psutil.disk_io_counters(perdisk=True, nowrap=True) or {}
        for device, io in counters.items():
            if IGNORED_DISKS.match(device):
                continue
            out += [
                _sample("node_disk_read_bytes_total", io.read_bytes, device=device),
                _sample("node_disk_written_bytes_total", io.write_bytes, device=device),
                _sample("node_disk_reads_completed_total", io.read_count, device=device),
                _sample("node_disk_writes_completed_total", io.write_count, device=device),
                _sample("node_disk_read_time_seconds_total", io.read_time / 1000, device=device),
                _sample("node_disk_write_time_seconds_total", io.write_time / 1000, device=device),
            ]
            busy = getattr(io, "busy_time", None)  # Linux and FreeBSD only
            if busy is not None:
                out.append(_sample("node_disk_io_time_seconds_total", busy / 1000, device=device))
        return out

    def _network(self) -> list[Sample]:
        out = []
        for device, net in (psutil.net_io_counters(pernic=True, nowrap=True) or {}).items():
            out += [
                _sample("node_network_receive_bytes_total", net.bytes_recv, device=device),
                _sample("node_network_transmit_bytes_total", net.bytes_sent, device=device),
                _sample("node_network_receive_packets_total", net.packets_recv, device=device),
                _sample("node_network_transmit_packets_total", net.packets_sent, device=device),
                _sample("node_network_receive_errs_total", net.errin, device=device),
                _sample("node_network_transmit_errs_total", net.errout, device=device),
                _sample("node_network_receive_drop_total", net.dropin, device=device),
                _sample("node_network_transmit_drop_total", net.dropout, device=device),
            ]
        return out

    def _system(self) -> list[Sample]:
        uname = platform.uname()
        out = [
            _sample("node_procs_total", len(psutil.pids())),
            _sample("node_boot_time_seconds", psutil.boot_time()),
            # Grafana dashboards for node_exporter list hosts from this series.
            _sample(
                "node_uname_info",
                1,
                sysname=uname.system,
                release=uname.release,
                version=uname.version,
                machine=uname.machine,
                nodename=socket.gethostname(),
            ),
        ]
        try:  # Linux: "allocated  unused  maximum"
            allocated, _, maximum = FILE_NR.read_text(encoding="ascii").split()
        except (OSError, ValueError):
            return out
        out += [
            _sample("node_filefd_allocated", int(allocated)),
            _sample("node_filefd_maximum", int(maximum)),
        ]
        return out
