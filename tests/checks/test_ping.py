"""Ping checks with real ICMP: loopback answers, a documentation address does not, and a
process without CAP_NET_RAW is told how to enable ICMP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import icmplib
import pytest

from watchkeeper.checks.interface import Outcome
from watchkeeper.checks.ping import PingCheck, PingCheckConfig, enable_icmp_hint, judge
from watchkeeper.plan.loader import PlanInvalid, load_plan_text

UNANSWERED = "198.51.100.1"
"""TEST-NET-2 (RFC 5737): documentation only, never answers. (On this machine TEST-NET-1's
192.0.2.1 is the default gateway, and answers.)"""


def config(**spec: Any) -> PingCheckConfig:
    return PingCheckConfig.model_validate({"name": "t", "type": "ping", **spec})


def ping(**spec: Any) -> Outcome:
    return asyncio.run(PingCheck().run(config(**spec)))


def can_open_icmp() -> bool:
    try:
        icmplib.ping("127.0.0.1", count=1, timeout=1, privileged=os.geteuid() == 0)
    except icmplib.SocketPermissionError:
        return False
    return True


needs_icmp = pytest.mark.skipif(not can_open_icmp(), reason="no ICMP socket allowed here")


@needs_icmp
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_loopback_answers(host: str) -> None:
    outcome = ping(host=host)
    assert outcome.ok and outcome.message.startswith(f"3/3 replies from {host}, average ")
    assert outcome.response_ms is not None and outcome.response_ms > 0


@needs_icmp
def test_a_host_name_is_resolved_and_shown_with_its_address() -> None:
    outcome = ping(host="localhost", count=1)
    assert outcome.ok and outcome.message.startswith("1/1 replies from localhost (")


@needs_icmp
def test_an_address_that_does_not_answer_is_down() -> None:
    outcome = ping(host=UNANSWERED, count=2, packet_timeout="300ms")
    assert outcome == Outcome(False, f"no reply from {UNANSWERED} (2 of 2 requests lost)")


def test_without_any_icmp_socket_the_message_says_how_to_allow_one(tmp_path: Path) -> None:
    """Run the check in a process whose capability bounding set lacks CAP_NET_RAW (as an
    unprivileged service would): the raw socket is refused, then the datagram socket too
    unless net.ipv4.ping_group_range admits the group."""
    if os.geteuid() != 0:
        pytest.skip("dropping CAP_NET_RAW with setpriv needs root")
    low, high = map(int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    script = (
        "import asyncio\n"
        "from watchkeeper.checks.ping import PingCheck, PingCheckConfig\n"
        "config = PingCheckConfig(name='t', type='ping', host='127.0.0.1', count=1)\n"
        "print(asyncio.run(PingCheck().run(config)).message)\n"
    )
    result = subprocess.run(
        ["setpriv", "--bounding-set=-net_raw", "--", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    if low <= os.getgid() <= high:  # the unprivileged datagram socket is allowed: fallback
        assert result.stdout.startswith("1/1 replies from 127.0.0.1")
    else:
        assert result.stdout.strip() == enable_icmp_hint()
        assert f'ping_group_range="{os.getgid()} {os.getgid()}"' in result.stdout


@pytest.mark.parametrize(
    ("spec", "rtts", "ok", "message"),
    [
        ({}, [0.4, 0.5, 0.6], True, "3/3 replies from db-1, average 0.5 ms"),
        (
            {},
            [0.4, 0.6],
            False,
            "33% packet loss, above 0% (2/3 replies from db-1, average 0.5 ms)",
        ),
        ({"max_loss_percent": 50}, [0.4, 0.6], True, "2/3 replies from db-1, average 0.5 ms"),
        ({"max_rtt_ms": 40}, [30.0, 45.0, 60.0], False, "average round trip 45.0 ms, above 40 ms"),
        ({}, [], False, "no reply from db-1 (3 of 3 requests lost)"),
    ],
)
def test_judge_loss_and_round_trip(
    spec: dict[str, Any], rtts: list[float], ok: bool, message: str
) -> None:
    outcome = judge(config(host="db-1", **spec), icmplib.Host("db-1", 3, rtts))
    assert (outcome.ok, outcome.message) == (ok, message)


def test_no_packet_sent_is_reported_as_such() -> None:
    outcome = judge(config(host="10.9.8.7"), icmplib.Host("10.9.8.7", 0, []))
    assert outcome == Outcome(False, "cannot send to 10.9.8.7 (no route to it?)")


def test_requests_that_cannot_fit_in_the_timeout_are_a_plan_error() -> None:
    text = (
        "checks:\n  - name: gw\n    type: ping\n    host: 10.0.0.1\n    timeout: 2s\n"
        "    count: 5\n    packet_timeout: 1s\n"
    )
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(text, env={})
    assert [str(p) for p in info.value.problems] == [
        "watchkeeper.yaml:7:21 checks[0].packet_timeout: 5 requests can take 5s800ms "
        "(4 × packet_interval 200ms + 5 × packet_timeout 1s), longer than the check's "
        "timeout 2s: raise timeout or lower count, packet_interval or packet_timeout "
        '(got "1s")'
    ]
