"""What a running server holds: settings, the store, and the plan file it follows.

The metric store, the log system and the plan loader are imported when first used: a CLI
command that only reads the store (``backup run``, ``backup list``) then starts without
importing every domain's plan models (≈1.5 s of CPU at start-up).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.auth.audit import Actor
from watchkeeper.auth.secrets import SecretBox
from watchkeeper.plan import sealing
from watchkeeper.runtime import malloc_tuning
from watchkeeper.settings import Settings
from watchkeeper.store.engine import make_engine, session_factory
from watchkeeper.store.tables import Meta, utcnow

if TYPE_CHECKING:
    from watchkeeper.logs.system import LogSystem
    from watchkeeper.metrics.store import MetricStore
    from watchkeeper.plan.apply import PlanDiff

log = logging.getLogger(__name__)
PLAN_ERROR_KEY = "plan_error"


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, settings: Settings, env: Mapping[str, str] | None = None) -> AppContext:
        engine = make_engine(settings.database_url)
        ctx = cls(settings, engine, session_factory(engine), dict(env or {}))
        sealing.remember(ctx.secret_box)  # plan secrets are sealed with it in the store
        return ctx

    @cached_property
    def metrics(self) -> MetricStore:
        """The metric store: ingest writes through it, queries read through it."""
        from watchkeeper.metrics.store import MetricStore

        return MetricStore(self.engine)

    @cached_property
    def logs(self) -> LogSystem:
        """The log system: ingest queue, writer, store (under ``$WATCHKEEPER_HOME/logs``)."""
        from watchkeeper.logs.system import LogSystem

        return LogSystem(self.settings.home / "logs", self.sessions)

    def close(self) -> None:
        """Release what this context opened (the log store's writer and files)."""
        if "logs" in self.__dict__:
            self.logs.close()
        self.engine.dispose()

    @cached_property
    def secret_box(self) -> SecretBox:
        """The secrets service, keyed from the settings' secret key (and previous keys)."""
        return SecretBox(self.settings.secret_key(), self.settings.secret_key_previous)

    def apply_plan_file(self, actor: str | Actor = "plan") -> PlanDiff | None:
        """Apply the configured plan file; return the diff (None when no plan is set).

        ``actor`` is recorded in the audit trail: "plan" at start, "SIGHUP", or a user.

        Raise PlanInvalid when the file has problems; the store keeps the last good plan
        and the problems are recorded for the UI.
        """
        from watchkeeper.plan.apply import apply_plan
        from watchkeeper.plan.loader import PlanInvalid, load_plan_file

        path = self.settings.plan_path
        if path is None:
            return None
        try:
            loaded = load_plan_file(path, env=self.env)
        except PlanInvalid as exc:
            with self.sessions() as db:
                row = db.get(Meta, PLAN_ERROR_KEY)
                if row:
                    row.value, row.updated_at = str(exc), utcnow()
                else:
                    db.add(Meta(key=PLAN_ERROR_KEY, value=str(exc)))
                db.commit()
            raise
        with self.sessions() as db:
            changes = apply_plan(db, loaded, actor=actor)
            db.execute(delete(Meta).where(Meta.key == PLAN_ERROR_KEY))
            db.commit()
        del loaded
        malloc_tuning.release_free_memory()  # what loading and applying it left free
        log.info(
            "plan applied: %d created, %d updated, %d deleted, %d unchanged",
            changes.count("create"),
            changes.count("update") + changes.count("adopt"),
            changes.count("delete"),
            changes.unchanged,
        )
        return changes

    def plan_error(self) -> str | None:
        with self.sessions() as db:
            row = db.get(Meta, PLAN_ERROR_KEY)
            return row.value if row else None
