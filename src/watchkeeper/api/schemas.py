"""Response and request bodies of the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.plan.types import Duration


class ObjectOut(BaseModel):
    kind: str
    name: str
    managed: bool = Field(description="Declared by the plan file: read-only here.")
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    updated_by: str


class SectionOut(BaseModel):
    section: str
    kinds: dict[str, int] = Field(description="Objects per kind in this section.")
    managed: int
    total: int


class StatusOut(BaseModel):
    version: str
    plan_file: str | None
    plan_name: str
    last_applied_at: datetime | None
    plan_error: str | None
    sections: list[SectionOut]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    display_name: str
    email: str | None
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    kind: str = Field("human", description='"human", or "service" for a service account.')


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    password: str = Field(repr=False)
    role: str = "viewer"
    display_name: str = ""
    email: str | None = None


class ApplyOut(BaseModel):
    changes: list[str]
    created: int
    updated: int
    deleted: int
    unchanged: int


class SessionOut(BaseModel):
    username: str
    role: str
    csrf_token: str


class UserPatch(BaseModel):
    """Fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    role: str | None = None
    disabled: bool | None = Field(None, description="Disabling ends the user's sessions.")
    display_name: str | None = None
    email: str | None = Field(None, description="null or an empty string clears it.")


class SessionsEndedOut(BaseModel):
    sessions_ended: int


class UnlockOut(BaseModel):
    username: str
    failures_forgotten: int


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(repr=False)
    new_password: str = Field(repr=False)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="What the token is for, e.g. `ci-deploy`.")
    role: str = Field("viewer", description="At most the owner's role.")
    expires_in: Duration | None = Field(
        None, description="Lifetime such as `30d` or `12h`; none: until revoked."
    )


class TokenOut(BaseModel):
    id: int
    owner: str
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    role: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    state: str = Field(description="active, expired or revoked")


class NewTokenOut(TokenOut):
    token: str = Field(
        description="The token: send it as `Authorization: Bearer <token>`. "
        "Shown only in this response; only its hash is stored."
    )


class ServiceAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    role: str = "viewer"
    display_name: str = ""


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""


class TeamPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    description: str | None = None


class TeamOut(BaseModel):
    id: int
    name: str
    description: str
    created_at: datetime
    members: list[str]


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
