"""Training records over the API: the matrix of people × required trainings with each
standing (current, expiring, expired, missing), the sessions held, a person's onboarding
checklist. Viewers read; operators record and delete sessions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.store.tables import utcnow
from watchkeeper.tasks import training, training_status
from watchkeeper.tasks.training import NewSession, SessionView
from watchkeeper.tasks.training_status import Standing

router = APIRouter(prefix="/api/v1", tags=["tasks"])
Viewer = Annotated[SessionInfo, require("viewer")]
Operator = Annotated[SessionInfo, require("operator")]
SessionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A training session's id.")]
PersonName = Annotated[str, Path(min_length=1, max_length=150)]


class TrainingOut(BaseModel):
    name: str
    title: str
    required_for: list[str]
    valid_for_days: int | None = Field(description="How long a session counts; null: for good.")
    material: str


class StandingOut(BaseModel):
    state: str = Field(description="current, expiring, expired or missing.")
    attended: date | None
    expires: date | None


class PersonOut(BaseModel):
    name: str
    role: str = Field(description="Empty for an on-call member without an account.")
    teams: list[str]
    schedules: list[str]
    standings: dict[str, StandingOut | None] = Field(
        description="Training name -> standing; null where the training does not apply."
    )


class MatrixOut(BaseModel):
    trainings: list[TrainingOut]
    people: list[PersonOut]
    expired: int
    missing: int
    expiring: int


class SessionOut(BaseModel):
    id: int
    course: str
    title: str
    held_on: date
    trainer: str
    material_url: str
    notes: str
    attendees: list[str]
    recorded_by: str
    recorded_at: datetime


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    course: str = Field(min_length=1, max_length=128, description="The training's name.")
    held_on: date
    attendees: list[str] = Field(min_length=1, max_length=training.MAX_ATTENDEES)
    title: str = Field("", max_length=200, description="Default: the training's title.")
    trainer: str = Field("", max_length=200)
    material_url: str = Field("", max_length=2000)
    notes: str = Field("", max_length=20_000)


class StepOut(BaseModel):
    text: str
    done: bool
    link: str
    detail: str


class OnboardingOut(BaseModel):
    person: str
    role: str
    teams: list[str]
    schedules: list[str]
    left: int
    steps: list[StepOut]


def _standing(cell: Standing | None) -> StandingOut | None:
    if cell is None:
        return None
    return StandingOut(state=cell.state, attended=cell.attended, expires=cell.expires)


def session_out(view: SessionView) -> SessionOut:
    return SessionOut(
        id=view.id,
        course=view.course,
        title=view.title,
        held_on=view.held_on,
        trainer=view.trainer,
        material_url=view.material_url,
        notes=view.notes,
        attendees=list(view.attendees),
        recorded_by=view.recorded_by,
        recorded_at=view.recorded_at,
    )


@router.get("/training", response_model=MatrixOut, summary="Required trainings by person")
def get_matrix(db: Db, _: Viewer) -> MatrixOut:
    found = training_status.matrix(db, utcnow())
    return MatrixOut(
        trainings=[
            TrainingOut(
                name=t.name,
                title=t.title,
                required_for=t.required_for,
                valid_for_days=t.valid_for.days if t.valid_for is not None else None,
                material=t.material,
            )
            for t in found.trainings
        ],
        people=[
            PersonOut(
                name=p.name,
                role=p.role,
                teams=sorted(p.teams),
                schedules=sorted(p.schedules),
                standings={k: _standing(v) for k, v in found.cells[p.name].items()},
            )
            for p in found.people
        ],
        expired=found.count("expired"),
        missing=found.count("missing"),
        expiring=found.count("expiring"),
    )


@router.get("/training/sessions", response_model=list[SessionOut], summary="Training sessions held")
def get_sessions(
    db: Db,
    _: Viewer,
    course: Annotated[str, Query(max_length=128)] = "",
    person: Annotated[str, Query(max_length=150)] = "",
) -> list[SessionOut]:
    return [session_out(s) for s in training.list_sessions(db, course, person, limit=1000)]


@router.post(
    "/training/sessions",
    response_model=SessionOut,
    status_code=201,
    summary="Record a training session and who attended",
)
def post_session(body: SessionIn, request: Request, db: Db, info: Operator) -> SessionOut:
    new = NewSession(
        course=body.course,
        held_on=body.held_on,
        attendees=body.attendees,
        title=body.title,
        trainer=body.trainer,
        material_url=body.material_url,
        notes=body.notes,
    )
    view = training.record_session(db, request_actor(request, info), new)
    db.commit()
    return session_out(view)


@router.get(
    "/training/sessions/{session_id}", response_model=SessionOut, summary="A training session"
)
def get_one(session_id: SessionId, db: Db, _: Viewer) -> SessionOut:
    return session_out(training.get_session(db, session_id))


@router.delete(
    "/training/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a training session recorded by mistake",
)
def delete_one(session_id: SessionId, request: Request, db: Db, info: Operator) -> Response:
    training.delete_session(db, request_actor(request, info), session_id)
    db.commit()
    return Response(status_code=204)


@router.get(
    "/training/onboarding/{person}",
    response_model=OnboardingOut,
    summary="A person's onboarding checklist (from their teams, role and schedules)",
)
def get_onboarding(person: PersonName, db: Db, _: Viewer) -> OnboardingOut:
    found = training_status.onboarding(db, person, utcnow())
    return OnboardingOut(
        person=found.person.name,
        role=found.person.role,
        teams=sorted(found.person.teams),
        schedules=sorted(found.person.schedules),
        left=found.left,
        steps=[
            StepOut(text=s.text, done=s.done, link=s.link, detail=s.detail) for s in found.steps
        ],
    )
