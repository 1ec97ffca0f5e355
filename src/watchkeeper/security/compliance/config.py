"""The plan's ``compliance`` section: which shipped control sets apply, the team's own
controls (or overrides of shipped ones, by id), and how often evidence is gathered."""

from __future__ import annotations

import difflib
from datetime import timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Duration

Framework = Literal["soc2", "iso27001", "gdpr"]
IncidentSeverity = Literal["SEV1", "SEV2", "SEV3", "SEV4"]


class EvidenceQuery(PlanModel):
    """One automated evidence query over Watchkeeper's own data: ``query`` names it, the
    other keys are its parameters (``{query: backup_drills_passed, within: 7d}``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    query: str = Field(description="Name of the evidence query (see the compliance guide).")

    @model_validator(mode="before")
    @classmethod
    def _known_query(cls, data: Any, info: ValidationInfo) -> Any:
        """``query`` names a registered evidence query and the other keys are its valid
        parameters; errors point at the key at fault (``evidence[0].within``)."""
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            return data
        # Imported here: the queries read the plan's other sections, whose models import this.
        from watchkeeper.security.compliance.evidence import registry

        found = registry.get(data["query"])
        if found is None:
            close = difflib.get_close_matches(data["query"], registry.names(), n=1, cutoff=0.6)
            hint = (
                f'did you mean "{close[0]}"?'
                if close
                else "available: " + ", ".join(registry.names())
            )
            raise _error(
                "query",
                data["query"],
                'unknown evidence query "{query}" ({hint})',
                {"query": data["query"], "hint": hint},
            )
        found.params_model.model_validate(data, context=info.context)
        return data

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _error(field: str | int, value: Any, message: str, ctx: dict[str, Any]) -> ValidationError:
    """A validation error located at ``field`` of the model being validated."""
    return ValidationError.from_exception_data(
        "compliance",
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", message, ctx), loc=(field,), input=value
            )
        ],
    )


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


class PlanStatusSettings(PlanModel):
    """How the plan-compliance view (the home page) judges whether the plan is followed,
    and how long its history is kept."""

    history: Duration = Field(
        timedelta(days=400),
        description="Keep plan-compliance snapshots this long (every evaluation for 2 days, "
        "then one per hour).",
    )
    unacknowledged_after: Duration = Field(
        timedelta(hours=1),
        description="An alert firing this long without an acknowledgement, or an open "
        "incident without an owner this long (and no escalation running), breaks the plan.",
    )
    log_silence: Duration = Field(
        timedelta(days=1),
        description="A log source (file, journald, syslog) with no line for this long breaks "
        "the plan.",
    )
    stale_admin_after: Duration = Field(
        timedelta(days=90),
        description="An enabled admin who has not signed in for this long breaks the plan.",
    )
    postmortem_within: Duration = Field(
        timedelta(days=7),
        description="Publish the postmortem of a resolved major incident (or one of "
        "`postmortem_severities`) within this long.",
    )
    postmortem_severities: list[IncidentSeverity] = Field(
        default_factory=lambda: list[IncidentSeverity](["SEV1", "SEV2"]),
        description="Incident severities that need a published postmortem.",
    )


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

    @model_validator(mode="after")
    def _disabled_are_shipped(self) -> ComplianceSection:
        """Each id of ``disabled`` names a shipped control of the listed frameworks."""
        from watchkeeper.security.compliance.controlsets import unknown_disabled

        problems = unknown_disabled(list(self.frameworks), self.disabled)
        if problems:
            raise ValidationError.from_exception_data(
                "compliance",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("value_error", "{message}", {"message": message}),
                        loc=("disabled", i),
                        input=self.disabled[i],
                    )
                    for i, message in problems
                ],
            )
        return self

    plan_status: PlanStatusSettings = Field(
        default_factory=PlanStatusSettings,
        description="How the plan-compliance view (the home page) judges the plan. Keys: "
        "`history` (400d: snapshots kept), `unacknowledged_after` (1h: a firing alert without "
        "an acknowledgement, an open incident without an owner), `log_silence` (1d: a log "
        "source without a line), `stale_admin_after` (90d: an admin without a sign-in), "
        "`postmortem_within` (7d) and `postmortem_severities` (`[SEV1, SEV2]`).",
    )
