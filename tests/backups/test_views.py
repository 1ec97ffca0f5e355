"""The backups views: freshness per repository and policy, size change, last drill and
check, progress of running runs, masking, and the DR runbook (no secret in it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.backups.support import SECRETS, URL_PASSWORD, add_run, apply_backups_plan
from watchkeeper.backups import views
from watchkeeper.backups.runbook import render_runbook
from watchkeeper.exceptions import NotFoundError

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)  # a Wednesday


def _view(db: Session, name: str) -> views.PolicyView:
    section = views.load_section(db)
    return views.policy_view(db, section, views.find_policy(section, name), NOW)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("/var/backups/restic", "/var/backups/restic"),
        ("sftp:backup@host:/srv/restic", "sftp:backup@host:/srv/restic"),
        ("rest:https://u:pw@host:8000/repo", "rest:https://u:***@host:8000/repo"),
        ("s3:https://s3.example.com/bucket", "s3:https://s3.example.com/bucket"),
        ("postgresql://backup:pw@db:5432/postgres", "postgresql://backup:***@db:5432/postgres"),
    ],
)
def test_urls_are_shown_without_passwords(url: str, shown: str) -> None:
    assert views.mask_url(url) == shown


def test_the_default_max_age_is_twice_the_schedule_interval_at_least_an_hour() -> None:
    assert views.interval_of("0 */6 * * *", NOW) == timedelta(hours=6)
    assert views.interval_of("*/5 * * * *", NOW) == timedelta(minutes=5)
    # Weekdays only: the weekend's gap counts, so Monday morning is not "late".
    assert views.interval_of("0 2 * * 1-5", NOW) == timedelta(days=3)


def test_a_policy_never_run_is_never_backed_up(db: Session) -> None:
    apply_backups_plan(db)
    view = _view(db, "orders-db")
    assert view.freshness == "never"
    assert view.last_success is None and view.last_drill is None
    assert view.max_age_s == 12 * 3600
    assert view.next_run == datetime(2025, 3, 5, 18, 0, tzinfo=UTC)
    assert [r.name for r in view.repositories] == ["local", "offsite"]
    assert view.source.server == "db.internal:5432"
    assert view.source.targets == ("orders", "billing")


def test_fresh_on_every_repository_is_ok_and_one_late_repository_makes_it_late(
    db: Session,
) -> None:
    apply_backups_plan(db)
    add_run(db, "orders-db", started=NOW - timedelta(hours=2), snapshot_id="aa11")
    add_run(db, "orders-db", started=NOW - timedelta(hours=2), repository="offsite")
    db.commit()
    assert _view(db, "orders-db").freshness == "ok"

    add_run(db, "orders-db", started=NOW - timedelta(hours=30), repository="gone")  # not in plan
    add_run(db, "uploads", started=NOW - timedelta(hours=4))  # max_age 3h
    db.commit()
    uploads = _view(db, "uploads")
    assert uploads.freshness == "late"
    assert uploads.max_age_s == 3 * 3600
    assert uploads.repositories[0].age_s == pytest.approx(4 * 3600 - 60)


def test_one_repository_behind_makes_the_policy_late(db: Session) -> None:
    apply_backups_plan(db)
    add_run(db, "orders-db", started=NOW - timedelta(hours=1))
    add_run(db, "orders-db", started=NOW - timedelta(hours=13), repository="offsite")
    add_run(
        db,
        "orders-db",
        started=NOW - timedelta(hours=1),
        repository="offsite",
        status="failed",
        error="repository unreachable",
    )
    db.commit()
    view = _view(db, "orders-db")
    states = {r.name: r.freshness for r in view.repositories}
    assert states == {"local": "ok", "offsite": "late"}
    assert view.freshness == "late"
    assert view.last_failure is not None and view.last_failure.error == "repository unreachable"
    assert view.last_success is not None and view.last_success.repository == "local"


def test_a_sudden_size_drop_is_flagged(db: Session) -> None:
    apply_backups_plan(db)
    add_run(db, "orders-db", started=NOW - timedelta(hours=12), bytes_total=1_000_000)
    add_run(db, "orders-db", started=NOW - timedelta(hours=6), bytes_total=1_100_000)
    db.commit()
    view = _view(db, "orders-db")
    assert view.size_change_pct == pytest.approx(10.0)
    assert not view.size_change_alert

    add_run(db, "orders-db", started=NOW - timedelta(hours=1), bytes_total=110_000)
    db.commit()
    view = _view(db, "orders-db")
    assert view.size_change_pct == pytest.approx(-90.0)
    assert view.size_change_alert


def test_last_drill_and_check_are_the_latest_finished(db: Session) -> None:
    apply_backups_plan(db)
    add_run(
        db,
        "orders-db",
        kind="drill",
        started=NOW - timedelta(days=8),
        status="failed",
        error="row counts differ",
    )
    add_run(
        db,
        "orders-db",
        kind="drill",
        started=NOW - timedelta(days=1),
        rto_s=252.0,
        rpo_s=10_800.0,
        snapshot_id="bb22",
    )
    add_run(db, "orders-db", kind="drill", started=NOW - timedelta(minutes=1), status="running")
    add_run(db, "orders-db", kind="check", started=NOW - timedelta(days=3), status="failed")
    db.commit()
    view = _view(db, "orders-db")
    assert view.last_drill is not None
    assert (view.last_drill.status, view.last_drill.rto_s, view.last_drill.rpo_s) == (
        "succeeded",
        252.0,
        10_800.0,
    )
    assert view.last_check is not None and view.last_check.status == "failed"
    assert [r.kind for r in view.running] == ["drill"]


def test_running_runs_carry_their_progress(db: Session) -> None:
    apply_backups_plan(db)
    progress = {"fraction": 0.42, "bytes_done": 420, "bytes_total": 1000, "seconds_remaining": 33}
    add_run(
        db,
        "orders-db",
        started=NOW - timedelta(minutes=2),
        status="running",
        details={"progress": progress},
    )
    add_run(db, "orders-db", started=NOW - timedelta(minutes=1), status="running", details={})
    add_run(db, "orders-db", started=NOW, status="running", details={"progress": "garbage"})
    db.commit()
    running = _view(db, "orders-db").running
    assert running[0].progress == views.ProgressView(0.42, 420, 1000, 33.0)
    assert running[1].progress is None and running[2].progress is None


def test_runs_filter_and_history_order(db: Session) -> None:
    apply_backups_plan(db)
    for hours in (3, 2, 1):
        add_run(db, "uploads", started=NOW - timedelta(hours=hours), bytes_total=hours)
    add_run(db, "uploads", started=NOW, status="failed")
    add_run(db, "orders-db", kind="drill", started=NOW)
    db.commit()
    assert [r.bytes_total for r in views.list_runs(db, policy="uploads", status="succeeded")] == [
        1,
        2,
        3,
    ]
    assert len(views.list_runs(db, kind="drill")) == 1
    assert len(views.list_runs(db, limit=2)) == 2
    assert [p.bytes_total for p in views.history(db, "uploads")] == [3, 2, 1]


def test_unknown_policy_is_not_found(db: Session) -> None:
    apply_backups_plan(db)
    with pytest.raises(NotFoundError):
        _view(db, "nope")


def test_no_plan_means_no_policies(db: Session) -> None:
    assert views.overview(db) == []


def test_runbook_says_what_where_and_how_without_secrets(db: Session) -> None:
    apply_backups_plan(db)
    add_run(db, "orders-db", started=NOW - timedelta(hours=2), snapshot_id="aa11bb22")
    add_run(
        db,
        "orders-db",
        kind="drill",
        started=NOW - timedelta(days=1),
        rto_s=252.0,
        rpo_s=10_800.0,
    )
    db.commit()
    section = views.load_section(db)
    text = render_runbook(section, _view(db, "orders-db"), now=NOW)
    for secret in SECRETS:
        assert secret not in text
    assert "rest:https://backup:***@rest.example.com:8000/wk" in text
    assert "db.internal:5432" in text and "orders, billing" in text
    assert "`0 */6 * * *`" in text
    assert "Keep daily 7, weekly 4" in text
    assert "measured restore time (RTO): 4 min 12 s" in text
    assert "snapshot age at restore (RPO): 3 h 0 min" in text
    assert "aa11bb22" in text
    assert "export RESTIC_PASSWORD_FILE=" in text
    assert "export AWS_SECRET_ACCESS_KEY=..." in text
    assert "restic snapshots --tag policy=orders-db" in text
    assert "restic dump latest --tag policy=orders-db --path /orders.pgdump /orders.pgdump" in text
    assert "pg_restore --no-owner -h HOST -U USER -d orders_restored" in text
    assert URL_PASSWORD not in text

    files = render_runbook(section, _view(db, "uploads"), now=NOW)
    assert "restic restore latest --target /tmp/restore-uploads --tag policy=uploads" in files
    assert "No drill has run yet" in files
    assert "No retention" in files

    maria = render_runbook(section, _view(db, "shop-mariadb"), now=NOW)
    assert "restic dump latest --tag policy=shop-mariadb --path /shop.sql /shop.sql" in maria
    assert "drills are switched off" in maria
