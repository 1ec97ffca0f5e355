"""Diff, apply and export the plan against the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.plan import catalog
from watchkeeper.plan.apply import (
    Change,
    PlanDiff,
    apply_plan,
    diff_plan,
    export_plan,
    last_apply,
)
from watchkeeper.plan.loader import LoadedPlan, load_plan_file, load_plan_text
from watchkeeper.store.tables import PlanApply, StoredObject

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "watchkeeper.yaml"

PLAN = """\
name: prod
checks:
  - name: web
    type: http
    url: https://shop.example.com/
    interval: 30s
    expected_status: [200]
  - name: db
    type: tcp
    host: db.internal
    port: 5432
  - name: cache
    type: tcp
    host: cache.internal
    port: 6379
"""

DB_FIELDS = "    host: db.internal\n    port: 5432\n"  # the "db" check's own fields in PLAN
assert PLAN.count(DB_FIELDS) == 1

UI_CHECK = {"name": "ui-made", "type": "tcp", "host": "ui.internal", "port": 22}


def load(text: str, file: str = "watchkeeper.yaml") -> LoadedPlan:
    return load_plan_text(dedent(text), file=file, env={})


def apply(db: Session, text: str, actor: str = "plan") -> PlanDiff:
    result = apply_plan(db, load(text), actor=actor)
    db.commit()
    return result


def stored(db: Session) -> dict[tuple[str, str], StoredObject]:
    return {(o.kind, o.name): o for o in db.scalars(select(StoredObject))}


def actions(diff: PlanDiff) -> list[tuple[str, str, str]]:
    return [(c.action, c.kind, c.name) for c in diff.changes]


def applies(db: Session) -> list[PlanApply]:
    return list(db.scalars(select(PlanApply).order_by(PlanApply.id)))


# --- create, re-apply, update, delete -----------------------------------------------------


def test_apply_creates_managed_objects(db: Session) -> None:
    result = apply(db, PLAN)
    assert actions(result) == [
        ("create", "checks", "web"),
        ("create", "checks", "db"),
        ("create", "checks", "cache"),
    ]
    assert result.unchanged == 0
    objects = stored(db)
    assert set(objects) == {("checks", "web"), ("checks", "db"), ("checks", "cache")}
    assert all(o.managed for o in objects.values())
    assert all(o.updated_by == "plan" for o in objects.values())
    db_spec = objects[("checks", "db")].spec
    assert db_spec["host"] == "db.internal"
    assert db_spec["port"] == 5432
    assert db_spec["interval"] == "1m"  # defaults are stored, durations as text
    assert objects[("checks", "web")].spec["interval"] == "30s"


def test_diff_does_not_change_the_store(db: Session) -> None:
    diff = diff_plan(db, load(PLAN))
    assert diff.count("create") == 3
    db.commit()
    assert stored(db) == {}
    assert applies(db) == []


def test_diff_of_empty_plan_against_empty_store_is_empty(db: Session) -> None:
    diff = diff_plan(db, load(""))
    assert diff.empty
    assert diff.unchanged == 0


def test_applying_the_same_plan_again_changes_nothing(db: Session) -> None:
    apply(db, PLAN)
    before = {k: (o.id, o.spec, o.updated_at) for k, o in stored(db).items()}

    diff = diff_plan(db, load(PLAN))
    assert diff.empty
    assert diff.changes == []
    assert diff.unchanged == 3

    again = apply(db, PLAN, actor="someone-else")
    assert again.empty
    assert again.unchanged == 3
    db.expire_all()
    after = {k: (o.id, o.spec, o.updated_at) for k, o in stored(db).items()}
    assert after == before
    assert {o.updated_by for o in stored(db).values()} == {"plan"}


def test_reformatting_the_plan_file_changes_nothing(db: Session) -> None:
    apply(db, PLAN)
    reformatted = dedent(
        """\
        name: prod
        checks:
          - {name: web, type: http, url: "https://shop.example.com/", interval: 0.5m,
             expected_status: [200], timeout: 10s, method: GET}
          - {name: db, type: tcp, host: db.internal, port: "5432", interval: 60s}
          - {name: cache, type: tcp, host: cache.internal, port: 6379, retries: 0}
        """
    )
    diff = diff_plan(db, load(reformatted))
    assert diff.empty
    assert diff.unchanged == 3


@pytest.mark.parametrize(
    ("old", "new", "fields"),
    [
        ("    port: 5432\n", "    port: 5433\n", ("port",)),
        ("    host: db.internal\n", "    host: db2.internal\n", ("host",)),
        ("    port: 5432\n", "    port: 5432\n    interval: 5m\n", ("interval",)),
        (
            "    port: 5432\n",
            "    port: 5432\n    retries: 3\n    team: platform\n    tags: [db]\n",
            ("retries", "tags", "team"),
        ),
        (
            "    host: db.internal\n    port: 5432\n",
            "    host: db.internal\n    port: 6543\n    timeout: 2s\n",
            ("port", "timeout"),
        ),
    ],
    ids=["port", "host", "interval", "several", "two"],
)
def test_changing_a_field_is_an_update_naming_the_changed_fields(
    db: Session, old: str, new: str, fields: tuple[str, ...]
) -> None:
    apply(db, PLAN)
    changed = PLAN.replace(DB_FIELDS, DB_FIELDS.replace(old, new))
    assert changed != PLAN
    diff = diff_plan(db, load(changed))
    assert diff.changes == [Change("update", "checks", "db", fields)]
    assert diff.unchanged == 2

    apply(db, changed, actor="ci")
    db.expire_all()
    obj = stored(db)[("checks", "db")]
    assert obj.managed
    assert obj.updated_by == "ci"
    assert diff_plan(db, load(changed)).empty


def test_changing_check_type_names_every_differing_field(db: Session) -> None:
    apply(db, PLAN)
    changed = PLAN.replace(
        "  - name: cache\n    type: tcp\n    host: cache.internal\n    port: 6379\n",
        "  - name: cache\n    type: http\n    url: http://cache.internal/\n",
    )
    (change,) = diff_plan(db, load(changed)).changes
    assert change.action == "update"
    assert change.name == "cache"
    # body_contains is null in the new spec and absent from the old: not a change
    assert change.fields == (
        "expected_status",
        "follow_redirects",
        "headers",
        "host",
        "json_path",
        "method",
        "port",
        "tls_verify",
        "type",
        "url",
    )


def test_removing_an_object_from_the_plan_deletes_it(db: Session) -> None:
    apply(db, PLAN)
    without_cache = PLAN.split("  - name: cache")[0]
    diff = diff_plan(db, load(without_cache))
    assert diff.changes == [Change("delete", "checks", "cache")]
    assert diff.unchanged == 2

    apply(db, without_cache)
    assert set(stored(db)) == {("checks", "web"), ("checks", "db")}


def test_empty_plan_deletes_every_managed_object(db: Session) -> None:
    apply(db, PLAN)
    result = apply(db, "")
    assert sorted(actions(result)) == [
        ("delete", "checks", "cache"),
        ("delete", "checks", "db"),
        ("delete", "checks", "web"),
    ]
    assert stored(db) == {}


def test_renaming_an_object_is_a_delete_and_a_create(db: Session) -> None:
    apply(db, PLAN)
    result = apply(db, PLAN.replace("name: cache", "name: redis"))
    assert sorted(actions(result)) == [
        ("create", "checks", "redis"),
        ("delete", "checks", "cache"),
    ]
    assert ("checks", "redis") in stored(db)
    assert ("checks", "cache") not in stored(db)


def test_change_prints_as_a_plan_line() -> None:
    assert str(Change("create", "checks", "web")) == "+ checks/web"
    assert str(Change("update", "checks", "db", ("host", "port"))) == "~ checks/db (host, port)"
    assert str(Change("delete", "checks", "old")) == "- checks/old"
    assert (
        str(Change("adopt", "checks", "ui", ("port",)))
        == "~ checks/ui (port) (made in the UI; the plan takes it over)"
    )


# --- UI-made objects ----------------------------------------------------------------------


def test_ui_made_object_is_left_alone_by_apply(db: Session) -> None:
    catalog.create_object(db, "checks", UI_CHECK, actor="alice")
    db.commit()

    result = apply(db, PLAN)
    assert [c.action for c in result.changes] == ["create"] * 3
    result = apply(db, "")
    assert [c.action for c in result.changes] == ["delete"] * 3

    obj = stored(db)[("checks", "ui-made")]
    assert not obj.managed
    assert obj.updated_by == "alice"
    assert obj.spec["host"] == "ui.internal"


def test_plan_declaring_a_ui_made_name_adopts_it(db: Session) -> None:
    catalog.create_object(db, "checks", UI_CHECK, actor="alice")
    db.commit()
    text = PLAN + "  - name: ui-made\n    type: tcp\n    host: ui.internal\n    port: 2222\n"

    diff = diff_plan(db, load(text))
    assert Change("adopt", "checks", "ui-made", ("port",)) in diff.changes
    assert diff.count("adopt") == 1

    apply(db, text)
    db.expire_all()
    obj = stored(db)[("checks", "ui-made")]
    assert obj.managed
    assert obj.updated_by == "plan"
    assert obj.spec["port"] == 2222
    assert diff_plan(db, load(text)).empty

    # Once adopted it is the plan's: dropping it from the plan deletes it.
    apply(db, PLAN)
    assert ("checks", "ui-made") not in stored(db)


def test_adopting_an_identical_ui_object_lists_no_fields(db: Session) -> None:
    catalog.create_object(db, "checks", UI_CHECK, actor="alice")
    db.commit()
    text = "checks:\n  - name: ui-made\n    type: tcp\n    host: ui.internal\n    port: 22\n"
    assert diff_plan(db, load(text)).changes == [Change("adopt", "checks", "ui-made")]


def test_ui_made_object_can_be_updated_and_deleted(db: Session) -> None:
    catalog.create_object(db, "checks", UI_CHECK, actor="alice")
    db.commit()

    view = catalog.update_object(db, "checks", "ui-made", {**UI_CHECK, "port": 2200}, "bob")
    db.commit()
    assert view.spec["port"] == 2200
    assert view.updated_by == "bob"
    assert not view.managed

    catalog.delete_object(db, "checks", "ui-made", "bob")
    db.commit()
    assert stored(db) == {}


@pytest.mark.parametrize(
    "edit",
    [
        lambda db: catalog.update_object(
            db, "checks", "db", {"name": "db", "type": "tcp", "host": "x", "port": 1}, "bob"
        ),
        lambda db: catalog.delete_object(db, "checks", "db", "bob"),
    ],
    ids=["update", "delete"],
)
def test_editing_a_managed_object_raises_conflict(db: Session, edit: Any) -> None:
    apply(db, PLAN)
    with pytest.raises(ConflictError, match="checks/db is managed by the plan file"):
        edit(db)
    db.rollback()
    obj = stored(db)[("checks", "db")]
    assert obj.managed
    assert obj.spec["host"] == "db.internal"


def test_creating_an_object_with_a_managed_name_raises_conflict(db: Session) -> None:
    apply(db, PLAN)
    spec = {"name": "db", "type": "tcp", "host": "elsewhere", "port": 1}
    with pytest.raises(ConflictError, match='a checks object named "db" already exists'):
        catalog.create_object(db, "checks", spec, actor="alice")
    obj = stored(db)[("checks", "db")]
    assert obj.managed
    assert obj.spec["host"] == "db.internal"


def test_catalog_rejects_invalid_specs_and_unknown_kinds(db: Session) -> None:
    with pytest.raises(ValidationFailed) as info:
        catalog.create_object(db, "checks", {"name": "x", "type": "tcp", "port": 0}, "a")
    assert {loc for loc, _ in info.value.errors} >= {"host", "port"}
    with pytest.raises(NotFoundError):
        catalog.create_object(db, "widgets", {"name": "x"}, "a")
    with pytest.raises(NotFoundError):
        catalog.delete_object(db, "checks", "nope", "a")


# --- export -------------------------------------------------------------------------------


def test_export_reloads_and_diffs_as_empty(db: Session) -> None:
    apply(db, PLAN)
    exported = export_plan(db)
    reloaded = load_plan_text(exported, env={})
    assert reloaded.plan.name == "prod"
    diff = diff_plan(db, reloaded)
    assert diff.empty
    assert diff.unchanged == 3


def test_export_of_example_plan_round_trips(db: Session) -> None:
    apply_plan(db, load_plan_file(EXAMPLE, env={}))
    db.commit()
    exported = export_plan(db)
    reloaded = load_plan_text(exported, env={})
    assert reloaded.plan.name == "Example shop — production"
    assert diff_plan(db, reloaded).empty
    assert "Example shop — production" in exported  # unicode kept, not escaped


def test_export_leaves_out_defaults_and_starts_with_a_header(db: Session) -> None:
    apply(db, PLAN)
    exported = export_plan(db)
    first, _, body = exported.partition("\n")
    assert first.startswith("# Exported by `watchkeeper plan export` at ")
    data = yaml.safe_load(body)
    assert data["name"] == "prod"
    assert "version" not in data
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["db"] == {"name": "db", "type": "tcp", "host": "db.internal", "port": 5432}
    assert by_name["web"]["interval"] == "30s"


def test_export_contains_ui_made_objects(db: Session) -> None:
    apply(db, PLAN)
    catalog.create_object(db, "checks", UI_CHECK, actor="alice")
    db.commit()

    exported = export_plan(db)
    reloaded = load_plan_text(exported, env={})
    assert {c.name for c in reloaded.plan.checks} == {"web", "db", "cache", "ui-made"}
    # Applying the export would take the UI-made object over unchanged, nothing else.
    diff = diff_plan(db, reloaded)
    assert diff.changes == [Change("adopt", "checks", "ui-made")]
    assert diff.unchanged == 3


def test_export_of_empty_store_is_an_empty_plan(db: Session) -> None:
    exported = export_plan(db)
    reloaded = load_plan_text(exported, env={})
    assert reloaded.plan.checks == []
    assert reloaded.plan.name == ""
    assert diff_plan(db, reloaded).empty


def test_export_round_trips_values_containing_dollar_signs(db: Session) -> None:
    text = dedent(
        """\
        checks:
          - name: price
            type: http
            url: https://shop.example.com/
            body_contains: "total $$$${AMOUNT}"
        """
    )
    apply(db, text)
    assert stored(db)[("checks", "price")].spec["body_contains"] == "total $${AMOUNT}"
    reloaded = load_plan_text(export_plan(db), env={})
    assert diff_plan(db, reloaded).empty


# --- apply records ------------------------------------------------------------------------


def test_apply_records_a_plan_apply_row_with_counts(db: Session) -> None:
    apply_plan(db, load(PLAN, file="/etc/watchkeeper/plan.yaml"), actor="ci")
    db.commit()
    (row,) = applies(db)
    assert row.file == "/etc/watchkeeper/plan.yaml"
    assert row.digest == load(PLAN).digest
    assert row.plan_name == "prod"
    assert (row.created, row.updated, row.deleted) == (3, 0, 0)
    assert row.actor == "ci"
    assert row.applied_at is not None
    assert last_apply(db) is not None and last_apply(db).id == row.id  # type: ignore[union-attr]


def test_every_apply_is_recorded_even_when_nothing_changes(db: Session) -> None:
    apply(db, PLAN)
    apply(db, PLAN)
    rows = applies(db)
    assert len(rows) == 2
    assert (rows[1].created, rows[1].updated, rows[1].deleted) == (0, 0, 0)
    assert last_apply(db).id == rows[1].id  # type: ignore[union-attr]


def test_apply_counts_adoptions_as_updates(db: Session) -> None:
    apply(db, PLAN)
    catalog.create_object(db, "checks", UI_CHECK, actor="alice")
    db.commit()
    text = (
        PLAN.split("  - name: cache")[0].replace("port: 5432", "port: 5433")
        + "  - name: ui-made\n    type: tcp\n    host: ui.internal\n    port: 22\n"
        + "  - name: new\n    type: tcp\n    host: new.internal\n    port: 1\n"
    )
    result = apply(db, text)
    assert sorted(actions(result)) == [
        ("adopt", "checks", "ui-made"),
        ("create", "checks", "new"),
        ("delete", "checks", "cache"),
        ("update", "checks", "db"),
    ]
    assert result.unchanged == 1
    row = applies(db)[-1]
    assert (row.created, row.updated, row.deleted) == (1, 2, 1)


def test_export_uses_the_name_of_the_last_apply(db: Session) -> None:
    apply(db, PLAN)
    apply(db, PLAN.replace("name: prod", "name: staging"))
    assert yaml.safe_load(export_plan(db))["name"] == "staging"


def test_updates_and_deletes_of_more_objects_than_one_load_chunk(db: Session) -> None:
    """Objects an apply changes are loaded a chunk at a time: every one of them is written."""
    from watchkeeper.plan.apply import LOAD_CHUNK

    count = LOAD_CHUNK + 7

    def plan(port: int) -> str:
        return "checks:\n" + "".join(
            f"  - {{name: c{i}, type: tcp, host: 127.0.0.1, port: {port}}}\n" for i in range(count)
        )

    assert len(actions(apply(db, plan(1)))) == count
    changed = apply(db, plan(2))
    assert {a for a, _, _ in actions(changed)} == {"update"} and len(changed.changes) == count
    assert {o.spec["port"] for o in stored(db).values()} == {2}
    removed = apply(db, "checks: []\n")
    assert {a for a, _, _ in actions(removed)} == {"delete"} and len(removed.changes) == count
    assert stored(db) == {}
