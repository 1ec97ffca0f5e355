"""The plan's databases section at load time: database names must not collide with the
fixed routes under /api/v1/databases and /databases."""

from __future__ import annotations

import textwrap

import pytest

from tests.api.test_route_permissions import routes_of
from watchkeeper.dbmaint.config import RESERVED_DATABASE_NAMES
from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext

PLAN = """
databases:
  targets:
    - name: NAME
      type: sqlite
      path: /srv/app.db
"""


def _problems(name: str) -> list[str]:
    try:
        load_plan_text(textwrap.dedent(PLAN).replace("NAME", name), env={})
    except PlanInvalid as exc:
        return str(exc).splitlines()
    return []


@pytest.mark.parametrize("name", sorted(RESERVED_DATABASE_NAMES))
def test_database_names_that_are_routes_are_refused(name: str) -> None:
    (found,) = _problems(name)
    assert found.startswith("watchkeeper.yaml:4:13 databases.targets[0].name: "), found
    assert f'"{name}" is reserved: /api/v1/databases/{name} and /databases/{name}' in found


def test_near_names_are_fine() -> None:
    assert _problems("runs-db") == []
    assert _problems("Runs") == []  # paths are case-sensitive: no collision


def test_every_fixed_route_under_databases_is_a_reserved_name(ctx: AppContext) -> None:
    fixed = set()
    for _, path, _ in routes_of(create_app(ctx)):
        for base in ("/api/v1/databases/", "/databases/"):
            if path.startswith(base):
                first = path[len(base) :].split("/")[0]
                if first and not first.startswith("{"):
                    fixed.add(first)
    assert {"runs", "recommendations"} <= fixed
    assert fixed <= RESERVED_DATABASE_NAMES, (
        f"add {sorted(fixed - RESERVED_DATABASE_NAMES)} to RESERVED_DATABASE_NAMES"
    )
