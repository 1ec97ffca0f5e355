"""The patch plan: findings grouped into actions per package version, the target version
chosen in the ecosystem's order, ranking, scheduling into patch windows, verification by
the next inventory, obsolete actions, and marking an action applied (audited)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.security.findings_support import (
    NOW,
    VENV,
    add_finding,
    add_inventory,
    apply_security_plan,
)
from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.auth.audit import Actor
from watchkeeper.dbmaint.section import load_windows
from watchkeeper.exceptions import ConflictError, NotFoundError
from watchkeeper.security import patch_windows, patches, suppressions
from watchkeeper.security.config import SecuritySection
from watchkeeper.security.findings import FindingView, covered_hosts, view_of
from watchkeeper.security.inventory_store import GONE
from watchkeeper.store.tables import AuditEntry, HostPackages, PatchAction, SecurityFinding

SECTION = SecuritySection(exposed_hosts=["web-*"])


def _view(vuln: str, **kw: object) -> FindingView:
    """A finding as the scan would store it, seen through view_of (no store needed)."""
    fields: dict[str, object] = {
        "id": 1,
        "host": "db-1",
        "ecosystem": "PyPI",
        "location": VENV,
        "package": "django",
        "version": "3.2.0",
        "vuln_id": vuln,
        "aliases": [],
        "summary": "",
        "severity": "medium",
        "score": 5.0,
        "fixed_version": "3.2.1",
        "first_seen": NOW - timedelta(days=3),
        "last_seen": NOW,
        "fix_seen": NOW - timedelta(days=3),
        "resolved_at": None,
    }
    fields.update(kw)
    return view_of(SecurityFinding(**fields), [], SECTION, NOW)


# -- pure: grouping, target version, ranking ---------------------------------------------------


def test_target_is_the_highest_fix_in_the_ecosystems_order() -> None:
    found = patches.propose(
        [
            _view("PYSEC-1", fixed_version="3.2.9"),
            _view("PYSEC-2", fixed_version="3.2.10", severity="critical", score=9.8),
            _view("PYSEC-3", fixed_version="", severity="low"),  # no fix: not part of it
            _view("PYSEC-4", version="4.0.0", fixed_version="4.0.2"),  # another version
        ],
        SECTION.exposed_hosts,
    )
    by_version = {p.key[4]: p for p in found}
    upgrade = by_version["3.2.0"]
    assert upgrade.to_version == "3.2.10"  # PEP 440: 3.2.10 > 3.2.9 (as text it is not)
    assert upgrade.vulns == ("PYSEC-1", "PYSEC-2")
    assert (upgrade.severity, upgrade.score) == ("critical", 9.8)
    assert by_version["4.0.0"].to_version == "4.0.2"


def test_debian_target_follows_epochs_and_tildes() -> None:
    found = patches.propose(
        [
            _view(
                "DSA-1",
                ecosystem="Debian",
                package="openssl",
                version="3.0.11-1~deb12u1",
                fixed_version="3.0.11-1~deb12u2",
            ),
            _view(
                "DSA-2",
                ecosystem="Debian",
                package="openssl",
                version="3.0.11-1~deb12u1",
                fixed_version="1:3.0.9-1",
            ),
            _view(
                "DSA-3",
                ecosystem="Debian",
                package="openssl",
                version="3.0.11-1~deb12u1",
                fixed_version="3.0.11-1",
            ),
        ],
        [],
    )
    assert [p.to_version for p in found] == ["1:3.0.9-1"]  # the epoch wins


def test_without_any_fix_the_action_lists_every_vulnerability() -> None:
    [p] = patches.propose(
        [_view("GHSA-a", fixed_version=""), _view("GHSA-b", fixed_version="")], []
    )
    assert (p.to_version, p.vulns) == ("", ("GHSA-a", "GHSA-b"))


def test_suppressed_and_resolved_findings_are_not_planned() -> None:
    suppressed = _view("GHSA-a")
    hidden = replace(suppressed, status="suppressed")
    resolved = _view("GHSA-b", resolved_at=NOW)
    assert patches.propose([hidden, resolved], []) == []


def test_rank_severity_then_exposure_then_score_then_count() -> None:
    ranked = patches.propose(
        [
            _view("A", host="db-1", package="a", severity="high", score=9.0),
            _view("B", host="web-1", package="b", severity="high", score=7.0),
            _view("C", host="db-1", package="c", severity="critical", score=9.1),
            _view("D1", host="db-1", package="d", severity="high", score=9.0),
            _view("D2", host="db-1", package="d", severity="low", score=2.0),
            _view("E", host="web-2", package="e", severity="medium", score=10.0),
        ],
        ["web-*"],
    )
    assert [p.key[3] for p in ranked] == ["c", "b", "d", "a", "e"]
    assert ranked[1].exposed and not ranked[2].exposed


# -- pure: windows and verification ---------------------------------------------------------


WEEKLY = MaintenanceWindow.model_validate(
    {"name": "sun", "weekly": [{"days": ["sun"], "start": "02:00", "end": "04:00"}]}
)
MONTHLY = MaintenanceWindow.model_validate(
    {"name": "first", "cron": "0 3 1 * *", "duration": "2h", "timezone": "Europe/Berlin"}
)


def test_next_open_of_weekly_and_cron_windows() -> None:
    assert patch_windows.next_open(WEEKLY, NOW) == datetime(2026, 3, 8, 2, 0, tzinfo=UTC)
    sunday = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
    assert patch_windows.next_open(WEEKLY, sunday) == sunday  # open now: now
    assert patch_windows.next_open(MONTHLY, NOW) == datetime(
        2026, 4, 1, 1, 0, tzinfo=UTC
    )  # 03:00 CEST
    windows = {"sun": WEEKLY, "first": MONTHLY}
    assert patch_windows.next_slot(["first", "sun"], windows, NOW) == (
        "sun",
        datetime(2026, 3, 8, 2, 0, tzinfo=UTC),
    )
    late_march = datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
    assert patch_windows.next_slot(["first", "sun"], windows, late_march) == (
        "first",
        datetime(2026, 4, 1, 1, 0, tzinfo=UTC),
    )
    assert patch_windows.next_slot(["missing"], windows, NOW) is None


@pytest.mark.parametrize(
    ("installed", "expected"),
    [
        ([], True),  # the package is gone
        (["2.31.0"], True),
        (["2.32.3"], True),
        (["2.28.0"], False),  # upgraded, but not far enough
        (["2.25.0"], False),
        (["2.25.0", "2.31.0"], False),  # a nested copy still has the old one
        (["2.31.0", "2.28.0"], False),  # a nested copy below the target: maybe vulnerable
        (["2.31.0", "1.0.0"], False),
        (["2.31.0", "2.32.3"], True),  # every copy at the target or later
        (["2.31.0", "not a version"], False),  # cannot tell: not verified
    ],
)
def test_an_inventory_shows_the_action_done(installed: list[str], expected: bool) -> None:
    assert patches.shows_fixed(installed, "PyPI", "2.25.0", "2.31.0") is expected


def test_inventory_names_compare_as_the_ecosystem_writes_them() -> None:
    listed = [["Django", "4.2.1"], ["zope.interface", "6.0"], ["other", "1"], ["other", "2"]]
    index = patches.package_index(listed, "PyPI")
    assert patches.installed_versions(index, "PyPI", "django") == ["4.2.1"]
    assert patches.installed_versions(index, "PyPI", "zope-interface") == ["6.0"]
    assert patches.installed_versions(index, "PyPI", "Other") == ["1", "2"]
    gems = patches.package_index([["Rack", "3.0.8"]], "RubyGems")  # no rule: any case
    assert patches.installed_versions(gems, "RubyGems", "rack") == ["3.0.8"]


# -- in the store -------------------------------------------------------------------------------


def _actions(db: Session) -> dict[tuple[str, str, str], PatchAction]:
    return {(a.host, a.package, a.from_version): a for a in db.scalars(select(PatchAction))}


def _seed(db: Session) -> None:
    apply_security_plan(db)
    add_finding(db, "GHSA-j8r2", fixed="2.31.0", severity="medium", score=6.1)
    add_finding(db, "GHSA-9wx4", fixed="2.26.0", severity="critical", score=9.1)
    add_finding(db, "GHSA-u1", package="urllib3", version="1.26.4", fixed="1.26.18")
    add_finding(db, "GHSA-j8r2", host="db-1", severity="medium", score=6.1)
    add_finding(
        db, "GHSA-nofix", package="ecdsa", version="0.18.0", fixed="", severity="high", score=8.1
    )
    db.commit()


def test_refresh_plans_ranks_schedules_and_is_idempotent(db: Session) -> None:
    _seed(db)
    done = patches.refresh(db, NOW)
    db.commit()
    assert len(done.created) == 4
    found = _actions(db)
    web = found[("web-1", "requests", "2.25.0")]
    assert (web.to_version, sorted(web.vulns), web.severity) == (
        "2.31.0",
        ["GHSA-9wx4", "GHSA-j8r2"],
        "critical",
    )
    # Wednesday: the next opening is Sunday's window, before the first of the month.
    assert (web.window, web.scheduled_for) == ("sunday-night", datetime(2026, 3, 8, 2, tzinfo=UTC))
    nofix = found[("web-1", "ecdsa", "0.18.0")]
    assert (nofix.to_version, nofix.scheduled_for, nofix.window) == ("", None, "")
    ranks = sorted(found.values(), key=lambda a: -a.rank)
    assert [a.package for a in ranks][:2] == ["requests", "ecdsa"]  # critical, then exposed high
    assert ranks[-1].host == "db-1"
    before = {a.id: a.updated_at for a in found.values()}

    again = patches.refresh(db, NOW + timedelta(minutes=5))
    db.commit()
    assert (again.created, again.updated, again.obsolete, again.verified) == ([], [], [], [])
    assert {a.id: a.updated_at for a in _actions(db).values()} == before


def test_planned_actions_move_to_the_next_opening_once_their_window_passed(db: Session) -> None:
    _seed(db)
    patches.refresh(db, NOW)
    sunday_open = datetime(2026, 3, 8, 3, tzinfo=UTC)
    patches.refresh(db, sunday_open)  # the window is open: the slot holds
    web = _actions(db)[("web-1", "requests", "2.25.0")]
    assert web.scheduled_for == datetime(2026, 3, 8, 2, tzinfo=UTC)
    names, windows = ["sunday-night", "first-of-month"], load_windows(db)
    assert patches.slots_passed(db, sunday_open, names, windows) == set()
    closed = datetime(2026, 3, 8, 5, tzinfo=UTC)
    assert patches.slots_passed(db, closed, names, windows) == {web.host, "db-1"}
    done = patches.refresh(db, closed)  # closed, not applied
    assert web.id in done.updated
    assert (web.window, web.scheduled_for) == ("sunday-night", datetime(2026, 3, 15, 2, tzinfo=UTC))


def test_applied_then_verified_by_the_next_inventory(db: Session) -> None:
    _seed(db)
    patches.refresh(db, NOW)
    found = _actions(db)
    web, urllib3 = found[("web-1", "requests", "2.25.0")], found[("web-1", "urllib3", "1.26.4")]
    add_inventory(db, [["requests", "2.25.0"], ["urllib3", "1.26.4"], ["ecdsa", "0.18.0"]])
    patches.mark_applied(db, Actor("olga", "10.0.0.5"), web.id, NOW)
    db.commit()
    assert (web.status, web.applied_by) == ("applied", "olga")
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "security.patch_applied")
    ).one()
    assert entry.target == f"patch/{web.id}" and entry.detail["to_version"] == "2.31.0"

    assert patches.refresh(db, NOW + timedelta(minutes=1)).verified == []  # same inventory
    later = NOW + timedelta(hours=6)
    add_inventory(db, [["Requests", "2.31.0"], ["ecdsa", "0.18.0"]], collected_at=later)
    done = patches.refresh(db, later + timedelta(minutes=1))
    db.commit()
    # requests shows the fixed version; urllib3 is gone: both verified (one never marked).
    assert sorted(done.verified) == sorted([web.id, urllib3.id])
    assert web.status == urllib3.status == "verified"
    assert web.verified_at == later + timedelta(minutes=1)
    # The findings still open until the scan reads the new inventory: no flip back.
    assert patches.refresh(db, later + timedelta(minutes=2)).reopened == []
    assert web.status == "verified"


@pytest.mark.parametrize("error", [GONE, "permission denied"])
def test_an_inventory_recording_only_an_error_verifies_nothing(db: Session, error: str) -> None:
    """A location gone from the host (its glob no longer matches) or never read lists no
    packages: that is not "the package gone"."""
    _seed(db)
    patches.refresh(db, NOW)
    db.add(HostPackages(host="web-1", ecosystem="PyPI", location=VENV, error=error, digest=""))
    db.flush()
    assert patches.refresh(db, NOW + timedelta(minutes=1)).verified == []


def test_a_refresh_of_some_hosts_leaves_the_others(db: Session) -> None:
    _seed(db)
    patches.refresh(db, NOW, hosts=["db-1"])
    assert {(a.host, a.package) for a in _actions(db).values()} == {("db-1", "requests")}
    db.execute(update(SecurityFinding).values(resolved_at=NOW))
    add_inventory(db, [["requests", "2.31.0"]], host="db-1", collected_at=NOW)
    done = patches.refresh(db, NOW, hosts=["web-1"])
    assert done.created == [] and done.verified == [] and done.obsolete == []
    [action] = _actions(db).values()
    assert action.status == "planned"  # db-1 not looked at
    assert patches.refresh(db, NOW, hosts=["db-1"]).verified == [action.id]


def test_obsolete_when_the_findings_go_and_planned_again_when_they_return(db: Session) -> None:
    _seed(db)
    patches.refresh(db, NOW)
    db_action = _actions(db)[("db-1", "requests", "2.25.0")]
    db.execute(
        update(SecurityFinding).where(SecurityFinding.host == "db-1").values(resolved_at=NOW)
    )
    assert patches.refresh(db, NOW).obsolete == [db_action.id]
    assert db_action.status == "obsolete"
    db.execute(
        update(SecurityFinding).where(SecurityFinding.host == "db-1").values(resolved_at=None)
    )
    assert patches.refresh(db, NOW).reopened == [db_action.id]
    assert (db_action.status, db_action.window) == ("planned", "sunday-night")


def test_a_partial_upgrade_obsoletes_the_action_and_plans_the_new_version(db: Session) -> None:
    _seed(db)
    patches.refresh(db, NOW)
    old = _actions(db)[("web-1", "requests", "2.25.0")]
    # The host went to 2.28.0: GHSA-9wx4 (fixed in 2.26.0) resolved, GHSA-j8r2 still there.
    db.execute(
        update(SecurityFinding)
        .where(SecurityFinding.vuln_id == "GHSA-9wx4")
        .values(resolved_at=NOW)
    )
    db.execute(
        update(SecurityFinding)
        .where(SecurityFinding.host == "web-1", SecurityFinding.vuln_id == "GHSA-j8r2")
        .values(version="2.28.0")
    )
    done = patches.refresh(db, NOW)
    new = _actions(db)[("web-1", "requests", "2.28.0")]
    assert done.obsolete == [old.id] and new.id in done.created
    assert (new.to_version, new.vulns, new.severity) == ("2.31.0", ["GHSA-j8r2"], "medium")


def test_a_suppression_replans_the_hosts_it_covers(db: Session) -> None:
    _seed(db)
    add_finding(db, "GHSA-v845", host="batch-1", package="urllib3", aliases=["CVE-2023-43804"])
    patches.refresh(db, NOW)
    olga = Actor("olga")
    made = suppressions.create(
        db, olga, vulnerability="ghsa-J8R2", package="Requests", host="web-1", reason="x", now=NOW
    )
    one = suppressions.of_row(made)
    assert covered_hosts(db, one) == {"web-1"}  # named without wildcards: any case
    done = patches.replan_for(db, NOW, one)
    assert done is not None and done.obsolete == []
    web = _actions(db)[("web-1", "requests", "2.25.0")]
    assert done.updated == [web.id] and (web.vulns, web.to_version) == (["GHSA-9wx4"], "2.26.0")
    every = suppressions.of_row(
        suppressions.create(db, olga, vulnerability="GHSA-j8r*", reason="x", now=NOW)
    )
    assert covered_hosts(db, every) == {"web-1", "db-1"}
    db_action = _actions(db)[("db-1", "requests", "2.25.0")]
    assert patches.replan_for(db, NOW, every).obsolete == [db_action.id]  # type: ignore[union-attr]
    alias = suppressions.of_row(
        suppressions.create(
            db, olga, vulnerability="cve-2023-43804", host="BATCH-*", reason="x", now=NOW
        )
    )
    assert covered_hosts(db, alias) == {"batch-1"}
    removed = suppressions.delete(db, olga, made.id)
    assert removed == one and covered_hosts(db, removed) == {"web-1"}


def test_mark_applied_refuses_what_cannot_be_applied(db: Session) -> None:
    _seed(db)
    patches.refresh(db, NOW)
    found = _actions(db)
    actor = Actor("olga")
    with pytest.raises(ConflictError, match="no fixed version"):
        patches.mark_applied(db, actor, found[("web-1", "ecdsa", "0.18.0")].id, NOW)
    web = found[("web-1", "requests", "2.25.0")]
    patches.mark_applied(db, actor, web.id, NOW)
    with pytest.raises(ConflictError, match="is applied, not planned"):
        patches.mark_applied(db, actor, web.id, NOW)
    with pytest.raises(NotFoundError):
        patches.mark_applied(db, actor, 999_999, NOW)


def test_after_scan_refreshes_in_a_savepoint(db: Session) -> None:
    _seed(db)
    patches.after_scan(db, NOW)
    db.commit()
    assert len(_actions(db)) == 4
    patches.after_scan(db, NOW)  # idempotent
    db.commit()
    assert len(_actions(db)) == 4


def test_without_patch_windows_actions_are_planned_at_once(db: Session) -> None:
    apply_security_plan(db, "security: {}")
    add_finding(db, "GHSA-x")
    db.commit()
    patches.refresh(db, NOW)
    [action] = _actions(db).values()
    assert (action.window, action.scheduled_for) == ("", NOW)
    patches.refresh(db, NOW + timedelta(days=1))
    assert action.scheduled_for == NOW  # as soon as possible: since it was planned
    assert patches.slots_passed(db, NOW + timedelta(days=1), [], {}) == set()


def test_prune_drops_old_verified_and_obsolete_actions(db: Session) -> None:
    _seed(db)
    patches.refresh(db, NOW)
    found = _actions(db)
    found[("db-1", "requests", "2.25.0")].status = "obsolete"
    found[("web-1", "urllib3", "1.26.4")].status = "verified"
    db.flush()
    assert patches.prune(db, NOW - timedelta(days=1)) == 0
    assert patches.prune(db, NOW + timedelta(days=1)) == 2
    assert len(_actions(db)) == 2
