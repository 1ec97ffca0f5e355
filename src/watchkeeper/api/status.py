"""Plan status and stored objects."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from watchkeeper import __version__
from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.api.deps import request_actor as actor
from watchkeeper.api.schemas import ApplyOut, ObjectOut, SectionOut, StatusOut
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError
from watchkeeper.plan import catalog
from watchkeeper.plan.apply import last_apply
from watchkeeper.plan.models import SECTIONS

router = APIRouter(prefix="/api/v1", tags=["plan"])
Viewer = Annotated[SessionInfo, require("viewer")]
Operator = Annotated[SessionInfo, require("operator")]
Admin = Annotated[SessionInfo, require("admin")]


def section_summaries(counts: dict[str, tuple[int, int]]) -> list[SectionOut]:
    """Return one summary per plan section, with object counts per kind."""
    out = []
    kinds = catalog.collection_kinds()
    for section in SECTIONS:
        mine = [k for k in kinds if k == section or k.startswith(section + ".")]
        out.append(
            SectionOut(
                section=section,
                kinds={k: counts.get(k, (0, 0))[0] for k in mine},
                total=sum(counts.get(k, (0, 0))[0] for k in mine),
                managed=sum(counts.get(k, (0, 0))[1] for k in mine),
            )
        )
    return out


@router.get("/status", response_model=StatusOut, summary="The plan and what the store holds")
def status(request: Request, db: Db, _: Viewer) -> StatusOut:
    ctx = get_ctx(request)
    last = last_apply(db)
    return StatusOut(
        version=__version__,
        plan_file=str(ctx.settings.plan_path) if ctx.settings.plan_path else None,
        plan_name=last.plan_name if last else "",
        last_applied_at=last.applied_at if last else None,
        plan_error=ctx.plan_error(),
        sections=section_summaries(catalog.count_by_kind(db)),
    )


@router.post("/plan/apply", response_model=ApplyOut, summary="Re-read and apply the plan file")
def reapply(request: Request, user: Admin) -> ApplyOut:
    changes = get_ctx(request).apply_plan_file(actor=actor(request, user))
    if changes is None:
        raise NotFoundError("this server was started without a plan file")
    return ApplyOut(
        changes=[str(c) for c in changes.changes],
        created=changes.count("create"),
        updated=changes.count("update") + changes.count("adopt"),
        deleted=changes.count("delete"),
        unchanged=changes.unchanged,
    )


def _kind(kind: str) -> str:
    if kind not in catalog.collection_kinds():
        raise NotFoundError(
            f'no object kind "{kind}" (known: {", ".join(catalog.collection_kinds())})'
        )
    return kind


@router.get("/objects/{kind}", response_model=list[ObjectOut], summary="List objects of a kind")
def list_objects(kind: str, db: Db, _: Viewer) -> list[ObjectOut]:
    return [ObjectOut(**asdict(catalog.shown(o))) for o in catalog.list_objects(db, _kind(kind))]


@router.get("/objects/{kind}/{name}", response_model=ObjectOut, summary="Read one object")
def get_object(kind: str, name: str, db: Db, _: Viewer) -> ObjectOut:
    return ObjectOut(**asdict(catalog.shown(catalog.get_object(db, _kind(kind), name))))


@router.post(
    "/objects/{kind}",
    response_model=ObjectOut,
    status_code=201,
    summary="Create an object (not managed by the plan)",
)
def create_object(
    request: Request, kind: str, db: Db, user: Operator, spec: Annotated[dict[str, Any], Body()]
) -> ObjectOut:
    view = catalog.create_object(db, _kind(kind), spec, actor(request, user))
    db.commit()
    return ObjectOut(**asdict(catalog.shown(view)))


@router.put(
    "/objects/{kind}/{name}",
    response_model=ObjectOut,
    summary="Replace an object made in the UI or API (plan-managed ones are read-only)",
)
def update_object(
    request: Request,
    kind: str,
    name: str,
    db: Db,
    user: Operator,
    spec: Annotated[dict[str, Any], Body()],
) -> ObjectOut:
    view = catalog.update_object(db, _kind(kind), name, spec, actor(request, user))
    db.commit()
    return ObjectOut(**asdict(catalog.shown(view)))


@router.delete(
    "/objects/{kind}/{name}", status_code=204, summary="Delete an object made in the UI or API"
)
def delete_object(request: Request, kind: str, name: str, db: Db, user: Operator) -> None:
    catalog.delete_object(db, _kind(kind), name, actor(request, user))
    db.commit()
