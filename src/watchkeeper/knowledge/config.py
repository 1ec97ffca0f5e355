"""The plan's ``runbooks`` section."""

from __future__ import annotations

from watchkeeper.plan.base import PlanModel


class RunbooksSection(PlanModel):
    """Runbooks and the knowledge base. No keys yet."""
