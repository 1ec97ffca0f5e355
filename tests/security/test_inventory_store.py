"""Storing reports of inventories: a new row only when an inventory changed, dates moved on
otherwise, failures beside the last good packages, locations gone, history pruned; the specs
that apply to a host; reading them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError
from watchkeeper.plan import catalog
from watchkeeper.security.inventory.model import packages_digest
from watchkeeper.security.inventory.wire import PackagesReport
from watchkeeper.security.inventory_store import (
    GONE,
    get_inventory,
    list_latest,
    record_report,
    spec_for,
)
from watchkeeper.store.tables import HostPackages, StoredObject

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VENV = "/srv/shop/.venv"
FLASK_OLD = [["flask", "2.3.3"], ["jinja2", "3.1.2"]]
FLASK_NEW = [["flask", "3.0.2"], ["jinja2", "3.1.3"]]


def report(at: datetime, *entries: dict[str, Any], complete: bool = False) -> PackagesReport:
    return PackagesReport.model_validate(
        {"host": "web-1", "collected_at": at, "complete": complete, "inventories": list(entries)}
    )


def full(location: str, packages: list[list[str]], ecosystem: str = "PyPI") -> dict[str, Any]:
    return {"ecosystem": ecosystem, "location": location, "packages": packages}


def marker(location: str, packages: list[list[str]]) -> dict[str, Any]:
    return {"ecosystem": "PyPI", "location": location, "digest": packages_digest("", packages)}


def rows(db: Session) -> list[HostPackages]:
    return list(db.scalars(select(HostPackages).order_by(HostPackages.id)))


def test_unchanged_inventories_move_the_dates_of_the_latest_row_on(db: Session) -> None:
    first = record_report(db, report(T0, full(VENV, FLASK_OLD)), T0)
    db.commit()
    assert (first.stored, first.unchanged) == (1, 0)
    later = T0 + timedelta(hours=6)
    again = record_report(db, report(later, full(VENV, list(reversed(FLASK_OLD)))), later)
    db.commit()
    assert (again.stored, again.unchanged) == (0, 1)
    (row,) = rows(db)
    assert row.first_seen_at == T0 and row.collected_at == later and row.received_at == later
    assert row.packages == FLASK_OLD and row.digest == packages_digest("", FLASK_OLD)


def test_a_changed_inventory_is_a_new_row_and_history_keeps_the_old(db: Session) -> None:
    record_report(db, report(T0, full(VENV, FLASK_OLD)), T0)
    upgraded = T0 + timedelta(days=1)
    result = record_report(db, report(upgraded, full(VENV, FLASK_NEW)), upgraded)
    db.commit()
    assert result.stored == 1
    old, new = rows(db)
    assert (old.packages, old.collected_at) == (FLASK_OLD, T0)
    assert (new.packages, new.first_seen_at) == (FLASK_NEW, upgraded)
    detail = get_inventory(db, new.id)
    assert [c.id for c in detail.history] == [new.id, old.id]
    assert detail.summary.changes == 2 and detail.packages == FLASK_NEW


def test_a_digest_only_entry_confirms_or_asks_for_the_packages(db: Session) -> None:
    record_report(db, report(T0, full(VENV, FLASK_OLD)), T0)
    later = T0 + timedelta(hours=6)
    result = record_report(
        db, report(later, marker(VENV, FLASK_OLD), marker("/srv/blog/.venv", FLASK_NEW)), later
    )
    db.commit()
    assert result.unchanged == 1
    assert [(k.ecosystem, k.location) for k in result.resend] == [("PyPI", "/srv/blog/.venv")]
    (row,) = rows(db)
    assert row.collected_at == later
    changed = record_report(db, report(later, marker(VENV, FLASK_NEW)), later)
    assert [k.location for k in changed.resend] == [VENV]  # not what is stored: asked again


def test_a_failure_keeps_the_last_packages_and_says_why(db: Session) -> None:
    record_report(db, report(T0, full(VENV, FLASK_OLD)), T0)
    failed_at = T0 + timedelta(hours=6)
    err = {"ecosystem": "PyPI", "location": VENV, "error": f"{VENV}: Permission denied"}
    new_lock = {"ecosystem": "PyPI", "location": "/srv/poetry.lock", "error": "not valid TOML"}
    result = record_report(db, report(failed_at, err, new_lock), failed_at)
    db.commit()
    assert result.failed == 2
    venv, lock = rows(db)
    assert venv.packages == FLASK_OLD and venv.error.endswith("Permission denied")
    assert venv.collected_at == T0 and venv.received_at == failed_at
    assert (lock.packages, lock.digest, lock.error) == ([], "", "not valid TOML")
    fixed = T0 + timedelta(hours=12)
    record_report(db, report(fixed, marker(VENV, FLASK_OLD)), fixed)
    db.commit()
    assert rows(db)[0].error == ""  # confirmed again: the error is over


def test_a_location_missing_from_a_complete_report_is_gone(db: Session) -> None:
    record_report(db, report(T0, full(VENV, FLASK_OLD), full("/srv/old/.venv", FLASK_NEW)), T0)
    later = T0 + timedelta(hours=6)
    result = record_report(db, report(later, marker(VENV, FLASK_OLD), complete=True), later)
    assert result.gone == 1
    again = record_report(db, report(later, marker(VENV, FLASK_OLD), complete=True), later)
    assert again.gone == 0  # recorded once
    db.commit()
    latest = {(i.location, i.package_count, i.error) for i in list_latest(db, "web-1")}
    assert latest == {(VENV, 2, ""), ("/srv/old/.venv", 0, GONE)}
    back = later + timedelta(hours=6)
    record_report(db, report(back, full("/srv/old/.venv", FLASK_NEW)), back)
    db.commit()
    assert {i.location: i.package_count for i in list_latest(db)}["/srv/old/.venv"] == 2


def test_a_report_older_than_the_stored_one_is_ignored(db: Session) -> None:
    later = T0 + timedelta(hours=6)
    record_report(db, report(later, full(VENV, FLASK_NEW)), later)
    result = record_report(db, report(T0, full(VENV, FLASK_OLD)), later)
    db.commit()
    assert (result.stored, result.unchanged) == (0, 1)
    assert [r.packages for r in rows(db)] == [FLASK_NEW]


def test_a_collection_time_in_the_future_is_taken_as_now(db: Session) -> None:
    record_report(db, report(T0 + timedelta(days=3), full(VENV, FLASK_OLD)), T0)
    assert rows(db)[0].collected_at == T0


def test_rows_past_the_history_are_deleted_but_each_latest_stays(db: Session) -> None:
    long_ago = T0 - timedelta(days=500)
    record_report(db, report(long_ago, full(VENV, FLASK_OLD), full("/idle", FLASK_OLD)), long_ago)
    record_report(db, report(T0, full(VENV, FLASK_NEW)), T0)
    db.commit()
    assert [(r.location, r.packages) for r in rows(db)] == [("/idle", FLASK_OLD), (VENV, FLASK_NEW)]


def test_the_list_filters_and_an_unknown_id_is_not_found(db: Session) -> None:
    record_report(
        db,
        report(
            T0,
            full(VENV, FLASK_OLD),
            full("dpkg", [["openssl", "3.0.11-1~deb12u2"]], "Debian") | {"distro": "12"},
        ),
        T0,
    )
    db.commit()
    assert [i.ecosystem for i in list_latest(db)] == ["Debian", "PyPI"]
    (debian,) = list_latest(db, ecosystem="Debian")
    assert (debian.distro, debian.package_count, debian.first_seen_at) == ("12", 1, T0)
    assert list_latest(db, host="db-1") == []
    with pytest.raises(NotFoundError):
        get_inventory(db, 999_999)


def add_inventory(db: Session, spec: dict[str, Any]) -> None:
    catalog.create_object(db, "security.inventories", spec, Actor("test"))


def test_the_specs_of_the_matching_inventories_are_merged(
    db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    add_inventory(db, {"name": "everywhere", "interval": "6h"})
    add_inventory(
        db,
        {
            "name": "shop",
            "hosts": ["WEB-*"],
            "python": ["/srv/shop/.venv"],
            "npm": ["/srv/shop/package-lock.json"],
            "debian": False,
            "interval": "1h",
        },
    )
    add_inventory(db, {"name": "db", "hosts": ["db-*"], "requirements": ["/opt/x.txt"]})
    db.add(
        StoredObject(
            kind="security.inventories",
            name="broken",
            spec={"name": "broken", "interval": "s3cret-soon"},
        )
    )
    db.commit()
    web = spec_for(db, "web-1")
    # The broken one is left out and logged: where it is wrong, never the values.
    assert "broken: stored configuration is invalid: 1 error(s) at interval (" in caplog.text
    assert "s3cret" not in caplog.text
    assert web.inventories == ["everywhere", "shop"]
    assert web.python == ["/srv/shop/.venv"] and web.requirements == []
    assert web.debian and web.os_updates and web.kernel
    assert web.interval_seconds == 3600
    assert spec_for(db, "db-1").requirements == ["/opt/x.txt"]
    assert spec_for(db, "mail-1").inventories == ["everywhere"]
