"""The two ways a query fails: it is not valid PromQL, or it is valid but cannot be evaluated."""

from __future__ import annotations

from watchkeeper.exceptions import WatchkeeperError


class PromQLError(WatchkeeperError):
    """A query that cannot run as written: a syntax or type error, or a limit it exceeds.

    ``position`` is the 0-based character offset of the problem in ``query`` (None for limits
    that concern the whole query); ``str()`` then reads like Prometheus's own messages,
    ``1:14: parse error: unexpected ...``. The HTTP API answers these with 400 ``bad_data``.
    """

    def __init__(self, message: str, position: int | None = None, query: str = "") -> None:
        self.message = message
        self.position = position
        self.query = query
        super().__init__(message)

    @property
    def line_column(self) -> tuple[int, int] | None:
        """Return the 1-based (line, column) of ``position``, or None without a position."""
        if self.position is None:
            return None
        before = self.query[: self.position]
        line = before.count("\n") + 1
        return line, self.position - before.rfind("\n")

    def __str__(self) -> str:
        where = self.line_column
        if where is None:
            return self.message
        return f"{where[0]}:{where[1]}: parse error: {self.message}"


class EvaluationError(WatchkeeperError):
    """A valid query that fails on the data it reads (for example two series that end up with
    the same label set) or loads too many samples; Prometheus answers these with 422
    ``execution``. Not a PromQLError: the query itself is fine."""
