"""The plan's ``notifications`` section: channels, delivery retries and the fallback."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Field, model_validator

from watchkeeper.notify.interface import ChannelConfig
from watchkeeper.notify.interface import registry as channel_registry
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Duration


def _union_of(models: list[type[ChannelConfig]]) -> Any:
    if not models:
        return ChannelConfig
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Discriminator("type")]  # noqa: UP007


if TYPE_CHECKING:
    ChannelSpec = ChannelConfig
else:
    ChannelSpec = _union_of([p.config_model for p in channel_registry.all().values()])


class RetryPolicy(PlanModel):
    """How delivery retries transient failures (timeouts, 5xx, 429)."""

    initial_backoff: Duration = Field(
        timedelta(seconds=1), description="Wait before the first retry; doubles each time."
    )
    max_backoff: Duration = Field(timedelta(minutes=5), description="Longest wait between tries.")
    give_up_after: Duration = Field(
        timedelta(hours=24), description="Mark a notification failed after trying this long."
    )
    fallback_after: int = Field(
        3,
        ge=1,
        le=100,
        description="Failed attempts after which, when every channel of the route has "
        "failed, the fallback channel is used.",
    )

    @model_validator(mode="after")
    def _order(self) -> RetryPolicy:
        if self.initial_backoff <= timedelta(0):
            raise ValueError("`initial_backoff` must be positive")
        if self.max_backoff < self.initial_backoff:
            raise ValueError("`max_backoff` must not be shorter than `initial_backoff`")
        return self


class NotificationsSection(PlanModel):
    """Notification channels and delivery settings."""

    channels: list[ChannelSpec] = Field(default_factory=list, description="Notification channels.")
    fallback: str | None = Field(
        None,
        description="Channel used when every channel of a route fails (the failure is "
        "also raised as an alert).",
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Retries.")
    keep: Duration = Field(
        timedelta(days=30), description="Keep delivered and failed notifications this long."
    )
