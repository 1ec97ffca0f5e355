"""Which logs an agent collects: the plan's ``logs.files`` and ``logs.journald`` sources whose
``hosts`` patterns match the agent's host name.

The server answers ``GET /api/v1/agent/log-sources?host=NAME`` from the stored plan (any
replica can); the agent asks at start and every minute, and keeps the last answer in its
state directory so that it goes on tailing while the server is away.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.globs import matches_any
from watchkeeper.logs.config import FileSource, JournaldSource
from watchkeeper.store.tables import StoredObject

log = logging.getLogger(__name__)

FILES_KIND = "logs.files"
JOURNALD_KIND = "logs.journald"


class LogSources(BaseModel):
    """The log sources of one host."""

    files: list[FileSource] = Field(default_factory=list, description="Files to tail.")
    journald: list[JournaldSource] = Field(
        default_factory=list, description="Journal sources (units) to read."
    )


def sources_for_host(db: Session, host: str) -> LogSources:
    """Return the stored sources whose ``hosts`` match ``host``, in name order. A stored
    source that no longer validates is left out and logged."""
    rows = db.scalars(
        select(StoredObject)
        .where(StoredObject.kind.in_((FILES_KIND, JOURNALD_KIND)))
        .order_by(StoredObject.kind, StoredObject.name)
    )
    out = LogSources()
    for row in rows:
        model = FileSource if row.kind == FILES_KIND else JournaldSource
        try:
            source = model.model_validate(row.spec)
        except ValidationError as exc:
            log.error("%s %s: stored configuration is invalid: %s", row.kind, row.name, exc)
            continue
        if matches_any(host, source.hosts):
            if isinstance(source, FileSource):
                out.files.append(source)
            else:
                out.journald.append(source)
    return out


def parse_sources(doc: Any) -> LogSources:
    """Return the sources of a server's answer, as an agent reads it: keys this agent does
    not know (a newer server) are ignored, and a source it cannot use is skipped with a
    warning instead of costing the others."""
    out = LogSources()
    if not isinstance(doc, dict):
        return out
    for key, model in (("files", FileSource), ("journald", JournaldSource)):
        items = doc.get(key)
        known = {f.alias or name for name, f in model.model_fields.items()}
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            try:
                source = model.model_validate({k: v for k, v in item.items() if k in known})
            except ValidationError as exc:
                log.warning("logs.%s %s: cannot use it: %s", key, item.get("name"), exc)
                continue
            getattr(out, key).append(source)
    return out
