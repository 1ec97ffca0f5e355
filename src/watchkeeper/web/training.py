"""Training pages: the matrix of people × required trainings (expired and missing in red,
expiring in amber), the sessions held with a form to record one, and one person's
onboarding checklist with the sessions they attended."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as actor
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.store.tables import utcnow
from watchkeeper.tasks import training, training_status
from watchkeeper.web.alerts import safe_url
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageOperator = Annotated[SessionInfo, require("operator", page=True)]
SessionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
NOTICES = {"recorded": "Session recorded.", "deleted": "Session deleted."}


def _page(
    request: Request,
    db: Db,
    user: SessionInfo,
    *,
    problems: list[tuple[str, str]] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    now = utcnow()
    found = training_status.matrix(db, now)
    return render(
        request,
        "training.html",
        status=status,
        matrix=found,
        sessions=training.list_sessions(db, limit=50),
        materials={t.name: safe_url(t.material) for t in found.trainings if t.material},
        can_edit=role_allows(user.role, "operator"),
        problems=problems or [],
        form=form or {},
        today=now.date().isoformat(),
        notice=NOTICES.get(request.query_params.get("done", "")),
        active="training",
        page_title="Training",
    )


@router.get("/training")
def training_page(request: Request, db: Db, user: PageUser) -> Response:
    return _page(request, db, user)


@router.post("/training/sessions")
async def record_form(request: Request, db: Db, user: PageOperator) -> Response:
    form = await request.form(max_fields=200)
    values = {k: str(form.get(k, "")) for k in ("course", "held_on", "title", "trainer")}
    values["material_url"] = str(form.get("material_url", ""))
    values["attendees"] = str(form.get("attendees", ""))
    try:
        held = date.fromisoformat(values["held_on"])
    except ValueError:
        return _page(
            request,
            db,
            user,
            problems=[("held_on", "a day such as 2026-03-01")],
            form=values,
            status=422,
        )
    people = [p for p in values["attendees"].replace(",", " ").split() if p]
    new = training.NewSession(
        course=values["course"].strip(),
        held_on=held,
        attendees=people,
        title=values["title"],
        trainer=values["trainer"],
        material_url=values["material_url"],
    )
    try:
        training.record_session(db, actor(request, user), new)
    except ValidationFailed as exc:
        db.rollback()
        return _page(request, db, user, problems=exc.errors, form=values, status=422)
    db.commit()
    return RedirectResponse("/training?done=recorded#sessions", status_code=303)


@router.post("/training/sessions/{session_id}/delete")
def delete_form(request: Request, session_id: SessionId, db: Db, user: PageOperator) -> Response:
    training.delete_session(db, actor(request, user), session_id)
    db.commit()
    return RedirectResponse("/training?done=deleted#sessions", status_code=303)


@router.get("/training/people/{name}")
def person_page(
    request: Request, name: Annotated[str, Path(max_length=150)], db: Db, _: PageUser
) -> Response:
    now = utcnow()
    found = training_status.onboarding(db, name, now)
    return render(
        request,
        "training_person.html",
        onboarding=found,
        sessions=training.list_sessions(db, person=name),
        active="training",
        page_title=f"Onboarding · {name}",
    )
