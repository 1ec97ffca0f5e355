"""Response and request bodies of the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
