"""The plan's required trainings (``tasks.trainings``): which course everyone, a team, a
role or the members of an on-call schedule must have attended, and for how long a
session counts (security awareness yearly; incident handling for everyone on call)."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator

from watchkeeper.auth.roles import ROLES
from watchkeeper.plan.base import PlanObject
from watchkeeper.plan.types import Duration


def is_link(value: str) -> bool:
    """An http(s) URL or a path on this server (never ``//host`` nor ``javascript:``)."""
    return value.lower().startswith(("http://", "https://")) or (
        value.startswith("/") and not value.startswith("//")
    )


AUDIENCE = re.compile(r"^(everyone|(team|role|oncall):[A-Za-z0-9][A-Za-z0-9._@+-]{0,149})$")


class RequiredTraining(PlanObject):
    """A course some people must have attended, within ``valid_for``."""

    title: str = Field(min_length=1, max_length=200, description="The course, in a few words.")
    required_for: list[str] = Field(
        min_length=1,
        description="Who must attend: `everyone` (every enabled person), `team:<name>`, "
        "`role:<role>` (that role or a higher one), `oncall:<schedule>` (every member of "
        "the schedule's rotations).",
    )
    valid_for: Duration | None = Field(
        None,
        description="How long an attended session counts (`365d`: yearly); empty: for good.",
    )
    warn_before: Duration = Field(
        timedelta(days=30), description="Shown as expiring this long before it expires."
    )
    material: str = Field(
        "", max_length=2000, description="Link to the course material (http(s) or a path)."
    )
    onboarding: bool = Field(True, description="List it in a new member's onboarding checklist.")

    @field_validator("required_for")
    @classmethod
    def _audience(cls, value: list[str]) -> list[str]:
        for item in value:
            if not AUDIENCE.match(item):
                raise ValueError(
                    f'"{item}": use everyone, team:<name>, role:<role> or oncall:<schedule>'
                )
            if item.startswith("role:") and item[5:] not in ROLES:
                raise ValueError(f'"{item}": not a role (use {", ".join(ROLES)})')
        return list(dict.fromkeys(value))

    @field_validator("valid_for")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(days=1):
            raise ValueError("at least 1d")
        return value

    @field_validator("material")
    @classmethod
    def _link(cls, value: str) -> str:
        value = value.strip()
        if value and not is_link(value):
            raise ValueError("use an http(s) URL or a path on this server starting with /")
        return value
