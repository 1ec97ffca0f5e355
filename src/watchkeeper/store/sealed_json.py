"""The ``objects.spec`` column type: JSON whose sealed plan secrets are opened when read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from watchkeeper.plan.sealing import open_all


class SealedJSON(TypeDecorator[Any]):
    """JSON whose sealed strings are opened when read (they are sealed before writing by
    :func:`watchkeeper.plan.sealing.seal`, which knows which values are secrets)."""

    impl = JSON
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return open_all(value) if value is not None else None
