"""Stored inventories of installed software: the latest of every host and location, and one
inventory with its packages and the history of its location (viewers)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.security.inventory.wire import EcosystemName
from watchkeeper.security.inventory_store import get_inventory, list_latest

router = APIRouter(prefix="/api/v1/security", tags=["security"])
Viewer = Annotated[SessionInfo, require("viewer")]


class InventoryOut(BaseModel):
    id: int
    host: str
    ecosystem: str = Field(description="PyPI, npm, Debian, kernel or os-updates.")
    location: str = Field(description='Venv, interpreter or lock file; "dpkg", "apt", "running".')
    distro: str = Field(description='Debian release ("12"); empty for other ecosystems.')
    package_count: int = Field(description="Packages (os-updates: upgrades available).")
    first_seen_at: datetime = Field(description="When these packages were first collected.")
    collected_at: datetime = Field(description="When they were last confirmed.")
    received_at: datetime = Field(description="When the server last heard of this location.")
    changes: int = Field(description="Inventories of this location kept (one per change).")
    error: str = Field(description="Why the last collection failed; empty when it did not.")
    skipped: int = Field(description="Entries left out (unpinned requirements, no version).")


class InventoriesOut(BaseModel):
    inventories: list[InventoryOut]


class ChangeOut(BaseModel):
    id: int
    first_seen_at: datetime
    collected_at: datetime
    received_at: datetime
    package_count: int
    digest: str
    error: str


class InventoryDetailOut(InventoryOut):
    packages: list[list[str]] = Field(
        description="`[name, version]` (os-updates: `[name, candidate, installed, origin]`)."
    )
    history: list[ChangeOut] = Field(description="This location's inventories, newest first.")


@router.get(
    "/inventories",
    response_model=InventoriesOut,
    summary="The latest inventory of every host and location",
)
async def inventories(
    db: Db,
    _: Viewer,
    host: Annotated[str | None, Query(max_length=200, description="Only this host.")] = None,
    ecosystem: Annotated[EcosystemName | None, Query(description="Only this ecosystem.")] = None,
) -> Any:
    found = await run_in_threadpool(list_latest, db, host, ecosystem)
    return {"inventories": [vars(item) for item in found]}


@router.get(
    "/inventories/{inventory_id}",
    response_model=InventoryDetailOut,
    summary="One inventory: its packages and its location's history",
)
async def inventory(
    db: Db,
    _: Viewer,
    inventory_id: Annotated[int, Path(ge=1, description="The inventory's id.")],
) -> Any:
    detail = await run_in_threadpool(get_inventory, db, inventory_id)
    return {
        **vars(detail.summary),
        "packages": detail.packages,
        "history": [vars(change) for change in detail.history],
    }
