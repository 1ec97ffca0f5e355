"""DNS check: resolve a name against a chosen server (or the system's) and compare records."""

from __future__ import annotations

import ipaddress
import time
from typing import Any, ClassVar, Literal

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.resolver
import dns.reversename
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from watchkeeper.checks.interface import CheckConfig, Outcome

RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "PTR", "SOA", "CAA"]
SHOWN = 8
"""Records listed in a message; the rest are counted."""


def parse_server(text: str) -> tuple[str, int]:
    """Return ``(ip, port)`` for ``10.0.0.53``, ``10.0.0.53:5353``, ``2001:db8::53`` or
    ``[2001:db8::53]:5353``; raise ValueError if ``text`` is none of those."""
    host, port = text, "53"
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(text)
        port = rest[1:] or port
    elif text.count(":") == 1:
        host, port = text.split(":")
    address = ipaddress.ip_address(host)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(text)
    return address.compressed, int(port)


class DnsCheckConfig(CheckConfig):
    type: Literal["dns"] = Field(description="`dns`.")
    query: str = Field(
        min_length=1,
        description="Name to resolve (for `PTR`, an IP address works too).",
    )
    record_type: RecordType = Field("A", description="Record type to ask for.")
    server: str | None = Field(
        None,
        description="IP address of the DNS server to ask, optionally with a port "
        "(`10.0.0.53:5353`, `[2001:db8::53]:53`); the system's resolver by default.",
    )
    expected: list[str] = Field(
        default_factory=list,
        description="Records that must be in the answer, written as in a zone file "
        "(`203.0.113.10`, `10 mail.example.org`, `v=spf1 -all`); an MX exchange alone "
        "matches any preference. Empty: any answer passes.",
    )
    match: Literal["all", "any", "exact"] = Field(
        "all",
        description="`all`: every expected record is present; `any`: at least one is; "
        "`exact`: the answer is exactly the expected records.",
    )
    tcp: bool = Field(False, description="Ask over TCP instead of UDP.")

    @field_validator("query")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        try:
            dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise PydanticCustomError(
                "dns_name",
                '"{value}" is not a DNS name ({reason})',
                {"value": value, "reason": _reason(exc)},
            ) from None
        return value

    @field_validator("server")
    @classmethod
    def _server(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_server(value)
            except ValueError:
                raise PydanticCustomError(
                    "server",
                    '"{value}" is not an IP address with an optional port '
                    "(10.0.0.53, 10.0.0.53:5353, [2001:db8::53]:5353)",
                    {"value": value},
                ) from None
        return value

    @field_validator("expected")
    @classmethod
    def _addresses(cls, value: list[str], info: ValidationInfo) -> list[str]:
        version = {"A": 4, "AAAA": 6}.get(info.data.get("record_type", ""))
        for item in value:
            try:
                valid = version is None or ipaddress.ip_address(item).version == version
            except ValueError:
                valid = False
            if not valid:
                raise PydanticCustomError(
                    "address",
                    '"{value}" is not an IPv{version} address',
                    {"value": item, "version": version},
                )
        return value

    @property
    def qname(self) -> dns.name.Name:
        """The name asked for: ``query``, or its reverse name for a PTR of an address."""
        if self.record_type == "PTR" and _is_address(self.query):
            return dns.reversename.from_address(self.query)
        return dns.name.from_text(self.query)


class DnsCheck:
    name = "dns"
    description = "Resolve a name (against a chosen server or the system's) and compare records."
    config_model: ClassVar[type[CheckConfig]] = DnsCheckConfig

    async def run(self, config: DnsCheckConfig) -> Outcome:
        if config.server is None:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.exception.DNSException as exc:
                return Outcome(False, f"no system resolver: {_reason(exc)}")
            server = "the system resolver"
        else:
            ip, port = parse_server(config.server)
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port)]
            server = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        seconds = config.timeout.total_seconds()
        resolver.lifetime = seconds  # dnspython's default (5 s) would cut a longer timeout short
        qname, kind = config.qname, config.record_type
        asked = f"{kind} {qname.to_text(omit_final_dot=True)}"
        start = time.perf_counter()
        try:
            answer = await resolver.resolve(qname, kind, tcp=config.tcp, search=False)
        except dns.resolver.NXDOMAIN:
            return Outcome(False, f"{asked}: the name does not exist (NXDOMAIN from {server})")
        except dns.resolver.NoAnswer:
            return Outcome(False, f"{asked}: no {kind} records (the name exists)")
        except dns.resolver.NoNameservers as exc:
            said = ", ".join(sorted({str(e[3]) for e in exc.kwargs.get("errors", [])}))
            return Outcome(False, f"{asked}: {server} answered {said or 'with an error'}")
        except dns.exception.Timeout:
            return Outcome(False, f"{asked}: no answer from {server} within {seconds:g}s")
        except dns.exception.DNSException as exc:
            return Outcome(False, f"{asked}: {_reason(exc)}")
        elapsed = (time.perf_counter() - start) * 1000
        got = sorted(record_text(rdata) for rdata in answer)  # stable messages
        failure = compare(config, got)
        shown = _list(got)
        if failure is not None:
            return Outcome(False, f"{asked}: {failure} (got {shown})", elapsed)
        return Outcome(True, f"{asked}: {shown}", elapsed)


def record_text(rdata: dns.rdata.Rdata) -> str:
    """Return ``rdata`` the way ``expected`` is written: names without the final dot, TXT
    strings joined without quotes, addresses in their shortest form."""
    if rdata.rdtype == dns.rdatatype.TXT:
        strings: Any = rdata.strings  # type: ignore[attr-defined]
        return "".join(s.decode(errors="replace") for s in strings)
    if rdata.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        address: Any = rdata.address  # type: ignore[attr-defined]
        return ipaddress.ip_address(address).compressed
    return _normal(rdata.to_text())


def _normal(text: str) -> str:
    """Compare names case-insensitively and without the final dot; CAA values unquoted."""
    tokens = [t.strip('"') for t in text.split()]
    return " ".join(t if t == "." else t.rstrip(".") for t in tokens).lower()


def compare(config: DnsCheckConfig, got: list[str]) -> str | None:
    """Return None when ``got`` satisfies ``expected`` under ``match``, else what is wrong."""
    if not config.expected:
        return None
    kind = config.record_type

    def same(wanted: str, record: str) -> bool:
        if kind == "TXT":
            return wanted == record
        if kind in ("A", "AAAA"):
            return ipaddress.ip_address(wanted).compressed == record
        wanted = _normal(wanted)
        if kind == "MX" and " " not in wanted:  # an exchange alone matches any preference
            return record.split(" ")[-1] == wanted
        return wanted == record

    missing = [w for w in config.expected if not any(same(w, r) for r in got)]
    if config.match == "any":
        return None if len(missing) < len(config.expected) else f"none of {_list(missing)}"
    problems = [f"missing {_list(missing)}"] if missing else []
    if config.match == "exact":
        unexpected = [r for r in got if not any(same(w, r) for w in config.expected)]
        problems += [f"unexpected {_list(unexpected)}"] if unexpected else []
    return "; ".join(problems) or None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _list(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _reason(exc: dns.exception.DNSException) -> str:
    return str(exc) or (type(exc).__doc__ or type(exc).__name__).strip().rstrip(".")
