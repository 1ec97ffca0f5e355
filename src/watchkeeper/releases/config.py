"""The plan's ``releases`` section: the services a team deploys, their versioning convention,
what a release gate compares after a deploy, and the release calendar (planned releases and
freeze periods)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, model_validator

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Duration, Name
from watchkeeper.releases.versioning import VersionInvalid, calver_tokens

Versioning = Literal["semver", "calver"]


class GateMetric(PlanModel):
    """One key metric a release gate compares over the window after a deploy with the window
    before it."""

    name: Name = Field(description="Short name shown in the gate's verdict (`error_rate`).")
    expr: str = Field(
        description="PromQL expression giving one value per evaluation (e.g. "
        '`sum(rate(http_requests_total{service="api",code=~"5.."}[5m]))`).'
    )
    worse: Literal["higher", "lower"] = Field(
        "higher", description="Which direction is a regression (`lower` for throughput)."
    )
    threshold: float = Field(
        0.2,
        ge=0,
        description="Largest tolerated relative change in the worse direction (0.2 = 20%).",
    )
    min_change: float = Field(
        0.0,
        ge=0,
        description="Absolute change below which the metric never counts as regressed (so a "
        "rise from 0.001 to 0.002 errors/s is not a 100% regression).",
    )


class ReleaseGate(PlanModel):
    """Compare key metrics after a deploy with before it; mark the deploy ``regressed`` when
    one worsens beyond its threshold."""

    metrics: list[GateMetric] = Field(default_factory=list, description="Metrics compared.")
    window: Duration = Field(
        timedelta(minutes=30), description="Length of the windows before and after a deploy."
    )
    open_incident: bool = Field(
        False, description="Open an incident (with a link to the diff) when a deploy regresses."
    )
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] = Field(
        "SEV3", description="Severity of that incident."
    )
    require_acceptance: bool = Field(
        False,
        description="A deploy is healthy only with an accepted release acceptance (UAT) "
        "sign-off of the planned release it carries out (a `release_acceptance` task); "
        "without one its gate is `unaccepted`.",
    )


class Service(PlanObject):
    """A service the team builds and deploys."""

    team: str = Field("", description="Team that owns the service.")
    versioning: Versioning = Field(
        "semver",
        description="Version convention deploys are checked against: `semver` (1.4.2, "
        "2.0.0-rc.1) or `calver` (see `calver_format`).",
    )
    calver_format: str = Field(
        "YYYY.0M.MICRO",
        description="CalVer pattern of dot-separated parts: YYYY, YY, 0Y, MM, 0M, WW, 0W, DD, "
        "0D, MAJOR, MINOR, MICRO (an optional `-suffix` is allowed after them).",
    )
    repository: str = Field(
        "",
        description="Web address of the source repository; deploys link to "
        "`<repository>/compare/<previous>...<commit>`.",
    )
    environments: list[Name] = Field(
        default_factory=lambda: ["production"],
        description="Environments deploys may name; the first is production (DORA metrics "
        "count production deploys).",
    )
    hosts: list[str] = Field(
        default_factory=list, description="Host name globs the service runs on (deploy markers)."
    )
    depends_on: list[Name] = Field(
        default_factory=list, description="Services this one calls (architecture overview)."
    )
    runbooks: list[str] = Field(
        default_factory=list, description="Runbooks of this service: slugs or links."
    )
    gate: ReleaseGate | None = Field(None, description="Release gate run after each deploy.")

    @model_validator(mode="after")
    def _conventions(self) -> Service:
        try:
            calver_tokens(self.calver_format)
        except VersionInvalid as exc:
            raise ValueError(str(exc)) from None
        if not self.environments:
            raise ValueError("`environments` needs at least one environment (production)")
        if len(set(self.environments)) != len(self.environments):
            raise ValueError("`environments` names an environment twice")
        return self


class PlannedRelease(PlanObject):
    """A release on the calendar."""

    service: Name = Field(description="Service released.")
    version: str = Field("", description="Version planned, when known.")
    at: datetime = Field(description="Planned date and time (UTC).")
    environment: Name = Field("production", description="Environment deployed to.")


class FreezePeriod(PlanObject):
    """A period in which deploys are not made (shown on the calendar; deploys recorded during
    it are flagged)."""

    start: datetime = Field(description="Start (UTC).")
    end: datetime = Field(description="End (UTC).")
    services: list[Name] = Field(
        default_factory=list, description="Services frozen; empty freezes all."
    )

    @model_validator(mode="after")
    def _ordered(self) -> FreezePeriod:
        if self.end <= self.start:
            raise ValueError("`end` must be after `start`")
        return self


class ReleasesSection(PlanModel):
    """Services, their versioning and release gates; the release calendar."""

    services: list[Service] = Field(default_factory=list, description="Deployed services.")
    planned: list[PlannedRelease] = Field(
        default_factory=list, description="Planned releases (release calendar)."
    )
    freezes: list[FreezePeriod] = Field(default_factory=list, description="Freeze periods.")


def broken_references(section: ReleasesSection) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield (path, message) for every service name the section uses but does not declare:
    planned releases, freeze periods and ``depends_on``; and planned environments a service
    does not have."""
    services = {s.name: s for s in section.services}
    for i, service in enumerate(section.services):
        for k, name in enumerate(service.depends_on):
            if name not in services:
                yield ("releases", "services", i, "depends_on", k), f'no service is named "{name}"'
            elif name == service.name:
                yield (
                    ("releases", "services", i, "depends_on", k),
                    "a service cannot depend on itself",
                )
    for i, planned in enumerate(section.planned):
        target = services.get(planned.service)
        if target is None:
            yield (
                ("releases", "planned", i, "service"),
                f'no service is named "{planned.service}" (declare it in `releases.services`)',
            )
        elif planned.environment not in target.environments:
            yield (
                ("releases", "planned", i, "environment"),
                f'service "{planned.service}" has no environment "{planned.environment}" '
                f"(its environments: {', '.join(target.environments)})",
            )
    for i, freeze in enumerate(section.freezes):
        for k, name in enumerate(freeze.services):
            if name not in services:
                yield (
                    ("releases", "freezes", i, "services", k),
                    f'no service is named "{name}" (declare it in `releases.services`)',
                )
