"""What one host inventories: the plan's ``security.inventories`` whose ``hosts`` match it,
merged into one spec (the agent asks the server for it; ``watchkeeper security inventory``
builds it from the plan)."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from watchkeeper.globs import matches_any
from watchkeeper.security.config import Inventory

DEFAULT_INTERVAL = 6 * 3600.0


class InventorySpec(BaseModel):
    """The merged inventory specs of one host: every location of every matching
    inventory, each kind collected when one of them asks for it, at the shortest interval.
    Keys this version does not know (from a newer server) are ignored."""

    inventories: list[str] = Field(
        default_factory=list, description="Names of the plan's inventories that apply."
    )
    python: list[str] = Field(
        default_factory=list, description="Interpreters, environments, site-packages (globs)."
    )
    requirements: list[str] = Field(
        default_factory=list, description="Requirements and Python lock files (globs)."
    )
    npm: list[str] = Field(default_factory=list, description="npm lock files (globs).")
    debian: bool = Field(False, description="Installed Debian packages.")
    os_updates: bool = Field(False, description="Available OS updates.")
    kernel: bool = Field(False, description="The running kernel.")
    interval_seconds: float = Field(
        DEFAULT_INTERVAL, gt=0, description="How often the inventories are collected."
    )

    @property
    def empty(self) -> bool:
        """True when nothing is to be collected."""
        return not (
            self.python
            or self.requirements
            or self.npm
            or self.debian
            or self.os_updates
            or self.kernel
        )


def _union(lists: Iterable[list[str]]) -> list[str]:
    return list(dict.fromkeys(item for items in lists for item in items))


def merge_specs(inventories: Iterable[Inventory]) -> InventorySpec:
    """Return the one spec that collects everything ``inventories`` ask for."""
    chosen = list(inventories)
    if not chosen:
        return InventorySpec()
    return InventorySpec(
        inventories=[inv.name for inv in chosen],
        python=_union(inv.python for inv in chosen),
        requirements=_union(inv.requirements for inv in chosen),
        npm=_union(inv.npm for inv in chosen),
        debian=any(inv.debian for inv in chosen),
        os_updates=any(inv.os_updates for inv in chosen),
        kernel=any(inv.kernel for inv in chosen),
        interval_seconds=min(inv.interval.total_seconds() for inv in chosen),
    )


def applies_to(inventory: Inventory, host: str) -> bool:
    """Return True if one of ``inventory.hosts`` globs matches ``host`` (ignoring case)."""
    return matches_any(host, inventory.hosts)


def spec_for_host(inventories: Iterable[Inventory], host: str) -> InventorySpec:
    """Return the merged spec of the ``inventories`` that apply to ``host``."""
    return merge_specs(inv for inv in inventories if applies_to(inv, host))
