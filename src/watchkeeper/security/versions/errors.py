"""The error every version ordering raises for a string it cannot read."""

from __future__ import annotations

from watchkeeper.exceptions import WatchkeeperError


class VersionError(WatchkeeperError, ValueError):
    """A version string that the ecosystem's ordering cannot read."""
