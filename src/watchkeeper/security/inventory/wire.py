"""The body of ``POST /api/v1/agent/packages`` and its answer.

A report holds one entry per inventory of the host, in one of three forms:

- **full**: ``packages`` given — stored as a new row when its digest differs from the
  host's latest one for that location, otherwise the latest row's dates move on;
- **unchanged**: only the ``digest`` — the agent sent these packages before; the latest
  row's dates move on. A server that does not have that digest (a batch lost to a full
  spool, a restored store) lists the entry in ``resend`` and the agent sends it in full;
- **failed**: ``error`` — the location could not be read this time; the last packages stay
  the inventory of record and the error is shown beside them.

A ``complete`` report lists every location the host inventories: one the server knows but
the report lacks is gone (a removed virtualenv) and gets an empty row saying so.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from watchkeeper.agent.wire import HOST_RE
from watchkeeper.security.inventory.model import (
    MAX_DISTRO,
    MAX_ERROR,
    MAX_FIELD,
    MAX_LOCATION,
    MAX_PACKAGES,
    OS_UPDATES,
    Collected,
)

MAX_INVENTORIES = 1000
"""Most inventories one report may hold."""
_DIGEST = re.compile(r"^[0-9a-f]{64}$")

PackageField = Annotated[str, StringConstraints(max_length=MAX_FIELD)]
Row = Annotated[list[PackageField], Field(min_length=2, max_length=4)]
EcosystemName = Literal["PyPI", "npm", "Debian", "kernel", "os-updates"]


class InventoryIn(BaseModel):
    """One inventory of the report: full, unchanged (digest only) or failed (error)."""

    model_config = ConfigDict(extra="forbid")

    ecosystem: EcosystemName
    location: str = Field(
        min_length=1,
        max_length=MAX_LOCATION,
        description='Venv, interpreter or lock file path; "dpkg", "apt" or "running".',
    )
    distro: str = Field("", max_length=MAX_DISTRO, description='Debian release, e.g. "12".')
    digest: str = Field("", description="SHA-256 (hex) of distro and packages.")
    packages: list[Row] | None = Field(
        None,
        max_length=MAX_PACKAGES,
        description="`[name, version]` rows (`os-updates`: `[name, candidate, installed, "
        "origin]`); absent when unchanged or failed.",
    )
    skipped: int = Field(0, ge=0, description="Entries left out (unpinned, no version).")
    error: str = Field("", max_length=MAX_ERROR, description="Why it could not be read.")

    @model_validator(mode="after")
    def _consistent(self) -> InventoryIn:
        if self.error:
            if self.packages is not None:
                raise ValueError("a failed inventory (`error`) carries no `packages`")
            return self
        if self.packages is None:
            if not _DIGEST.match(self.digest):
                raise ValueError(
                    "give `packages`, or the `digest` (64 hex digits) of unchanged ones"
                )
            return self
        width = 4 if self.ecosystem == OS_UPDATES else 2
        for number, row in enumerate(self.packages):
            if len(row) != width or not row[0] or not row[1]:
                raise ValueError(
                    f"packages[{number}]: a {self.ecosystem} row is {width} strings, "
                    "name and version not empty"
                )
        return self


class PackagesReport(BaseModel):
    """The inventories one host collected at ``collected_at``."""

    host: str = Field(pattern=HOST_RE.pattern, description="The agent's host name.")
    collected_at: AwareDatetime = Field(description="When they were collected (UTC).")
    complete: bool = Field(
        False, description="The report lists every location the host inventories."
    )
    agent_version: str = Field("", max_length=40)
    inventories: list[InventoryIn] = Field(default_factory=list, max_length=MAX_INVENTORIES)

    @model_validator(mode="after")
    def _unique(self) -> PackagesReport:
        seen: set[tuple[str, str]] = set()
        for inv in self.inventories:
            key = (inv.ecosystem, inv.location)
            if key in seen:
                raise ValueError(f"{inv.ecosystem} {inv.location} is listed twice")
            seen.add(key)
        return self


class InventoryKey(BaseModel):
    ecosystem: str
    location: str


class PackagesResult(BaseModel):
    """What the server did with a report."""

    stored: int = Field(description="Inventories stored as a new row (they changed).")
    unchanged: int = Field(description="Inventories unchanged (dates moved on).")
    failed: int = Field(description="Locations that could not be read.")
    gone: int = Field(description="Locations no longer on the host.")
    resend: list[InventoryKey] = Field(
        default_factory=list, description="Unchanged entries whose digest is unknown here."
    )


def report_entry(collected: Collected, *, full: bool) -> dict[str, Any]:
    """Return the JSON of ``collected`` for a report: with its packages when ``full``,
    else its digest only (a failed one: its error)."""
    entry: dict[str, Any] = {
        "ecosystem": collected.ecosystem,
        "location": collected.location,
        "distro": collected.distro,
        "skipped": collected.skipped,
    }
    if collected.error:
        entry["error"] = collected.error
        return entry
    entry["digest"] = collected.digest
    if full:
        entry["packages"] = [list(row) for row in collected.packages]
    return entry
