"""The plan's ``capacity`` section."""

from __future__ import annotations

from watchkeeper.plan.base import PlanModel


class CapacitySection(PlanModel):
    """Capacity planning: limits and forecasts. No keys yet."""
