"""Postmortems and action items: draft from the incident, edit, publish, export as
Markdown or PDF; action items with owner, due day and done, listed across incidents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.incidents import postmortem

router = APIRouter(prefix="/api/v1", tags=["postmortems"])
Viewer = Annotated[SessionInfo, require("viewer")]
Responder = Annotated[SessionInfo, require("responder")]
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The incident's id.")]
ItemId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The action item's id.")]


class PostmortemOut(BaseModel):
    incident_id: int
    incident_title: str
    status: postmortem.Status
    body: str = Field(description="The document, in Markdown.")
    created_at: datetime
    updated_at: datetime
    updated_by: str
    markdown_url: str
    pdf_url: str


class PostmortemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(
        description=f"The whole document, in Markdown (at most {postmortem.MAX_BODY_BYTES:,} "
        "bytes of UTF-8)."
    )
    status: postmortem.Status | None = Field(
        None, description="draft or published; leave out to keep the current one."
    )


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(description="What is to be done.")
    owner: str = Field("", description="Who does it.")
    due: date | None = Field(None, description="Day it is due (YYYY-MM-DD).")


class ItemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    owner: str | None = None
    due: date | None = Field(None, description="Day it is due; null clears it.")
    done: bool | None = Field(None, description="true marks it done, false open again.")


class ItemOut(BaseModel):
    id: int
    incident_id: int
    incident_title: str
    title: str
    owner: str
    due: date | None
    done: bool
    done_at: datetime | None
    overdue: bool
    created_at: datetime
    created_by: str


def _out(view: postmortem.PostmortemView) -> PostmortemOut:
    base = f"/api/v1/incidents/{view.incident_id}/postmortem"
    return PostmortemOut(
        incident_id=view.incident_id,
        incident_title=view.incident_title,
        status=view.status,
        body=view.body,
        created_at=view.created_at,
        updated_at=view.updated_at,
        updated_by=view.updated_by,
        markdown_url=f"{base}.md",
        pdf_url=f"{base}.pdf",
    )


def _item_out(view: postmortem.ItemView) -> ItemOut:
    return ItemOut(
        id=view.id,
        incident_id=view.incident_id,
        incident_title=view.incident_title,
        title=view.title,
        owner=view.owner,
        due=view.due,
        done=view.done_at is not None,
        done_at=view.done_at,
        overdue=view.overdue,
        created_at=view.created_at,
        created_by=view.created_by,
    )


def _attachment(incident_id: int, suffix: str) -> dict[str, str]:
    name = f"incident-{incident_id}-postmortem.{suffix}"
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}


@router.post(
    "/incidents/{incident_id}/postmortem",
    response_model=PostmortemOut,
    status_code=201,
    summary="Draft the incident's postmortem from the template (409 if it has one)",
)
def draft_postmortem(
    incident_id: IncidentId, request: Request, db: Db, info: Responder
) -> PostmortemOut:
    view = postmortem.draft(db, incident_id, request_actor(request, info))
    db.commit()
    return _out(view)


@router.get(
    "/incidents/{incident_id}/postmortem",
    response_model=PostmortemOut,
    summary="The incident's postmortem (404 until drafted)",
)
def get_postmortem(incident_id: IncidentId, db: Db, _: Viewer) -> PostmortemOut:
    return _out(postmortem.get(db, incident_id))


@router.put(
    "/incidents/{incident_id}/postmortem",
    response_model=PostmortemOut,
    summary="Save the postmortem's text and status (draft or published)",
)
def save_postmortem(
    incident_id: IncidentId, body: PostmortemIn, request: Request, db: Db, info: Responder
) -> PostmortemOut:
    view = postmortem.save(
        db, incident_id, body.body, request_actor(request, info), status=body.status
    )
    db.commit()
    return _out(view)


@router.get(
    "/incidents/{incident_id}/postmortem.md",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}},
    summary="The postmortem as a Markdown file (action items as they stand now)",
)
def postmortem_markdown(incident_id: IncidentId, db: Db, _: Viewer) -> Response:
    text = postmortem.export_markdown(db, incident_id)
    return Response(
        text, media_type="text/markdown; charset=utf-8", headers=_attachment(incident_id, "md")
    )


@router.get(
    "/incidents/{incident_id}/postmortem.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="The postmortem as a PDF file",
)
def postmortem_pdf(incident_id: IncidentId, db: Db, _: Viewer) -> Response:
    data = postmortem.export_pdf(db, incident_id)  # a sync route: runs off the event loop
    return Response(data, media_type="application/pdf", headers=_attachment(incident_id, "pdf"))


@router.get(
    "/incidents/{incident_id}/action-items",
    response_model=list[ItemOut],
    summary="The incident's action items",
)
def incident_items(incident_id: IncidentId, db: Db, _: Viewer) -> list[ItemOut]:
    return [_item_out(v) for v in postmortem.items_for(db, incident_id)]


@router.post(
    "/incidents/{incident_id}/action-items",
    response_model=ItemOut,
    status_code=201,
    summary="Add an action item to the incident",
)
def add_item(
    incident_id: IncidentId, body: ItemIn, request: Request, db: Db, info: Responder
) -> ItemOut:
    view = postmortem.add_item(
        db, incident_id, request_actor(request, info), body.title, body.owner, body.due
    )
    db.commit()
    return _item_out(view)


@router.patch(
    "/incidents/{incident_id}/action-items/{item_id}",
    response_model=ItemOut,
    summary="Change an action item: title, owner, due day, done",
)
def update_item(
    incident_id: IncidentId,
    item_id: ItemId,
    body: ItemPatch,
    request: Request,
    db: Db,
    info: Responder,
) -> ItemOut:
    given = body.model_fields_set
    problems: list[tuple[str, str]] = [
        (f, "must not be null")
        for f in ("title", "owner", "done")
        if f in given and getattr(body, f) is None
    ]
    if problems:
        raise ValidationFailed("the action item is not valid", problems)
    view = postmortem.update_item(
        db,
        incident_id,
        item_id,
        request_actor(request, info),
        title=body.title if body.title is not None else postmortem.UNSET,
        owner=body.owner if body.owner is not None else postmortem.UNSET,
        due=body.due if "due" in given else postmortem.UNSET,
        done=body.done if body.done is not None else postmortem.UNSET,
    )
    db.commit()
    return _item_out(view)


@router.get(
    "/action-items",
    response_model=list[ItemOut],
    summary="Action items across incidents: open ones (overdue first) by default",
)
def list_items(
    db: Db,
    _: Viewer,
    open_only: Annotated[
        bool,
        Query(alias="open", description="true: items not done yet, overdue first; false: all."),
    ] = True,
) -> list[ItemOut]:
    if open_only:
        return [_item_out(v) for v in postmortem.open_items(db)]
    return [_item_out(v) for v in postmortem.all_items(db)]
