"""The access review over the API (admin): every enabled account and live API token with its
role, MFA and last use, stale ones marked; then the decisions (confirm or revoke each),
applied at once and audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.store.tables import utcnow
from watchkeeper.tasks.kinds_access import apply_decisions, review_entries

router = APIRouter(prefix="/api/v1", tags=["tasks"])
Admin = Annotated[SessionInfo, require("admin")]


class AccessEntryOut(BaseModel):
    key: str = Field(description="`user:<name>` or `token:<id>`: the key of a decision.")
    kind: str = Field(description="user, service (a service account) or token.")
    name: str
    owner: str
    role: str
    mfa: bool | None = Field(description="Whether a person has a second factor.")
    created_at: datetime
    last_used: datetime | None = Field(
        description="Last sign-in (a person), last use (a token, or a service account's "
        "most recently used token)."
    )
    expires_at: datetime | None
    stale: bool = Field(description="Not used within `stale_days`: suggested for revocation.")


class AccessReviewOut(BaseModel):
    stale_days: int
    items: list[AccessEntryOut]


class DecisionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decisions: dict[str, Literal["confirm", "revoke"]] = Field(
        min_length=1,
        max_length=10_000,
        description="`user:<name>` or `token:<id>` -> `confirm` or `revoke`.",
    )


class AppliedOut(BaseModel):
    applied: list[str] = Field(description="What was done, one sentence per revocation.")


@router.get(
    "/access-review",
    response_model=AccessReviewOut,
    summary="List every account and API token for an access review",
)
def list_review(
    db: Db, _: Admin, stale_days: Annotated[int, Query(ge=1, le=3650)] = 90
) -> AccessReviewOut:
    entries = review_entries(db, utcnow(), timedelta(days=stale_days))
    return AccessReviewOut(
        stale_days=stale_days,
        items=[
            AccessEntryOut(
                key=e.key,
                kind=e.kind,
                name=e.name,
                owner=e.owner,
                role=e.role,
                mfa=e.mfa,
                created_at=e.created_at,
                last_used=e.last_used,
                expires_at=e.expires_at,
                stale=e.stale,
            )
            for e in entries
        ],
    )


@router.post(
    "/access-review",
    response_model=AppliedOut,
    summary="Apply access review decisions",
    description="Each revoked token fails at once; each revoked account is disabled (its "
    "sessions end, its tokens stop working). The last enabled admin is kept.",
)
def apply_review(body: DecisionsIn, request: Request, db: Db, info: Admin) -> AppliedOut:
    applied = apply_decisions(db, body.decisions, request_actor(request, info), role=info.role)
    db.commit()
    return AppliedOut(applied=applied)
