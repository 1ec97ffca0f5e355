"""Which hardening profile applies to a host.

Every profile whose ``hosts`` globs match the host name applies, and they add up: their
allowed ports, encrypted mounts, system paths and skipped checks are joined, and the
shortest interval wins. So a catch-all profile can set the baseline (``hosts: ["*"]``,
``allowed_ports: ["22"]``) and a narrower one add what some hosts need
(``hosts: ["web-*"]``, ``allowed_ports: ["443"]``), in any order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from watchkeeper.globs import matches_any
from watchkeeper.security.config import HardeningProfile

DEFAULT_NAME = "default"


@dataclass(frozen=True)
class AppliedProfile:
    """The profiles that apply to one host, merged."""

    names: tuple[str, ...]
    profile: HardeningProfile

    @property
    def label(self) -> str:
        """What is stored as the run's profile: the names, joined."""
        return ",".join(self.names)[:128]


def _union(lists: Iterable[list[str]]) -> list[str]:
    out: list[str] = []
    for items in lists:
        out += [item for item in items if item not in out]
    return out


def merge(profiles: list[HardeningProfile]) -> AppliedProfile | None:
    """The profiles merged into one (None for none)."""
    if not profiles:
        return None
    merged = HardeningProfile(
        name=profiles[0].name,
        hosts=_union(p.hosts for p in profiles),
        interval=min(p.interval for p in profiles),
        allowed_ports=_union(p.allowed_ports for p in profiles),
        encrypted_mounts=_union(p.encrypted_mounts for p in profiles),
        system_paths=_union(p.system_paths for p in profiles),
        skip=_union(p.skip for p in profiles),
    )
    return AppliedProfile(tuple(p.name for p in profiles), merged)


def for_host(profiles: list[HardeningProfile], host: str) -> AppliedProfile | None:
    """The merged profiles matching ``host``; None when none does."""
    return merge([p for p in profiles if matches_any(host, p.hosts)])


def named(profiles: list[HardeningProfile], name: str) -> AppliedProfile | None:
    """The profile called ``name`` alone; None when the plan has none by that name."""
    return merge([p for p in profiles if p.name == name])


def default() -> AppliedProfile:
    """The built-in defaults, for the server when no profile matches it."""
    return AppliedProfile((DEFAULT_NAME,), HardeningProfile(name=DEFAULT_NAME))
