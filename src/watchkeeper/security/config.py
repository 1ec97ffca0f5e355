"""The plan's ``security`` section: where the offline vulnerability database comes from,
what each host's inventory holds, suppressed findings, patch windows and the hardening
audit's profiles."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Cron, Duration, Name, Secret

Ecosystem = Literal["PyPI", "npm", "Debian", "Go", "crates.io", "Maven"]
ECOSYSTEMS: tuple[str, ...] = ("PyPI", "npm", "Debian", "Go", "crates.io", "Maven")
Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "unknown")
"""Severities from worst to least; ``unknown`` when a record gives none."""


class VulnerabilitySource(PlanObject):
    """An OSV data dump (``all.zip`` of one ecosystem) imported on a schedule, from a file or
    an internal mirror. Imports are incremental: records whose ``modified`` time did not
    change are skipped, and an unchanged dump is not read again."""

    ecosystem: Ecosystem = Field(description="Ecosystem of the dump's records.")
    url: Secret | None = Field(
        None,
        description="Mirror URL of the dump (e.g. `https://mirror.internal/osv/PyPI/all.zip`).",
    )
    path: str | None = Field(None, description="Path of the dump on the server.")
    schedule: Cron = Field("0 4 * * *", description="When it is imported (UTC).")
    timeout: Duration = Field(timedelta(minutes=10), description="Longest one import may take.")

    @model_validator(mode="after")
    def _one_location(self) -> VulnerabilitySource:
        if (self.url is None) == (self.path is None):
            raise ValueError("give either `url` or `path`")
        return self


class Inventory(PlanObject):
    """What the agents on matching hosts report as installed software, and how often."""

    hosts: list[str] = Field(
        default_factory=lambda: ["*"], description="Host name globs this inventory applies to."
    )
    python: list[str] = Field(
        default_factory=list,
        description="Python interpreters, virtual environments or site-packages directories "
        "whose installed distributions are listed (globs allowed).",
    )
    requirements: list[str] = Field(
        default_factory=list,
        description="Pinned requirements or lock files (`requirements*.txt`, `poetry.lock`, "
        "`Pipfile.lock`, `uv.lock`, `pylock.toml`; globs allowed).",
    )
    npm: list[str] = Field(
        default_factory=list,
        description="npm lock files (`package-lock.json`, `npm-shrinkwrap.json`; globs allowed).",
    )
    debian: bool = Field(True, description="Installed Debian packages (`dpkg-query`).")
    os_updates: bool = Field(
        True, description="Available OS updates (what `apt list --upgradable` shows)."
    )
    kernel: bool = Field(True, description="The running kernel.")
    interval: Duration = Field(timedelta(hours=6), description="How often it is collected.")


class Suppression(PlanObject):
    """A finding accepted on purpose: not counted, not alerted, shown as suppressed."""

    vulnerability: str = Field(
        description="OSV id or alias (`GHSA-...`, `CVE-2024-1234`, `PYSEC-*`; globs allowed)."
    )
    package: str = Field("*", description="Package name glob.")
    hosts: list[str] = Field(default_factory=lambda: ["*"], description="Host name globs.")
    reason: str = Field(min_length=1, description="Why it is accepted (shown with the finding).")
    expires: date | None = Field(None, description="Day it stops applying (UTC); none: never.")


class HardeningProfile(PlanObject):
    """Which hardening checks run on matching hosts, and what is allowed there."""

    hosts: list[str] = Field(default_factory=lambda: ["*"], description="Host name globs.")
    interval: Duration = Field(timedelta(days=1), description="How often the audit runs.")
    allowed_ports: list[str] = Field(
        default_factory=lambda: ["22"],
        description="Ports that may listen beyond loopback (`22`, `443`, `8000-8100`, `udp/53`; "
        "a bare port or range is TCP).",
    )
    encrypted_mounts: list[str] = Field(
        default_factory=list, description="Mount points that must be on an encrypted device."
    )
    system_paths: list[str] = Field(
        default_factory=lambda: ["/etc", "/usr/bin", "/usr/sbin", "/usr/lib", "/bin", "/sbin"],
        description="Directories where no file may be world-writable.",
    )
    skip: list[str] = Field(default_factory=list, description="Check ids not to run here.")

    @field_validator("allowed_ports")
    @classmethod
    def _ports(cls, value: list[str]) -> list[str]:
        for item in value:
            text = str(item).removeprefix("tcp/").removeprefix("udp/")
            low, _, high = text.partition("-")
            if not low.isdigit() or (high and not high.isdigit()):
                raise ValueError(f'"{item}" is not a port or range (`443`, `8000-8100`, `udp/53`)')
            if not 0 < int(low) <= int(high or low) <= 65535:
                raise ValueError(f'"{item}" is not a port range within 1-65535')
        return [str(v) for v in value]


class SecuritySection(PlanModel):
    """Vulnerabilities of installed software, the patch plan and the hardening audit."""

    sources: list[VulnerabilitySource] = Field(
        default_factory=list, description="OSV dumps making the offline vulnerability database."
    )
    inventories: list[Inventory] = Field(
        default_factory=list,
        description="Inventories of installed software collected on matching hosts (by "
        "their agents; on the server's host by `watchkeeper security inventory`).",
    )
    suppressions: list[Suppression] = Field(
        default_factory=list, description="Findings accepted on purpose."
    )
    hardening: list[HardeningProfile] = Field(
        default_factory=list, description="Hardening audit profiles."
    )
    patch_windows: list[Name] = Field(
        default_factory=list,
        description="Maintenance windows (`alerts.maintenance_windows`) patches are planned "
        "into; none: planned as soon as possible.",
    )
    fix_age: Duration = Field(
        timedelta(days=30),
        description="A finding of `alert_severity` or worse with a fix available for longer "
        "than this raises `VulnerabilityFixOverdue`.",
    )
    alert_severity: Severity = Field(
        "critical", description="Least severity that `VulnerabilityFixOverdue` covers."
    )
    exposed_hosts: list[str] = Field(
        default_factory=list,
        description="Host name globs reachable from the internet: among patches of the same "
        "severity, theirs rank first.",
    )
    history: Duration = Field(
        timedelta(days=400),
        description="Keep import records, inventories, hardening audits, resolved findings and "
        "finished patch actions this long (the latest inventory and audit of each stay).",
    )
