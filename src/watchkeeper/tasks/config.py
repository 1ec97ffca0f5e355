"""The plan's ``tasks`` section: recurring maintenance work done by people (review the logs
every week, audit access every quarter), with its owner, checklist, the evidence it needs,
its reminders and when it counts as overdue."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Duration, Name, TimeZone
from watchkeeper.tasks.recurrence import Recurrence, RecurrenceError, check
from watchkeeper.tasks.training_config import RequiredTraining

EvidenceKind = Literal["comment", "file", "checklist", "link", "value"]
OWNER = re.compile(r"^(team:|oncall:)?[A-Za-z0-9][A-Za-z0-9._@+-]{0,149}$")


class TaskLink(PlanModel):
    """A page the task needs: a saved log search, a dashboard, a runbook."""

    title: str = Field(min_length=1, max_length=200, description="What the link shows.")
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="An http(s) URL, or a path on this server (`/logs?q=...`, `/runbooks/x`).",
    )

    @field_validator("url")
    @classmethod
    def _safe(cls, value: str) -> str:
        lowered = value.strip().lower()
        if lowered.startswith(("http://", "https://")) or (
            value.startswith("/") and not value.startswith("//")
        ):
            return value.strip()
        raise ValueError("use an http(s) URL or a path on this server starting with /")


class TaskSpec(PlanObject):
    """A recurring task: one instance per occurrence of its recurrence, due ``due`` later."""

    title: str = Field(min_length=1, max_length=200, description="What to do, in a few words.")
    description: str = Field(
        "", max_length=20_000, description="How to do it, in Markdown (shown on its pages)."
    )
    kind: str = Field(
        "",
        max_length=64,
        description="A built-in task kind that prepares part of the work (e.g. an access "
        "review's list of accounts) and applies the decisions; empty: a plain task.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Settings of the task kind (see its reference)."
    )
    cron: str | None = Field(
        None, description="When it falls due, as a cron expression (`0 9 * * 1`), local time."
    )
    rrule: str | None = Field(
        None,
        description="When it falls due, as an RFC 5545 RRULE, e.g. "
        "`FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=1MO;BYHOUR=9` (first Monday of each quarter, "
        "09:00). Give `cron` or `rrule`.",
    )
    timezone: TimeZone = Field(
        "UTC", description="Time zone the recurrence is read in (daylight saving included)."
    )
    start: datetime | None = Field(
        None,
        description="Local date-time of the first possible occurrence; it also anchors the "
        "RRULE (time of day, INTERVAL). Default: 2024-01-01 00:00, and no instance for an "
        "occurrence before the task was added.",
    )
    due: Duration = Field(
        timedelta(days=1), description="How long after the occurrence the task is due."
    )
    owner: str = Field(
        "",
        description="Who does it: a user name, `team:<name>`, or `oncall:<schedule>` "
        "(whoever is on call when the instance is made). Empty: anyone.",
    )
    checklist: list[str] = Field(default_factory=list, description="Steps to tick off, in order.")
    links: list[TaskLink] = Field(default_factory=list, description="Pages the work needs.")
    evidence: list[EvidenceKind] = Field(
        default_factory=list,
        description="What completing needs: `comment`, `file` (stored with its SHA-256), "
        "`checklist` (every step ticked), `link`, `value`.",
    )
    value_label: str = Field(
        "", max_length=200, description='What the `value` evidence is ("restore took, min").'
    )
    reminders: list[Duration] = Field(
        default_factory=list,
        description="Reminders before the due time (`[3d, 1d]`), through `channels` and the "
        "owner's contact rules (`oncall.people`).",
    )
    channels: list[Name] = Field(
        default_factory=list, description="Notification channels the reminders go to."
    )
    escalate_after: Duration = Field(
        timedelta(0),
        description="How long past due before `TaskOverdue` fires (routed and escalated like "
        "any alert: an `incidents.auto_open` rule with an `escalation` policy pages on).",
    )
    severity: Literal["critical", "warning", "info"] = Field(
        "warning", description="Severity of `TaskOverdue`."
    )
    enabled: bool = Field(True, description="False: no new instances (history is kept).")

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        if value and not OWNER.match(value):
            raise ValueError("use a user name, team:<name> or oncall:<schedule>")
        return value

    @field_validator("checklist")
    @classmethod
    def _steps(cls, value: list[str]) -> list[str]:
        for step in value:
            if not step.strip() or len(step) > 500:
                raise ValueError("each step is 1 to 500 characters")
        return value

    @field_validator("reminders")
    @classmethod
    def _reminders(cls, value: list[timedelta]) -> list[timedelta]:
        if any(r <= timedelta(0) for r in value):
            raise ValueError("a reminder is a duration before the due time, such as 1d")
        return sorted(set(value), reverse=True)

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        if (self.cron is None) == (self.rrule is None):
            raise ValueError("give either `cron` or `rrule`")
        try:
            check(self.recurrence)
        except RecurrenceError as exc:
            raise ValueError(f"{'cron' if self.cron else 'rrule'}: {exc}") from None
        if "checklist" in self.evidence and not self.checklist:
            raise ValueError("evidence `checklist` needs a `checklist` of steps")
        if self.kind:
            from watchkeeper.tasks.kinds import KindError, validate_options

            try:
                self.options = validate_options(self.kind, self.options)
            except KindError as exc:
                raise ValueError(str(exc)) from None
        elif self.options:
            raise ValueError("`options` are for a task `kind`; this task has none")
        return self

    @property
    def recurrence(self) -> Recurrence:
        return Recurrence(self.cron, self.rrule, self.timezone, self.start)


class TasksSection(PlanModel):
    """Recurring tasks; more can be made in the UI (Tasks → New task)."""

    tasks: list[TaskSpec] = Field(default_factory=list, description="Recurring tasks.")
    trainings: list[RequiredTraining] = Field(
        default_factory=list, description="Required trainings (see docs/training.md)."
    )
    catch_up: int = Field(
        3,
        ge=1,
        le=100,
        description="After a pause (the server was down), instances made at most per task "
        "for the occurrences missed; older ones are left out.",
    )
