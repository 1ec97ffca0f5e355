"""Fixtures shared by the dbmaint tests (keep additions small and additive: several test
modules use them). Databases are throw-away, with random names, always dropped."""

from tests.dbmaint.maint_fixtures import maint_my, maint_pg
from tests.dbmaint.pg_fixtures import pg_bloated, pg_scratch

__all__ = ["maint_my", "maint_pg", "pg_bloated", "pg_scratch"]
