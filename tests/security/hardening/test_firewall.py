"""The firewall check asks real commands (here small scripts on the search path standing in
for ufw, nft and iptables, printing what those print) and reads their output."""

from __future__ import annotations

from pathlib import Path

from tests.security.hardening.support import profile
from watchkeeper.security.hardening.firewall import firewall, iptables_filters, nft_filters
from watchkeeper.security.hardening.interface import AuditContext

NFT_DROP = """table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		tcp dport 22 accept
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
	}
}
"""
NFT_ACCEPT = """table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
	}
}
"""
DOCKER = (
    "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N DOCKER\n"
    "-N DOCKER-ISOLATION-STAGE-1\n-N DOCKER-ISOLATION-STAGE-2\n-N DOCKER-USER\n"
    "-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n"
    "-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP\n-A DOCKER-ISOLATION-STAGE-2 -j RETURN\n"
    "-A DOCKER-USER -j RETURN\n"
)
IPT_RULE = (
    "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n"
    "-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset\n"
)


def _tool(bin_dir: Path, name: str, stdout: str = "", *, status: int = 0, stderr: str = "") -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / f"{name}.out").write_text(stdout)
    (bin_dir / f"{name}.err").write_text(stderr)
    script = bin_dir / name
    script.write_text(
        f'#!/bin/sh\ncat "{bin_dir / name}.out"\ncat "{bin_dir / name}.err" >&2\nexit {status}\n'
    )
    script.chmod(0o755)


def _ctx(bin_dir: Path) -> AuditContext:
    return AuditContext(profile=profile(), search_path=str(bin_dir), command_timeout=5)


def test_nft_policy_drop_passes(tmp_path: Path) -> None:
    _tool(tmp_path, "nft", NFT_DROP)
    result = firewall(_ctx(tmp_path))
    assert (result.status, result.detail) == (
        "pass",
        "nftables: input chain inet filter input has policy drop",
    )


def test_inactive_ufw_and_accepting_nft_fail(tmp_path: Path) -> None:
    _tool(tmp_path, "ufw", "Status: inactive\n")
    _tool(tmp_path, "nft", NFT_ACCEPT)
    result = firewall(_ctx(tmp_path))
    assert result.status == "fail"
    assert result.detail == "ufw inactive; nftables drops nothing that reaches this host"


UFW = "Status: active\nLogging: on (low)\nDefault: {} (incoming), allow (outgoing)\n"


def test_ufw_active_and_denying_passes_before_the_others_are_asked(tmp_path: Path) -> None:
    _tool(tmp_path, "ufw", UFW.format("deny") + "\nTo Action From\n22/tcp ALLOW Anywhere\n")
    _tool(tmp_path, "nft", "", status=1, stderr="should not be asked")
    assert firewall(_ctx(tmp_path)).detail == "ufw is active, deny incoming by default"


def test_docker_drops_in_forward_and_isolation_do_not_count(tmp_path: Path) -> None:
    _tool(tmp_path, "ufw", UFW.format("allow"))
    _tool(tmp_path, "iptables", DOCKER)
    result = firewall(_ctx(tmp_path))
    assert (result.status, result.detail) == (
        "fail",
        "ufw is active but its default for incoming traffic is allow; "
        "iptables INPUT accepts what no rule drops",
    )


def test_needs_root_is_a_skip_that_says_so(tmp_path: Path) -> None:
    _tool(
        tmp_path,
        "iptables",
        status=4,
        stderr="iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: "
        "Permission denied (you must be root)\n",
    )
    result = firewall(_ctx(tmp_path))
    assert result.status == "skip"
    assert "iptables need root" in result.detail


def test_a_hanging_tool_times_out_into_an_error(tmp_path: Path) -> None:
    tmp_path.joinpath("nft").write_text("#!/bin/sh\nexec sleep 5\n")
    tmp_path.joinpath("nft").chmod(0o755)
    ctx = _ctx(tmp_path)
    ctx.command_timeout = 0.3
    result = firewall(ctx)
    assert result.status == "error"
    assert result.detail == "nft did not finish within 0.3 s"


def test_no_tool_at_all_skips(tmp_path: Path) -> None:
    result = firewall(_ctx(tmp_path))
    assert result.status == "skip"
    assert "none of ufw, nft, iptables is installed" in result.detail


def test_iptables_judges_input_only() -> None:
    assert iptables_filters(IPT_RULE) is None  # one port rejected: the rest is accepted
    assert iptables_filters("-P INPUT DROP\n") == "iptables: chain INPUT has policy drop"
    assert iptables_filters("-P INPUT ACCEPT\n-P FORWARD DROP\n") is None
    assert iptables_filters(DOCKER) is None
    firewalld = (
        "-P INPUT ACCEPT\n-N INPUT_direct\n-A INPUT -m conntrack --ctstate RELATED,"
        "ESTABLISHED -j ACCEPT\n-A INPUT -i lo -j ACCEPT\n-A INPUT -j INPUT_direct\n"
        '-A INPUT -m comment --comment "the rest" -j REJECT --reject-with icmp-host-prohibited\n'
    )
    assert iptables_filters(firewalld) == "iptables: chain INPUT drops or rejects the rest"
    chained = "-P INPUT ACCEPT\n-N wall\n-A INPUT -j LOG\n-A INPUT -j wall\n-A wall -j DROP\n"
    assert iptables_filters(chained) == (
        "iptables: chain INPUT drops or rejects the rest (in chain wall)"
    )
    # An unconditional ACCEPT first: the policy and the DROP after it never see a packet.
    assert iptables_filters("-P INPUT DROP\n-A INPUT -j ACCEPT\n-A INPUT -j DROP\n") is None


def test_nft_judges_input_hook_chains_only() -> None:
    assert nft_filters("table ip t {\n chain c {\n  ip saddr 1.2.3.4 drop\n }\n}\n") is None
    forward = NFT_DROP.replace("policy drop", "policy accept").replace(
        "forward priority filter; policy accept", "forward priority filter; policy drop"
    )
    assert nft_filters(forward) is None
    firewalld = """table inet firewalld {
	set blocked {
		type ipv4_addr
		elements = { 192.0.2.1 }
	}
	chain filter_INPUT {
		type filter hook input priority filter + 10; policy accept;
		ct state { established, related } accept
		jump filter_INPUT_ZONES
		reject with icmpx admin-prohibited
	}
	chain filter_INPUT_ZONES {
		iifname "eth0" goto filter_IN_public
	}
}
"""
    assert nft_filters(firewalld) == (
        "nftables: input chain inet firewalld filter_INPUT drops or rejects the rest"
    )
    jumped = NFT_ACCEPT.replace(
        "policy accept;", "policy accept;\n\t\tcounter packets 3 bytes 120 jump guard\n"
    ).replace("\t}\n}", '\t}\n\tchain guard {\n\t\tlog prefix "x: " drop comment "rest"\n\t}\n}')
    assert nft_filters(jumped) == (
        "nftables: input chain inet filter input drops or rejects the rest (in chain guard)"
    )
    assert nft_filters("") is None
