"""The plan's ``errors`` section."""

from __future__ import annotations

from watchkeeper.plan.base import PlanModel


class ErrorsSection(PlanModel):
    """Error tracking over the Sentry protocol. No keys yet."""
