"""Ping check: ICMP echo requests; judge packet loss and round-trip time."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import ClassVar, Literal

import icmplib
from pydantic import Field, ValidationInfo, field_validator

from watchkeeper.checks.interface import CheckConfig, Outcome
from watchkeeper.plan.types import Duration, format_duration


def enable_icmp_hint() -> str:
    """Say how to let this process send ICMP when neither kind of socket may be opened."""
    gid = os.getgid()
    return (
        "cannot open an ICMP socket: give Watchkeeper CAP_NET_RAW (AmbientCapabilities="
        "CAP_NET_RAW in its systemd unit, or setcap cap_net_raw+ep on its Python), or allow "
        f'unprivileged ping for its group: sysctl -w net.ipv4.ping_group_range="{gid} {gid}"'
    )


class PingCheckConfig(CheckConfig):
    type: Literal["ping"] = Field(description="`ping`.")
    host: str = Field(min_length=1, description="Host name or IP address (IPv4 or IPv6).")
    count: int = Field(3, ge=1, le=100, description="Echo requests sent per run.")
    max_loss_percent: float = Field(
        0, ge=0, lt=100, description="Down when a larger share of the requests is lost."
    )
    max_rtt_ms: float | None = Field(
        None, gt=0, description="Down when the average round-trip time is above this."
    )
    packet_interval: Duration = Field(
        timedelta(milliseconds=200), description="Time between two requests."
    )
    packet_timeout: Duration = Field(
        timedelta(seconds=1), description="How long to wait for each reply."
    )

    @field_validator("packet_timeout")
    @classmethod
    def _fits_in_timeout(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        count, interval = info.data.get("count"), info.data.get("packet_interval")
        timeout = info.data.get("timeout")
        if count is None or interval is None or timeout is None:
            return value  # reported on their own
        needed = (count - 1) * interval + count * value
        if needed > timeout:
            raise ValueError(
                f"{count} requests can take {format_duration(needed)} ({count - 1} × "
                f"packet_interval {format_duration(interval)} + {count} × packet_timeout "
                f"{format_duration(value)}), longer than the check's timeout "
                f"{format_duration(timeout)}: raise timeout or lower count, packet_interval "
                "or packet_timeout"
            )
        return value


class PingCheck:
    """Sends with a raw socket when it may (root or CAP_NET_RAW), else with the unprivileged
    ICMP datagram socket Linux offers to the groups in ``net.ipv4.ping_group_range``."""

    name = "ping"
    description = "Send ICMP echo requests; judge packet loss and the average round-trip time."
    config_model: ClassVar[type[CheckConfig]] = PingCheckConfig

    async def run(self, config: PingCheckConfig) -> Outcome:
        try:
            try:
                host = await _echo(config, privileged=True)
            except icmplib.SocketPermissionError:
                host = await _echo(config, privileged=False)
        except icmplib.NameLookupError:
            return Outcome(False, f"cannot resolve {config.host}")
        except icmplib.SocketPermissionError:
            return Outcome(False, enable_icmp_hint())
        except icmplib.ICMPLibError as exc:
            return Outcome(False, f"cannot ping {config.host}: {exc}")
        return judge(config, host)


async def _echo(config: PingCheckConfig, *, privileged: bool) -> icmplib.Host:
    return await icmplib.async_ping(
        config.host,
        count=config.count,
        interval=config.packet_interval.total_seconds(),
        timeout=config.packet_timeout.total_seconds(),
        privileged=privileged,
    )


def judge(config: PingCheckConfig, host: icmplib.Host) -> Outcome:
    """Return the outcome for the replies ``host`` got, against ``config``'s limits."""
    sent, received = host.packets_sent, host.packets_received
    address = config.host if host.address == config.host else f"{config.host} ({host.address})"
    if sent == 0:  # every send failed: icmplib swallows the error (no route, for one)
        return Outcome(False, f"cannot send to {address} (no route to it?)")
    if received == 0:
        return Outcome(False, f"no reply from {address} ({sent} of {sent} requests lost)")
    loss = host.packet_loss * 100
    rtt = host.avg_rtt
    summary = f"{received}/{sent} replies from {address}, average {rtt:.1f} ms"
    if loss > config.max_loss_percent:
        return Outcome(
            False,
            f"{loss:.0f}% packet loss, above {config.max_loss_percent:g}% ({summary})",
            rtt,
        )
    if config.max_rtt_ms is not None and rtt > config.max_rtt_ms:
        return Outcome(
            False, f"average round trip {rtt:.1f} ms, above {config.max_rtt_ms:g} ms", rtt
        )
    return Outcome(True, summary, rtt)
