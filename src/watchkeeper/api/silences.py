"""Silences, shaped like Alertmanager's API (camelCase), with matchers written as text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from watchkeeper.alerts import silences
from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.plan.types import parse_duration

router = APIRouter(prefix="/api/v1", tags=["silences"])
Viewer = Annotated[SessionInfo, require("viewer")]
Responder = Annotated[SessionInfo, require("responder")]


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class MatcherObject(_Camel):
    """A matcher as Alertmanager's API writes it."""

    model_config = ConfigDict(extra="forbid")
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def text(self) -> str:
        ops = {(True, False): "=", (True, True): "=~", (False, False): "!=", (False, True): "!~"}
        op = ops[(self.is_equal, self.is_regex)]
        return f"{self.name}{op}{json.dumps(self.value)}"


class SilenceIn(_Camel):
    model_config = ConfigDict(extra="forbid")
    matchers: list[str | MatcherObject] = Field(
        description='Label matchers as text (`alertname="DiskFull"`, `instance=~"db-.*"`) '
        "or as Alertmanager matcher objects; at least one must need a non-empty value.",
        max_length=silences.MAX_MATCHERS,
    )
    starts_at: datetime | None = Field(None, description="Default: now. UTC unless an offset.")
    ends_at: datetime | None = Field(None, description="Give this or `duration`.")
    duration: str | None = Field(None, description="Length from the start: `30m`, `2h`, `1d`.")
    comment: str = Field(description="Why the alerts are silenced.")
    created_by: str | None = Field(None, description="Author; default: the caller.")


class SilenceStatus(BaseModel):
    state: silences.State


class SilenceOut(_Camel):
    id: str
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime
    status: SilenceStatus


def silence_out(view: silences.SilenceView) -> SilenceOut:
    return SilenceOut(
        id=view.id,
        matchers=view.matchers,
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        created_by=view.created_by,
        comment=view.comment,
        created_at=view.created_at,
        updated_at=view.updated_at,
        status=SilenceStatus(state=view.state),
    )


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _end(body: SilenceIn, start: datetime) -> tuple[datetime | None, list[tuple[str, str]]]:
    """The end the body asks for, and the problems with how it says so."""
    if body.duration is None:
        return _utc(body.ends_at), []
    if body.ends_at is not None:
        return None, [("duration", "give `endsAt` or `duration`, not both")]
    try:
        return start + parse_duration(body.duration), []
    except ValueError as exc:
        return None, [("duration", str(exc))]


@router.get("/silences", response_model=list[SilenceOut], summary="Silences, by state")
def list_silences(
    db: Db,
    _: Viewer,
    state: Annotated[
        Literal["active", "pending", "expired", "all"],
        Query(description="Which silences; expired ones are the 200 newest."),
    ] = "all",
) -> list[SilenceOut]:
    chosen = None if state == "all" else state
    return [silence_out(s) for s in silences.list_silences(db, chosen)]


@router.post(
    "/silences",
    response_model=SilenceOut,
    status_code=201,
    summary="Create a silence (problems are named by field: matchers[i], endsAt, comment)",
)
def create_silence(request: Request, body: SilenceIn, db: Db, info: Responder) -> SilenceOut:
    now = datetime.now(UTC)
    start = _utc(body.starts_at) or now
    texts = [m if isinstance(m, str) else m.text() for m in body.matchers]
    end, problems = _end(body, start)
    try:
        view = silences.create_silence(
            db,
            _actor(request, info),
            texts,
            starts_at=start,
            ends_at=end,
            comment=body.comment,
            created_by=info.username if body.created_by is None else body.created_by,
            now=now,
        )
    except ValidationFailed as exc:
        # The domain says "no end" when the duration was the problem: name the duration.
        more = [e for e in exc.errors if not (problems and e[0] == "endsAt")]
        raise ValidationFailed(str(exc), problems + more) from None
    db.commit()
    return silence_out(view)


@router.get("/silences/{silence_id}", response_model=SilenceOut, summary="One silence")
def get_silence(silence_id: str, db: Db, _: Viewer) -> SilenceOut:
    return silence_out(silences.get_silence(db, silence_id))


@router.delete(
    "/silences/{silence_id}",
    response_model=SilenceOut,
    summary="Expire a silence now (409 if it has expired already)",
)
def expire_silence(request: Request, silence_id: str, db: Db, info: Responder) -> SilenceOut:
    view = silences.expire_silence(db, _actor(request, info), silence_id)
    db.commit()
    return silence_out(view)
