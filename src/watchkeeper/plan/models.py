"""The plan file's schema: one model per top-level section.

Sections that later releases fill are declared here already (empty), so that a plan naming
them is valid today and a misspelt section name is an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, model_validator

from watchkeeper.alerts.config import AlertsSection
from watchkeeper.backups.config import BackupsSection
from watchkeeper.checks.interface import CheckConfig
from watchkeeper.checks.interface import registry as check_registry
from watchkeeper.dbmaint.config import DatabasesSection
from watchkeeper.errors.config import ErrorsSection
from watchkeeper.incidents.config import IncidentsSection
from watchkeeper.incidents.oncall_config import OncallSection
from watchkeeper.knowledge.config import RunbooksSection
from watchkeeper.logs.config import LogsSection
from watchkeeper.metrics.config import MetricsSection
from watchkeeper.notify.config import NotificationsSection
from watchkeeper.plan.base import PlanModel
from watchkeeper.releases.capacity.config import CapacitySection
from watchkeeper.releases.config import ReleasesSection
from watchkeeper.security.compliance.config import ComplianceSection
from watchkeeper.security.config import SecuritySection
from watchkeeper.tasks.config import TasksSection


def _union_of(models: list[type[CheckConfig]]) -> Any:
    if not models:
        return CheckConfig
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Discriminator("type")]  # noqa: UP007


if TYPE_CHECKING:
    CheckSpec = CheckConfig
else:
    CheckSpec = _union_of([p.config_model for p in check_registry.all().values()])


SECTIONS_SET = frozenset(
    {
        "checks",
        "metrics",
        "alerts",
        "notifications",
        "logs",
        "backups",
        "databases",
        "incidents",
        "oncall",
        "security",
        "compliance",
        "access",
        "releases",
        "capacity",
        "runbooks",
        "errors",
        "tasks",
    }
)


class AccessSection(PlanModel):
    """Who may sign in and how."""

    require_mfa: list[Literal["viewer", "responder", "operator", "admin"]] = Field(
        default_factory=list,
        description="Roles whose users must use a second factor (TOTP app or security key); "
        "they are sent to set one up at their next sign-in.",
    )


class Plan(PlanModel):
    """A maintenance plan: the whole ``watchkeeper.yaml``."""

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # `alerts:` with nothing after it means an empty section, not an error.
        # Changed in place: the loader maps problems back to the file by the dict's identity.
        if isinstance(data, dict):
            for key in SECTIONS_SET.intersection(data):
                if data[key] is None:
                    data[key] = [] if key == "checks" else {}
        return data

    version: Literal[1] = Field(1, description="Plan file format version.")
    name: str = Field("", description="Name of this plan, shown in the UI.")
    checks: list[CheckSpec] = Field(default_factory=list, description="Health checks.")
    metrics: MetricsSection = Field(default_factory=MetricsSection)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    notifications: NotificationsSection = Field(default_factory=NotificationsSection)
    logs: LogsSection = Field(default_factory=LogsSection)
    backups: BackupsSection = Field(default_factory=BackupsSection)
    databases: DatabasesSection = Field(default_factory=DatabasesSection)
    incidents: IncidentsSection = Field(default_factory=IncidentsSection)
    oncall: OncallSection = Field(default_factory=OncallSection)
    security: SecuritySection = Field(default_factory=SecuritySection)
    compliance: ComplianceSection = Field(default_factory=ComplianceSection)
    access: AccessSection = Field(default_factory=AccessSection)
    releases: ReleasesSection = Field(default_factory=ReleasesSection)
    capacity: CapacitySection = Field(default_factory=CapacitySection)
    runbooks: RunbooksSection = Field(default_factory=RunbooksSection)
    errors: ErrorsSection = Field(default_factory=ErrorsSection)
    tasks: TasksSection = Field(default_factory=TasksSection)


SECTIONS: tuple[str, ...] = tuple(n for n in Plan.model_fields if n not in ("version", "name"))

assert set(SECTIONS) == SECTIONS_SET, "keep SECTIONS_SET in step with the Plan model"
