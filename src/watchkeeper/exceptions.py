"""The one root of Watchkeeper's exceptions.

Third-party exceptions are translated at the boundary (``raise PlanError(...) from exc``) so
that callers only ever need to catch :class:`WatchkeeperError` subclasses.
"""

from __future__ import annotations


class WatchkeeperError(Exception):
    """Root of every error Watchkeeper raises on purpose."""


class ConfigError(WatchkeeperError):
    """A setting from the environment is missing or malformed."""


class StoreError(WatchkeeperError):
    """The store cannot be reached or is not at the expected schema revision."""


class NotFoundError(WatchkeeperError):
    """The requested object does not exist."""


class ConflictError(WatchkeeperError):
    """The request conflicts with the current state (e.g. editing an object the plan manages)."""


class ValidationFailed(WatchkeeperError):
    """Input failed validation; ``errors`` lists ``(location, message)`` pairs."""

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []
