"""What agents and the server exchange about hardening audits: the profile an agent follows
(``GET /api/v1/agent/hardening?host=``) and the results it sends (``POST
/api/v1/agent/hardening``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from watchkeeper.agent.wire import HOST_RE
from watchkeeper.security.config import HardeningProfile
from watchkeeper.security.hardening.profiles import AppliedProfile

log = logging.getLogger(__name__)
MAX_RESULTS = 200


class AgentProfile(BaseModel):
    """The hardening profile of one agent's host (all matching profiles, merged)."""

    profiles: list[str] = Field(
        default_factory=list, description="Names of the profiles matching the host."
    )
    profile: dict[str, Any] | None = Field(
        None, description="The merged profile; null: no profile matches, nothing to audit."
    )
    run_requested_at: datetime | None = Field(
        None,
        description="When an admin asked for an audit now (the agent runs one if it "
        "has not audited since).",
    )


def applied_from(doc: Any) -> tuple[AppliedProfile | None, datetime | None]:
    """The profile and run request of a server's answer, as an agent reads it: keys this
    agent does not know (a newer server) are ignored; an unusable profile is logged."""
    if not isinstance(doc, dict):
        return None, None
    try:
        answer = AgentProfile.model_validate(doc)
    except ValidationError as exc:
        log.warning("hardening: cannot read the server's answer: %s", exc)
        return None, None
    if answer.profile is None:
        return None, answer.run_requested_at
    known = set(HardeningProfile.model_fields)
    try:
        profile = HardeningProfile.model_validate(
            {k: v for k, v in answer.profile.items() if k in known}
        )
    except ValidationError as exc:
        log.warning("hardening: cannot use the profile from the server: %s", exc)
        return None, answer.run_requested_at
    names = tuple(answer.profiles) or (profile.name,)
    return AppliedProfile(names, profile), answer.run_requested_at


class ResultIn(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9-]*$")
    status: Literal["pass", "fail", "skip", "error"]
    detail: str = Field("", max_length=4000)
    weight: int = Field(
        1,
        ge=0,
        le=100,
        description="Ignored: the server weighs each check by its own catalogue (1 for a "
        "check it does not know).",
    )
    title: str = Field("", max_length=200, description="Shown for a check unknown here.")


class AgentResults(BaseModel):
    """One audit of an agent's host."""

    host: str = Field(min_length=1, max_length=200, description="The agent's host name.")
    profile: str = Field("", max_length=128, description="The profile names, joined by ','.")
    ran_at: datetime = Field(description="When the audit ran (UTC).")
    results: list[ResultIn] = Field(max_length=MAX_RESULTS)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not HOST_RE.fullmatch(value):
            raise ValueError(f'"{value}" is not a host name (letters, digits, ".", "-", "_", ":")')
        return value

    @field_validator("ran_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone (UTC: a trailing Z)")
        return value.astimezone(UTC)


class RunOut(BaseModel):
    """A recorded run, as the push answers it."""

    host: str
    ran_at: datetime
    index: float | None = Field(description="0..100; null when no check could be judged.")
    points: int
    possible: int
