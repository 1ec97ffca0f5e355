"""DNS checks against a real DNS server on loopback (tests/checks/dns_server.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.checks.dns_server import DnsServer, Records
from watchkeeper.checks.dns import DnsCheck, DnsCheckConfig, parse_server
from watchkeeper.checks.interface import Outcome
from watchkeeper.plan.loader import PlanInvalid, load_plan_text

ZONE: Records = {
    ("shop.test.", "A"): ["203.0.113.10", "203.0.113.11"],
    ("shop.test.", "AAAA"): ["2001:db8:0:0::10"],
    ("www.test.", "CNAME"): ["Shop.Test."],
    ("test.", "MX"): ["10 mx1.test.", "20 mx2.test."],
    ("test.", "TXT"): ['"v=spf1 include:_spf.test" " -all"'],
    ("test.", "NS"): ["ns1.test.", "ns2.test."],
    ("test.", "SOA"): ["ns1.test. hostmaster.test. 2024060101 7200 900 1209600 300"],
    ("test.", "CAA"): ['0 issue "letsencrypt.org"'],
    ("_sip._tcp.test.", "SRV"): ["10 5 5060 sip.test."],
    ("10.113.0.203.in-addr.arpa.", "PTR"): ["shop.test."],
    ("empty.test.", "A"): [],
}


def resolve(
    records: Records = ZONE, **spec: Any
) -> tuple[Outcome, list[tuple[str, str, str]], str]:
    """Start a DNS server with ``records``, run one check against it; return the outcome,
    the questions the server saw, and its address."""

    async def go() -> tuple[Outcome, list[tuple[str, str, str]], str]:
        async with DnsServer(records) as server:
            config = DnsCheckConfig.model_validate(
                {"name": "t", "type": "dns", "server": server.address, **spec}
            )
            return await DnsCheck().run(config), server.log, server.address

    return asyncio.run(go())


def check(**spec: Any) -> Outcome:
    return resolve(**spec)[0]


def test_answer_with_the_expected_records_is_up() -> None:
    outcome = check(query="shop.test", expected=["203.0.113.11", "203.0.113.10"])
    assert outcome.ok and outcome.message == "A shop.test: 203.0.113.10, 203.0.113.11"
    assert outcome.response_ms is not None and outcome.response_ms > 0


def test_any_answer_is_up_without_expected_records() -> None:
    assert check(query="shop.test", record_type="AAAA").ok


@pytest.mark.parametrize(
    ("match", "expected", "failure"),
    [
        ("all", ["203.0.113.10", "203.0.113.12"], "missing 203.0.113.12"),
        ("all", ["203.0.113.10"], None),
        ("any", ["203.0.113.12", "203.0.113.11"], None),
        ("any", ["203.0.113.12", "203.0.113.13"], "none of 203.0.113.12, 203.0.113.13"),
        ("exact", ["203.0.113.10", "203.0.113.11"], None),
        ("exact", ["203.0.113.10"], "unexpected 203.0.113.11"),
        (
            "exact",
            ["203.0.113.10", "203.0.113.12"],
            "missing 203.0.113.12; unexpected 203.0.113.11",
        ),
    ],
)
def test_match_modes(match: str, expected: list[str], failure: str | None) -> None:
    outcome = check(query="shop.test", expected=expected, match=match)
    assert outcome.ok is (failure is None)
    if failure is not None:
        got = "203.0.113.10, 203.0.113.11"
        assert outcome.message == f"A shop.test: {failure} (got {got})"


@pytest.mark.parametrize(
    ("record_type", "query", "expected", "shown"),
    [
        ("AAAA", "shop.test", ["2001:DB8::10"], "2001:db8::10"),
        ("CNAME", "www.test", ["shop.test."], "shop.test"),
        ("MX", "test", ["10 mx1.test", "mx2.test"], "10 mx1.test, 20 mx2.test"),
        ("TXT", "test", ["v=spf1 include:_spf.test -all"], "v=spf1 include:_spf.test -all"),
        ("NS", "test", ["NS1.test", "ns2.test."], "ns1.test, ns2.test"),
        (
            "SOA",
            "test",
            ["ns1.test hostmaster.test 2024060101 7200 900 1209600 300"],
            "ns1.test hostmaster.test 2024060101 7200 900 1209600 300",
        ),
        ("CAA", "test", ['0 issue "letsencrypt.org"'], "0 issue letsencrypt.org"),
        ("SRV", "_sip._tcp.test", ["10 5 5060 sip.test"], "10 5 5060 sip.test"),
        ("PTR", "203.0.113.10", ["shop.test"], "shop.test"),
    ],
)
def test_record_types(record_type: str, query: str, expected: list[str], shown: str) -> None:
    outcome = check(query=query, record_type=record_type, expected=expected)
    assert outcome.ok, outcome.message
    assert outcome.message.endswith(f": {shown}")


def test_wrong_record_is_down() -> None:
    outcome = check(query="test", record_type="MX", expected=["mx3.test"])
    assert not outcome.ok
    assert outcome.message == "MX test: missing mx3.test (got 10 mx1.test, 20 mx2.test)"


def test_nxdomain() -> None:
    outcome, _, server = resolve(query="gone.test")
    assert outcome == Outcome(
        False, f"A gone.test: the name does not exist (NXDOMAIN from {server})"
    )


def test_name_without_records_of_the_type() -> None:
    outcome = check(query="empty.test")
    assert outcome == Outcome(False, "A empty.test: no A records (the name exists)")


def test_server_failure() -> None:
    outcome, _, server = resolve(query="servfail.test")
    assert outcome == Outcome(False, f"A servfail.test: {server} answered SERVFAIL")


def test_no_answer_within_the_timeout() -> None:
    outcome, log, server = resolve(query="silent.test", timeout="500ms")
    assert outcome == Outcome(False, f"A silent.test: no answer from {server} within 0.5s")
    assert log and all(entry == ("udp", "silent.test.", "A") for entry in log)


def test_tcp() -> None:
    outcome, log, _ = resolve(query="shop.test", tcp=True)
    assert outcome.ok and log == [("tcp", "shop.test.", "A")]
    _, log, _ = resolve(query="shop.test")
    assert log == [("udp", "shop.test.", "A")]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("10.0.0.53", ("10.0.0.53", 53)),
        ("10.0.0.53:5353", ("10.0.0.53", 5353)),
        ("2001:DB8::53", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
        ("[2001:db8::53]", ("2001:db8::53", 53)),
    ],
)
def test_server_address_forms(text: str, parsed: tuple[str, int]) -> None:
    assert parse_server(text) == parsed


DNS_CHECK = "checks:\n  - name: shop-dns\n    type: dns\n    query: shop.test\n"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            "server: ns1.test",
            'watchkeeper.yaml:5:13 checks[0].server: "ns1.test" is not an IP address with an '
            "optional port (10.0.0.53, 10.0.0.53:5353, [2001:db8::53]:5353)",
        ),
        (
            "server: 10.0.0.53:99999",
            'watchkeeper.yaml:5:13 checks[0].server: "10.0.0.53:99999" is not an IP address '
            "with an optional port (10.0.0.53, 10.0.0.53:5353, [2001:db8::53]:5353)",
        ),
        (
            "record_type: AAAA\n    expected: [203.0.113.10]",
            'watchkeeper.yaml:6:15 checks[0].expected: "203.0.113.10" is not an IPv6 address',
        ),
        (
            "record_type: MXX",
            "watchkeeper.yaml:5:18 checks[0].record_type: input should be 'A', 'AAAA', "
            "'CNAME', 'MX', 'TXT', 'NS', 'SRV', 'PTR', 'SOA' or 'CAA' (got \"MXX\")",
        ),
    ],
)
def test_bad_options_are_plan_errors_naming_the_field(options: str, problem: str) -> None:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(DNS_CHECK + f"    {options}\n", env={})
    assert [str(p) for p in info.value.problems] == [problem]


def test_bad_name_is_a_plan_error() -> None:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(DNS_CHECK.replace("shop.test", "a" * 64 + ".test"), env={})
    (problem,) = info.value.problems
    assert str(problem).startswith(f'watchkeeper.yaml:4:12 checks[0].query: "{"a" * 64}.test" ')
    assert "is not a DNS name" in str(problem)
