"""The plan's ``incidents`` section: when alerts open incidents, the emergency directory,
procedures, status pages, bug trackers, drills."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Cron, Duration, Name, Secret, TimeZone

Severity = Literal["SEV1", "SEV2", "SEV3", "SEV4"]
SEVERITIES: tuple[Severity, ...] = ("SEV1", "SEV2", "SEV3", "SEV4")


class AutoOpen(PlanModel):
    """Alert groups matching these matchers open an incident (one per group)."""

    matchers: list[str] = Field(
        default_factory=list,
        description='Alertmanager matchers on the group\'s alerts (`severity="critical"`); '
        "empty: every group.",
    )
    escalation: Name | None = Field(
        None, description="Escalation policy started for the incident (from `oncall`)."
    )
    team: str = Field("", description="Team the incident belongs to.")


class SeverityMap(PlanModel):
    """Incident severity given to each alert severity."""

    critical: Severity = "SEV2"
    warning: Severity = "SEV3"
    info: Severity = "SEV4"


class Contact(PlanObject):
    """An entry of the emergency directory."""

    kind: Literal["person", "vendor", "provider", "authority", "team"] = Field(
        "person", description="Who this is."
    )
    organisation: str = Field("", description="Company or body.")
    phone: str = Field("", description="Phone number.")
    email: str = Field("", description="E-mail address.")
    url: str = Field("", description="Support portal or web page.")
    channel: Name | None = Field(
        None, description="Notification channel that reaches them (for a major incident)."
    )
    address: str = Field("", description="Their address on that channel (e-mail: an address).")
    when: str = Field("", description="When to call them (free text, shown in the directory).")
    stakeholder: bool = Field(False, description="Notify them when a major incident is declared.")


class Procedure(PlanObject):
    """An emergency procedure: a Markdown runbook linked to services and alerts."""

    title: str = Field("", description="Title shown in the directory.")
    services: list[str] = Field(default_factory=list, description="Services it applies to.")
    alerts: list[str] = Field(
        default_factory=list, description="Alert names (globs) it applies to."
    )
    body: str = Field("", description="The procedure, in Markdown.")


class Component(PlanModel):
    """One line of a status page: a service, judged from checks and open incidents."""

    name: str = Field(description="Name shown on the page.")
    checks: list[str] = Field(
        default_factory=list, description="Checks (names or globs) whose state it shows."
    )
    services: list[str] = Field(
        default_factory=list,
        description="Incidents affecting these services count (default: `name`).",
    )


class ComponentGroup(PlanModel):
    name: str = Field(description="Group heading.")
    components: list[Component] = Field(min_length=1)


class StatusPage(PlanObject):
    """A public, read-only status page at ``/status/<name>`` (and ``/status/<name>.json``)."""

    title: str = Field("", description="Page title (default: the name).")
    groups: list[ComponentGroup] = Field(min_length=1, description="Service groups.")
    history: Duration = Field(
        timedelta(days=7), description="Show resolved incidents and past updates this long."
    )


class Tracker(PlanObject):
    """An external bug tracker incidents can open issues in."""

    type: Literal["github", "gitlab", "jira", "webhook"] = Field(description="Tracker kind.")
    url: str = Field(
        description="API base URL: https://api.github.com, https://gitlab.example.com, "
        "https://example.atlassian.net, or the webhook URL."
    )
    project: str = Field(
        "", description="owner/repo (GitHub), project id or path (GitLab), key (Jira)."
    )
    token: Secret = Field("", description="API token (use ${ENV}); Jira: with `user`.")
    user: str = Field("", description="Jira: the account e-mail for basic auth.")
    issue_type: str = Field("Bug", description="Jira issue type.")
    labels: list[str] = Field(default_factory=list, description="Labels put on new issues.")
    timeout: Duration = Field(
        timedelta(seconds=15), description="Give up on one request to the tracker after."
    )

    @model_validator(mode="after")
    def _project(self) -> Tracker:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("`url` must be an http:// or https:// URL")
        if self.type != "webhook" and not self.project:
            raise ValueError(f"a {self.type} tracker needs `project`")
        owner, _, repo = self.project.partition("/")
        if self.type == "github" and not (owner and repo and "/" not in repo):
            raise ValueError(f'a github tracker\'s project is "owner/repo", not "{self.project}"')
        if self.type == "jira" and self.token and not self.user:
            raise ValueError("a jira tracker needs `user` (the account e-mail) with `token`")
        return self


class Drill(PlanObject):
    """A game day: a synthetic alert, flagged as a drill, sent through the real path."""

    schedule: Cron | None = Field(None, description="When to run (cron); none: on demand.")
    time_zone: TimeZone = Field("UTC", description="Time zone of `schedule`.")
    labels: dict[str, str] = Field(
        default_factory=lambda: {"severity": "critical"},
        description="Labels of the synthetic alert (routing uses them).",
    )
    summary: str = Field("Drill: please acknowledge", description="The alert's summary.")
    escalation: Name | None = Field(
        None, description="Escalation policy (default: the one auto-open gives)."
    )
    timeout: Duration = Field(
        timedelta(hours=1), description="Close the drill as missed when not acknowledged by then."
    )


class MajorIncident(PlanModel):
    """What "declare major incident" does."""

    severity: Severity = Field("SEV1", description="Severity the incident is raised to.")
    escalation: Name | None = Field(None, description="Escalation policy started as well.")


class IncidentsSection(PlanModel):
    """Incidents, the emergency directory, status pages, trackers and drills."""

    auto_open: list[AutoOpen] = Field(
        default_factory=lambda: [AutoOpen(matchers=['severity="critical"'])],
        description="Which alert groups open incidents; the first match decides.",
    )
    severity_map: SeverityMap = Field(default_factory=SeverityMap)
    auto_resolve: bool = Field(
        True, description="Resolve an auto-opened incident when all its alerts have resolved."
    )
    service_label: str = Field(
        "service", description="Alert label that names the affected service."
    )
    ack_link_ttl: Duration = Field(
        timedelta(hours=24), description="Signed acknowledge links in notifications expire."
    )
    major_incident: MajorIncident = Field(default_factory=MajorIncident)
    contacts: list[Contact] = Field(default_factory=list, description="Emergency directory.")
    procedures: list[Procedure] = Field(default_factory=list, description="Emergency procedures.")
    status_pages: list[StatusPage] = Field(default_factory=list, description="Status pages.")
    trackers: list[Tracker] = Field(default_factory=list, description="Bug trackers.")
    drills: list[Drill] = Field(default_factory=list, description="Drills (game days).")
