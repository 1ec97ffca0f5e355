"""The plan's ``compliance`` section: which shipped control sets apply, the team's own
controls (or overrides of shipped ones, by id), and how often evidence is gathered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Duration

Framework = Literal["soc2", "iso27001", "gdpr"]


class EvidenceQuery(PlanModel):
    """One automated evidence query over Watchkeeper's own data: ``query`` names it, the
    other keys are its parameters (``{query: backup_drills_passed, within: 7d}``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    query: str = Field(description="Name of the evidence query (see the compliance guide).")

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Control(PlanObject):
    """A control: passes when every one of its evidence queries passes. ``name`` is its id
    (`WK-BACKUP-1`); a control named like a shipped one replaces it."""

    title: str = Field(min_length=1, description="What the control asks for.")
    references: list[str] = Field(
        default_factory=list,
        description="Framework references it maps to (`SOC 2 CC6.1`, `ISO 27001:2022 A.8.13`, "
        "`GDPR Art. 32`).",
    )
    evidence: list[EvidenceQuery] = Field(
        min_length=1, description="Evidence queries; all must pass."
    )
    owner: str = Field("", description="Team or person answerable for it.")


class ComplianceSection(PlanModel):
    """Compliance controls with automated evidence, and the plan-compliance view."""

    frameworks: list[Framework] = Field(
        default_factory=list,
        description="Shipped control sets that apply (`soc2`, `iso27001`, `gdpr`).",
    )
    controls: list[Control] = Field(
        default_factory=list, description="The team's own controls, or replacements by id."
    )
    disabled: list[str] = Field(
        default_factory=list, description="Ids of shipped controls that do not apply."
    )
    interval: Duration = Field(timedelta(minutes=15), description="How often evidence is gathered.")
