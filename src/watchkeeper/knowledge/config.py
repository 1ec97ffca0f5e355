"""The plan's ``runbooks`` section: where the repository's runbooks are, and how often a
runbook must be confirmed still correct."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Duration


class RunbooksSection(PlanModel):
    """Runbooks made in the UI/API or read from a folder next to the plan, and their reviews."""

    folder: str | None = Field(
        None,
        description="Folder of runbooks (`*.md`, subfolders included), relative to the plan "
        "file. Read again on every plan apply and reload; these runbooks are read-only in the "
        "UI and API (edit the files).",
    )
    review_period: Duration = Field(
        timedelta(days=180),
        description="How long a runbook stays trusted after its last review, unless its front "
        "matter gives its own `review_period`.",
    )
    alert_severity: Literal["critical", "warning", "info"] = Field(
        "info",
        description="Severity of `RunbookReviewDue`, raised for each runbook past its review "
        "period.",
    )
