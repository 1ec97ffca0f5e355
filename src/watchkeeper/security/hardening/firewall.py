"""Is a host firewall filtering the traffic that comes to this host? Asked of the tools that
manage one, each with a timeout: ``ufw status verbose``, ``nft list ruleset`` and
``iptables -S``.

Only what filters incoming traffic counts: ufw active with a ``deny`` or ``reject`` default
for incoming traffic; for nftables the base chains on the ``input`` hook, for iptables the
``INPUT`` chain, each with a ``drop``/``reject`` policy or a rule that drops or rejects
whatever reaches it (no match: at most a counter, a log or a comment), there or in a chain it
jumps to unconditionally — unless an unconditional accept comes first. A ``DROP`` in
``FORWARD`` or in Docker's isolation chains filters routed traffic, not what reaches this
host's services, and does not count. Listing the rules needs root (CAP_NET_ADMIN); as
another user the tools refuse, and the check says so.
"""

from __future__ import annotations

import re
import shlex

from watchkeeper.security.hardening.interface import (
    AuditContext,
    CheckError,
    Result,
    check,
    failed,
    passed,
    skipped,
)

TOOLS = ("ufw", "nft", "iptables")
MAX_DEPTH = 8
Chains = dict[str, list[str]]
"""Each chain's unconditional steps, in order: ``drop``, ``accept``, ``return``, ``jump X``
or ``goto X``."""
_NFT_POLICY = re.compile(r"\bpolicy\s+(accept|drop)\b")
_NFT_LOG = r'log(?:\s+(?:prefix\s+"[^"]*"|level\s+\S+|flags\s+\S+|group\s+\d+|snaplen\s+\d+))*'
_NFT_UNCONDITIONAL = re.compile(
    rf"^(?:counter(?:\s+packets\s+\d+\s+bytes\s+\d+)?\s+)?(?:{_NFT_LOG}\s+)?"
    r"(?P<verdict>accept|drop|reject|return|(?:jump|goto)\s+\S+)(?:\s+with\s+\S+(?:\s+\S+){0,2})?"
    r'(?:\s+comment\s+"[^"]*")?$'
)
_IPT_VERDICTS = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "drop", "RETURN": "return"}
_DENIED = re.compile(r"(?i)permission denied|operation not permitted|must be root|need to be root")


def walk(chains: Chains, chain: str, depth: int = 0) -> tuple[str, str] | None:
    """Where a packet no conditional rule matches ends when it enters ``chain``:
    ``("drop" or "accept", the chain that decided)``, or None when it falls through."""
    for step in chains.get(chain, []):
        if step in ("drop", "accept"):
            return step, chain
        if step == "return":
            return None
        kind, _, target = step.partition(" ")
        found = walk(chains, target, depth + 1) if depth < MAX_DEPTH else None
        if found is not None:
            return found
        if kind == "goto":  # a goto does not come back here
            return None
    return None


def _decided(chains: Chains, start: str, policy: str, tool: str, label: str) -> str | None:
    """The pass detail when ``start`` (policy ``policy``) drops what nothing accepted."""
    found = walk(chains, start)
    if found is not None and found[0] == "drop":
        via = f" (in chain {found[1]})" if found[1] != start else ""
        return f"{tool}: {label} drops or rejects the rest{via}"
    if found is None and policy in ("drop", "reject"):
        return f"{tool}: {label} has policy {policy}"
    return None


def nft_filters(ruleset: str) -> str | None:
    """What in an ``nft list ruleset`` output drops or rejects incoming traffic (None:
    nothing): an ``input`` hook chain's policy, or an unconditional rule in it or in a chain
    it jumps to."""
    table = chain = ""
    depth = 0
    bases: list[tuple[str, str, str]] = []  # table, chain, policy
    tables: dict[str, Chains] = {}
    for raw in ruleset.splitlines():
        line = raw.strip()
        if depth == 0 and line.startswith("table "):
            table = line.removeprefix("table ").rstrip("{ ").strip()
        elif depth == 1 and line.startswith("chain "):
            chain = line.removeprefix("chain ").rstrip("{ ").strip()
            tables.setdefault(table, {})[chain] = []
        elif depth == 2 and chain:
            if line.startswith("type ") and re.search(r"\bhook\s+input\b", line):
                found_policy = _NFT_POLICY.search(line)
                bases.append((table, chain, found_policy.group(1) if found_policy else "accept"))
            found = _NFT_UNCONDITIONAL.match(line)
            if found:
                verdict = found.group("verdict")
                tables[table][chain].append("drop" if verdict == "reject" else verdict)
        depth = max(depth + line.count("{") - line.count("}"), 0)
        if depth < 2:
            chain = ""
    for table, start, policy in bases:
        label = f"input chain {table} {start}"
        decided = _decided(tables.get(table, {}), start, policy, "nftables", label)
        if decided:
            return decided
    return None


def iptables_filters(rules: str) -> str | None:
    """What in an ``iptables -S`` output drops or rejects incoming traffic (None: nothing):
    the ``INPUT`` policy, or an unconditional rule in ``INPUT`` or in a chain it jumps to."""
    chains: Chains = {}
    policy = "accept"
    rows: list[list[str]] = []
    for line in rules.splitlines():
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if len(words) >= 3 and words[0] == "-P" and words[1] == "INPUT":
            policy = words[2].lower()
        elif len(words) >= 2 and words[0] in ("-N", "-A"):
            chains.setdefault(words[1], [])
            rows.append(words)
    for words in rows:
        jump = next((w for w in ("-j", "-g") if w in words[:-1]), None)
        if words[0] != "-A" or jump is None:
            continue
        at = words.index(jump)
        before = words[2:at]
        if "--comment" in before:  # a comment is no match: drop it and its text
            i = before.index("--comment")
            before = [w for w in before[:i] + before[i + 2 :] if w not in ("-m", "comment")]
        if before:  # a protocol, an interface, an address, a state: not every packet
            continue
        target = words[at + 1]
        if target in _IPT_VERDICTS and jump == "-j":
            chains[words[1]].append(_IPT_VERDICTS[target])
        elif target in chains:
            chains[words[1]].append(f"{'jump' if jump == '-j' else 'goto'} {target}")
    return _decided(chains, "INPUT", policy, "iptables", "chain INPUT")


def _ask(ctx: AuditContext, tool: str) -> tuple[str | None, str]:
    """Run ``tool``; return (what filters, or None; what was seen). Raise CheckError when
    it cannot run, PermissionError when it needs root."""
    argv = {
        "ufw": ["ufw", "status", "verbose"],
        "nft": ["nft", "list", "ruleset"],
        "iptables": ["iptables", "-S"],
    }
    done = ctx.run(argv[tool])
    output = done.stdout + done.stderr
    if done.returncode != 0:
        if _DENIED.search(output):
            raise PermissionError(tool)
        first = output.strip().splitlines()[0] if output.strip() else "no output"
        raise CheckError(f"{tool} exited with status {done.returncode}: {first[:200]}")
    if tool == "ufw":
        if not re.search(r"(?im)^status:\s*active\b", done.stdout):
            return None, "ufw inactive"
        default = re.search(r"(?im)^default:\s*(\w+)\s*\(incoming\)", done.stdout)
        if default and default.group(1).lower() in ("deny", "reject"):
            return f"ufw is active, {default.group(1).lower()} incoming by default", ""
        shown = default.group(1).lower() if default else "unknown"
        return None, f"ufw is active but its default for incoming traffic is {shown}"
    if tool == "nft":
        return nft_filters(done.stdout), "nftables drops nothing that reaches this host"
    return iptables_filters(done.stdout), "iptables INPUT accepts what no rule drops"


@check(
    "NET-FIREWALL",
    title="A host firewall filters incoming traffic",
    weight=4,
    scope="host",
    rationale="A firewall that drops what is not explicitly allowed keeps a service that "
    "starts listening by mistake (or a new default of a package) off the network; it is "
    "the second line behind binding services to the right addresses.",
    remediation="Enable a default-deny firewall for incoming traffic: `ufw default deny "
    "incoming && ufw allow OpenSSH && ufw enable`, or an nftables ruleset with `policy "
    "drop` on the input chain (`/etc/nftables.conf`, `systemctl enable --now nftables`). "
    "A DROP policy on FORWARD (Docker sets one) filters routed traffic only.",
)
def firewall(ctx: AuditContext) -> Result:
    if not ctx.live:
        return skipped("auditing a directory tree, not the running system: no firewall to ask")
    present = [tool for tool in TOOLS if ctx.which(tool)]
    if not present:
        return skipped(
            "none of ufw, nft, iptables is installed, so the host firewall cannot be seen "
            "(a cloud provider's security group is not visible from the host)"
        )
    seen: list[str] = []
    denied: list[str] = []
    errors: list[str] = []
    for tool in present:
        try:
            filters, note = _ask(ctx, tool)
        except PermissionError:
            denied.append(tool)
            continue
        except CheckError as exc:
            errors.append(str(exc))
            continue
        if filters:
            return passed(filters)
        seen.append(note)
    if errors and not seen:
        return Result("error", "; ".join(errors))
    if denied and not seen:
        return skipped(
            f"{', '.join(denied)} need root to list the rules; run the agent (or `watchkeeper "
            "security audit`) as root for this check"
        )
    return failed("; ".join(seen + errors) or "no rule drops or rejects incoming traffic")
