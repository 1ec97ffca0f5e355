"""Log anomalies: new log templates and template rates far outside their usual range for
the hour of day (docs/log-anomalies.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.logs.anomalies.views import SPARK_HOURS, anomalies
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1", tags=["logs"])
Viewer = Annotated[SessionInfo, require("viewer")]


class RateOut(BaseModel):
    hour: int = Field(description="The hour judged (Unix time // 3600).")
    direction: Literal["high", "low"]
    count: int = Field(description="Lines of the template in that hour.")
    median: float = Field(description="Median count at that hour on the earlier days.")
    expected_low: float
    expected_high: float


class AnomalyOut(BaseModel):
    id: int
    kind: Literal["new", "rate"] = Field(
        description="new: a template first seen after the learning period; rate: its last "
        "judged hour was outside its usual range."
    )
    stream: str = Field(description="The stream (selector of its labels but `level`).")
    template: str = Field(description="The template; `<num>`, `<ip>`, `<*>`... are variables.")
    first_seen: datetime
    last_seen: datetime
    count: int = Field(description="Lines of the template mined so far.")
    examples: list[str] = Field(description="The first lines of the template (up to 3).")
    hourly_counts: list[int] = Field(
        description=f"Lines per hour over the last {SPARK_HOURS} hours, oldest first."
    )
    rate: RateOut | None
    search: str = Field(description="A log query finding the template's lines.")


class AnomaliesOut(BaseModel):
    anomalies: list[AnomalyOut]


@router.get("/logs/anomalies", response_model=AnomaliesOut)
def list_anomalies(db: Db, _: Viewer) -> dict[str, Any]:
    """New templates (newest first), then rate anomalies (largest departure first)."""
    return {"anomalies": [a.as_json() for a in anomalies(db, utcnow())]}
