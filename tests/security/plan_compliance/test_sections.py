"""Each section's evaluator on real rows (SQLite and PostgreSQL): what it finds failing,
with the failing object, its reason and the link to its page."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from tests.security.plan_compliance.support import apply_text, declared_at, failing, judge
from watchkeeper.auth.throttle import LOCK_AFTER
from watchkeeper.logs.model import LogLine
from watchkeeper.logs.store import ChunkStore
from watchkeeper.metrics.labels import Labels, make_labels
from watchkeeper.metrics.store import MetricStore
from watchkeeper.store.tables import (
    Alert,
    BackupRun,
    CheckStatus,
    ComplianceState,
    DbHealth,
    DbMaintenanceRun,
    Escalation,
    HardeningRun,
    Host,
    HostPackages,
    Incident,
    LoginFailure,
    OsvImport,
    OutboxNotification,
    Postmortem,
    ScheduledJob,
    SecurityFinding,
    TotpCredential,
    User,
    utcnow,
)

NOW = utcnow()
CHECKS = """
checks:
  - {name: api, type: tcp, host: 127.0.0.1, port: 1, interval: 30s}
  - {name: web, type: tcp, host: 127.0.0.1, port: 2, interval: 30s}
  - {name: cache, type: tcp, host: 127.0.0.1, port: 3, interval: 30s}
  - {name: nightly, type: heartbeat, period: 1d, grace: 1h}
"""


def _status(
    name: str, at_ago: timedelta, status: str = "up", message: str = "", now: datetime = NOW
) -> CheckStatus:
    return CheckStatus(
        name=name,
        status=status,
        last_run_at=now - at_ago,
        changed_at=now - timedelta(hours=2),
        last_ok=status == "up",
        last_message=message,
    )


def test_a_check_that_stopped_running_fails_with_its_link(db: Session) -> None:
    apply_text(db, CHECKS)
    now = NOW
    declared_at(db, now - timedelta(days=1))
    db.add_all(
        [
            _status("api", timedelta(seconds=20)),
            _status("web", timedelta(minutes=10)),  # 3 × 30 s + 30 s ago at most
            _status("cache", timedelta(seconds=5), "down", "connection refused"),
            _status("nightly", timedelta(seconds=5), "down", "late: last success at ..."),
        ]
    )
    db.commit()
    result = judge(db, "checks", now)
    found = failing(result)
    assert result.status == "failing"
    assert found["web"][0] == "check"
    assert "last ran 10 min ago" in found["web"][1] and "not running it" in found["web"][1]
    assert found["web"][2] == "/checks/web"
    assert found["cache"][1].startswith("down since") and "connection refused" in found["cache"][1]
    assert found["nightly"][0] == "heartbeat" and "late or failed" in found["nightly"][1]
    assert "api" not in found
    assert (result.ok, result.judged, result.score) == (1, 4, 25.0)


def test_a_new_check_waits_for_its_first_run(db: Session) -> None:
    apply_text(db, CHECKS)
    now = utcnow()
    result = judge(db, "checks", now)
    assert result.status == "ok" and result.score == 100.0
    assert any("waiting for their first run" in e for e in result.evidence)
    later = judge(db, "checks", now + timedelta(minutes=5))
    assert failing(later)["api"][1].startswith("never ran since it was declared")


BACKUPS = """
backups:
  repositories:
    - {name: local, url: /var/backups/restic, password: repository-password}
  policies:
    - name: orders
      source: {type: files, paths: [/srv/orders]}
      repositories: [local]
      schedule: "0 */6 * * *"
    - name: uploads
      source: {type: files, paths: [/srv/uploads]}
      repositories: [local]
      schedule: "0 */6 * * *"
      drill: null
"""


def _run(
    policy: str, kind: str, ago: timedelta, status: str = "succeeded", **kw: object
) -> BackupRun:
    started = utcnow() - ago
    return BackupRun(
        policy=policy,
        repository="local",
        kind=kind,
        status=status,
        started_at=started,
        finished_at=started + timedelta(minutes=1),
        **kw,
    )


def test_a_backup_policy_with_a_failed_last_drill(db: Session) -> None:
    apply_text(db, BACKUPS)
    now = NOW
    declared_at(db, now - timedelta(days=30))
    db.add_all(
        [
            _run("orders", "backup", timedelta(hours=2)),
            _run("orders", "drill", timedelta(days=3)),
            _run("orders", "drill", timedelta(hours=1), "failed", error="row counts differ\nmore"),
            _run("uploads", "backup", timedelta(days=3)),
        ]
    )
    db.commit()
    result = judge(db, "backups", now)
    found = failing(result)
    kind, reason, link = found["orders"]
    assert kind == "restore drill" and link == "/backups/orders"
    assert "the last drill from local" in reason and reason.endswith("failed: row counts differ")
    kind, reason, _ = found["uploads"]
    assert kind == "backup policy" and "last good backup into local 3 d ago (limit 12 h)" in reason
    assert (result.ok, result.judged) == (1, 3)  # orders is fresh; uploads has no drills


def test_a_policy_never_backed_up_is_due_within_its_limit(db: Session) -> None:
    apply_text(db, BACKUPS)
    now = utcnow()
    assert judge(db, "backups", now).status == "ok"  # just declared
    late = judge(db, "backups", now + timedelta(days=1))
    assert "no good backup into local yet" in failing(late)["uploads"][1]


ACCESS = """
access:
  require_mfa: [admin, operator]
"""


def _user(db: Session, name: str, role: str, **fields: object) -> User:
    user = User(username=name, role=role, password_hash="x", **fields)
    db.add(user)
    db.flush()
    return user


def test_an_admin_without_mfa_breaks_access(db: Session) -> None:
    apply_text(db, ACCESS)
    now = utcnow()
    _user(db, "ada", "admin", last_login_at=now - timedelta(days=1))
    bob = _user(db, "bob", "admin", last_login_at=now - timedelta(days=2))
    db.add(TotpCredential(user_id=bob.id, secret_enc="sealed", confirmed=True))
    _user(db, "vic", "viewer")  # viewers need no second factor
    _user(db, "old", "operator", disabled=True)  # disabled accounts do not count
    _user(db, "bot", "admin", kind="service")  # service accounts sign in with tokens
    db.commit()
    result = judge(db, "access", now)
    assert failing(result) == {
        "ada": ("user", "no second factor, which role admin requires", "/access#users")
    }
    assert (result.ok, result.judged) == (1, 2)
    assert result.evidence[0] == "MFA required for admin, operator: 1 user without a second factor."


def test_a_locked_out_or_stale_admin_breaks_access(db: Session) -> None:
    apply_text(db, "access: {require_mfa: []}")
    now = utcnow()
    _user(db, "ada", "admin", last_login_at=now - timedelta(days=1))
    _user(db, "gus", "admin", last_login_at=now - timedelta(days=200))
    _user(db, "new", "admin", created_at=now - timedelta(days=100))
    db.add_all(LoginFailure(username="ada", client_addr="198.51.100.7") for _ in range(LOCK_AFTER))
    db.commit()
    found = failing(judge(db, "access", now))
    assert found["ada"][1] == "locked out by failed sign-ins"
    assert found["gus"][1] == "stale: signed in 200 d ago"
    assert found["new"][1] == "stale: made, never signed in 100 d ago"


ALERTS = """
notifications:
  channels:
    - {name: ops, type: webhook, url: "http://127.0.0.1:9/hook"}
checks:
  - {name: db-1, type: tcp, host: 127.0.0.1, port: 5432, team: db}
alerts:
  rules:
    - {name: DbDown, check: db-1}
    - {name: ApiSlow, expr: "latency > 1"}
  route:
    receiver: ops
"""


def test_unacknowledged_alerts_and_a_stopped_evaluator(db: Session) -> None:
    apply_text(db, ALERTS)
    now = NOW
    common = {"severity": "warning", "active_at": now - timedelta(hours=3)}
    db.add_all(
        [
            Alert(
                rule="DbDown",
                fingerprint="a",
                labels={"alertname": "DbDown", "check": "db-1", "severity": "warning"},
                state="firing",
                fired_at=now - timedelta(hours=2),
                last_true_at=now - timedelta(hours=1),  # the evaluator stopped an hour ago
                **common,
            ),
            Alert(
                rule="ApiSlow",
                fingerprint="b",
                labels={"alertname": "ApiSlow"},
                state="firing",
                fired_at=now - timedelta(hours=2),
                last_true_at=now,
                acknowledged_at=now,
                **common,
            ),
        ]
    )
    db.commit()
    result = judge(db, "alerts", now)
    found = failing(result)
    assert set(found) == {"alert evaluator", "DbDown {check=db-1}"}
    kind, reason, link = found["alert evaluator"]
    assert kind == "service" and "no replica evaluates the rules" in reason
    assert link.startswith("/alerts/")
    kind, reason, link = found["DbDown {check=db-1}"]
    assert kind == "alert" and reason.startswith("firing for 2 h without an acknowledgement")
    assert (result.ok, result.judged) == (2, 4)  # both rules are routed


def test_rules_without_a_routing_tree_notify_nobody(db: Session) -> None:
    apply_text(db, "alerts:\n  rules:\n    - {name: Up, expr: up == 0}\n")
    result = judge(db, "alerts", NOW)
    assert failing(result)["Up"] == (
        "rule",
        "no routing tree (`alerts.route`): its alerts notify nobody",
        "/objects/alerts.rules/Up",
    )
    # Nothing active and no probe here: whether the evaluator runs cannot be told.
    assert [u.name for u in result.unknown] == ["alert evaluator"]


def test_a_channel_whose_last_delivery_failed(db: Session) -> None:
    apply_text(
        db,
        """
        notifications:
          channels:
            - {name: ops, type: webhook, url: "http://127.0.0.1:9/hook"}
            - {name: chat, type: webhook, url: "http://127.0.0.1:9/chat"}
            - {name: mail, type: webhook, url: "http://127.0.0.1:9/mail"}
        """,
    )
    now = utcnow()

    def row(
        key: str, channel: str, status: str, ago: timedelta, **kw: object
    ) -> OutboxNotification:
        return OutboxNotification(
            key=key,
            batch=key,
            channel=channel,
            group_key="g",
            status=status,
            payload={},
            created_at=now - ago,
            **kw,
        )

    db.add_all(
        [
            row("1", "ops", "delivered", timedelta(hours=3)),
            row("2", "ops", "failed", timedelta(hours=1), attempts=5, last_error="HTTP 404"),
            row("3", "chat", "failed", timedelta(hours=5), attempts=5),
            row("4", "chat", "delivered", timedelta(hours=4)),
            row("5", "mail", "pending", timedelta(minutes=40), attempts=3),
        ]
    )
    db.commit()
    found = failing(judge(db, "notifications", now))
    assert set(found) == {"ops", "mail"}
    assert found["ops"][1].endswith("failed after 5 attempts: HTTP 404")
    assert found["ops"][2] == "/notifications?channel=ops"
    assert found["mail"][1] == "1 notification undelivered, the oldest for 40 min"


DATABASES = """
alerts:
  maintenance_windows:
    - {name: nightly, weekly: [{start: "00:00", end: "24:00"}]}
databases:
  targets:
    - name: shop
      type: sqlite
      path: /srv/shop.db
      collect_interval: 5m
      maintenance:
        - {name: vacuum, action: vacuum, schedule: "0 3 * * *", windows: [nightly]}
    - name: audit
      type: sqlite
      path: /srv/audit.db
      maintenance:
        - {name: analyze, action: analyze, schedule: "0 3 * * *", windows: [nightly]}
"""


def test_databases_collected_late_or_unhealthy_and_missed_maintenance(db: Session) -> None:
    apply_text(db, DATABASES)
    # noon: the tasks' 03:00 start of today has passed, whatever the time of the run
    now = datetime.combine(utcnow().date(), time(12), tzinfo=UTC)
    declared_at(db, now - timedelta(days=10))
    db.add_all(
        [
            DbHealth(
                database="shop",
                type="sqlite",
                collected_at=now - timedelta(minutes=2),
                findings=[
                    {
                        "key": "integrity:main",
                        "severity": "critical",
                        "title": "integrity check failed",
                    }
                ],
                last_ok_at=now,
            ),
            DbHealth(
                database="audit",
                type="sqlite",
                collected_at=now - timedelta(hours=1),
                last_ok_at=now - timedelta(hours=1),
            ),
            DbMaintenanceRun(
                database="audit",
                task="analyze",
                action="analyze",
                status="succeeded",
                started_at=now - timedelta(hours=2),
            ),
        ]
    )
    db.commit()
    result = judge(db, "databases", now)
    found = failing(result)
    assert found["shop"] == (
        "database",
        "1 critical finding: integrity check failed",
        "/databases/shop",
    )
    assert found["audit"][1] == "last collected 1 h ago (every 5m)"
    kind, reason, link = found["shop/vacuum"]
    assert kind == "maintenance task" and reason.startswith("missed its start at ")
    assert link == "/databases/shop?tab=maintenance"
    assert "audit/analyze" not in found  # it ran at 10:00, after today's 03:00 start


def test_incidents_without_owner_postmortem_and_overdue_items(db: Session) -> None:
    apply_text(db, "incidents: {auto_resolve: true}")
    now = utcnow()
    base = {"severity": "SEV2", "opened_by": "alerts", "drill": ""}
    lost = Incident(
        title="Checkout down", status="triggered", opened_at=now - timedelta(hours=2), **base
    )
    paging = Incident(
        title="API slow", status="triggered", opened_at=now - timedelta(hours=2), **base
    )
    owned = Incident(
        title="Disk",
        status="triggered",
        commander="ada",
        opened_at=now - timedelta(hours=5),
        **base,
    )
    old = Incident(
        title="Outage",
        status="resolved",
        opened_at=now - timedelta(days=20),
        resolved_at=now - timedelta(days=10),
        **base,
    )
    written = Incident(
        title="Blip",
        status="resolved",
        opened_at=now - timedelta(days=20),
        resolved_at=now - timedelta(days=10),
        **base,
    )
    db.add_all([lost, paging, owned, old, written])
    db.flush()
    db.add_all(
        [
            Escalation(
                incident_id=lost.id,
                policy="default",
                state="exhausted",
                started_at=now,
                next_at=now,
            ),
            Escalation(
                incident_id=paging.id, policy="default", state="active", started_at=now, next_at=now
            ),
            Postmortem(
                incident_id=written.id,
                body="#",
                status="published",
                created_at=now,
                updated_at=now,
                updated_by="ada",
            ),
        ]
    )
    db.commit()
    found = failing(judge(db, "incidents", now))
    assert found[f"#{lost.id} Checkout down"] == (
        "incident",
        "nobody owns it and its escalation (default) is exhausted",
        f"/incidents/{lost.id}",
    )
    kind, reason, link = found[f"#{old.id} Outage"]
    assert kind == "postmortem" and "its postmortem was not written (due within 7d)" in reason
    assert link == f"/incidents/{old.id}/postmortem"
    assert len(found) == 2


def test_security_sources_inventories_findings_and_hardening(db: Session) -> None:
    apply_text(
        db,
        """
        security:
          sources:
            - {name: pypi, ecosystem: PyPI, path: /srv/osv/pypi.zip, schedule: "0 4 * * *"}
            - {name: npm, ecosystem: npm, path: /srv/osv/npm.zip, schedule: "0 4 * * *"}
          inventories:
            - {name: all, hosts: ["*"], interval: 6h}
          hardening:
            - {name: web, hosts: ["web-*"], interval: 1d}
          fix_age: 30d
          alert_severity: high
        """,
    )
    now = utcnow()
    declared_at(db, now - timedelta(days=10))
    db.add_all(
        [
            OsvImport(
                source="pypi",
                ecosystem="PyPI",
                status="succeeded",
                started_at=now - timedelta(hours=5),
                finished_at=now - timedelta(hours=5),
            ),
            OsvImport(
                source="npm",
                ecosystem="npm",
                status="failed",
                error="cannot open\nx",
                started_at=now - timedelta(hours=3),
                finished_at=now - timedelta(hours=3),
            ),
            Host(name="web-1", last_seen=now),
            Host(name="db-1", last_seen=now),
            HostPackages(
                host="web-1", ecosystem="PyPI", digest="a1", collected_at=now - timedelta(hours=1)
            ),
            HostPackages(
                host="db-1", ecosystem="Debian", digest="b2", collected_at=now - timedelta(days=2)
            ),
            # A later collection that failed on its first try: it does not count as timely.
            HostPackages(
                host="db-1",
                ecosystem="PyPI",
                location="/srv/app/.venv",
                error="permission denied",
                collected_at=now - timedelta(minutes=5),
            ),
            SecurityFinding(
                host="web-1",
                ecosystem="PyPI",
                package="jinja2",
                version="2.0",
                vuln_id="GHSA-1",
                severity="critical",
                fixed_version="3.1",
                fix_seen=now - timedelta(days=40),
            ),
            SecurityFinding(
                host="db-1",
                ecosystem="Debian",
                package="zlib",
                version="1",
                vuln_id="CVE-2",
                severity="low",
                fixed_version="2",
                fix_seen=now - timedelta(days=40),
            ),
            HardeningRun(host="web-1", ran_at=now - timedelta(days=3)),
        ]
    )
    db.commit()
    found = failing(judge(db, "security", now))
    assert found["npm"] == (
        "OSV source",
        "its last import (" + found["npm"][1].split("(")[1],
        "/security",
    )
    assert found["npm"][1].endswith("failed: cannot open")
    assert "pypi" not in found
    assert found["db-1"][0] == "inventory" and found["db-1"][1].startswith("last inventory 2 d ago")
    # web-1 fails twice: an overdue critical fix, and its hardening audit is late.
    web = [f for f in judge(db, "security", now).failing if f.name == "web-1"]
    assert {f.kind for f in web} == {"host", "hardening audit"}
    audit = next(f for f in web if f.kind == "hardening audit")
    assert audit.reason == "last audit 3 d ago (every 1d)"
    assert audit.link == "/security/hardening/web-1"
    overdue = next(f for f in web if f.kind == "host")
    assert "GHSA-1 in jinja2" in overdue.reason and overdue.link == "/security?host=web-1"


def test_the_servers_own_inventory_counts_and_new_sources_are_not_imported(
    db: Session,
) -> None:
    """An inventory collected on the server's host (no agent) is judged like an agent's;
    sources declared recently and never imported are unknown, not counted as imported."""
    apply_text(
        db,
        """
        security:
          sources:
            - {name: pypi, ecosystem: PyPI, path: /srv/osv/pypi.zip, schedule: "0 4 * * *"}
            - {name: go, ecosystem: Go, path: /srv/osv/go.zip, schedule: "0 4 * * *"}
          inventories:
            - {name: server, hosts: ["wk-server"], interval: 6h}
            - {name: stale, hosts: ["old-*"], interval: 6h}
        """,
    )
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    declared_at(db, now - timedelta(hours=1))
    db.add_all(
        [
            HostPackages(
                host="wk-server",
                ecosystem="PyPI",
                digest="a1",
                collected_at=now - timedelta(hours=1),
            ),
            HostPackages(
                host="old-1", ecosystem="PyPI", digest="b2", collected_at=now - timedelta(days=2)
            ),
        ]
    )
    db.commit()
    result = judge(db, "security", now)
    assert failing(result) == {
        "old-1": ("inventory", "last inventory 2 d ago (every 6h)", "/hosts/old-1")
    }
    assert {(u.name, u.reason) for u in result.unknown} == {
        ("pypi", "not imported yet (first import due 2025-03-02 04:00 UTC)"),
        ("go", "not imported yet (first import due 2025-03-02 04:00 UTC)"),
    }
    assert result.evidence[0] == (
        "2 OSV sources; 0 imported on schedule; 2 not imported yet "
        "(first import due 2025-03-02 04:00 UTC)."
    )
    assert result.evidence[1] == "2 hosts to inventory; 1 reported on time."
    assert (result.judged, result.ok) == (4, 3)  # and both inventoried hosts: no overdue fix


def test_compliance_controls_failing_and_stale(db: Session) -> None:
    apply_text(
        db,
        """
        compliance:
          interval: 15m
          controls:
            - name: WK-1
              title: Admins use MFA
              evidence: [{query: admins_have_mfa}]
            - name: WK-2
              title: Drills pass
              evidence: [{query: backup_drills_passed, within: 7d}]
        """,
    )
    now = utcnow()
    declared_at(db, now - timedelta(days=1))
    db.add_all(
        [
            ComplianceState(
                control="WK-1",
                status="fail",
                evaluated_at=now,
                evidence=[
                    {
                        "query": "admins_have_mfa",
                        "status": "fail",
                        "summary": "1 admin without MFA: ada",
                    }
                ],
            ),
            ComplianceState(control="WK-2", status="pass", evaluated_at=now - timedelta(hours=2)),
        ]
    )
    db.commit()
    found = failing(judge(db, "compliance", now))
    assert found["WK-1"][1:] == (
        "Admins use MFA: 1 admin without MFA: ada",
        "/compliance/controls/WK-1",
    )
    assert found["WK-2"][1] == "Drills pass: last evaluated 2 h ago (every 15m)"


def test_controls_never_evaluated_are_pending_not_passing(db: Session) -> None:
    apply_text(
        db,
        """
        compliance:
          interval: 15m
          controls:
            - name: WK-1
              title: Admins use MFA
              evidence: [{query: admins_have_mfa}]
            - name: WK-2
              title: Drills pass
              evidence: [{query: backup_drills_passed, within: 7d}]
        """,
    )
    now = utcnow()
    declared_at(db, now - timedelta(minutes=5))
    pending = judge(db, "compliance", now)
    assert (pending.status, pending.score, pending.judged) == ("unknown", None, 0)
    assert {(u.name, u.reason) for u in pending.unknown} == {
        ("WK-1", "Admins use MFA: not evaluated yet"),
        ("WK-2", "Drills pass: not evaluated yet"),
    }
    assert pending.evidence == (
        "2 controls apply; 0 pass; 2 not evaluated yet: evaluation pending (the compliance "
        "service evaluates every 15m).",
    )
    db.add(ComplianceState(control="WK-1", status="pass", evaluated_at=now))
    db.commit()
    one = judge(db, "compliance", now)
    assert (one.status, one.judged, one.ok, len(one.unknown)) == ("ok", 1, 1, 1)
    late = judge(db, "compliance", now + timedelta(hours=1))  # three intervals have passed
    assert failing(late)["WK-2"][1] == "Drills pass: never evaluated"


def test_oncall_people_without_contact_rules(db: Session) -> None:
    apply_text(
        db,
        """
        notifications:
          channels:
            - {name: ops, type: webhook, url: "http://127.0.0.1:9/hook"}
        oncall:
          people:
            - {name: ada, contact: [{channel: ops}]}
            - {name: bob}
          schedules:
            - name: primary
              layers: [{rotation: weekly, members: [ada, bob]}]
        """,
    )
    result = judge(db, "oncall", utcnow())
    assert failing(result) == {
        "bob": ("person", "has no contact rule: a page cannot reach them", "/oncall")
    }
    assert result.evidence[0].startswith("1 of 1 schedule covered now: ")


def test_sections_not_in_the_plan_are_empty(db: Session) -> None:
    apply_text(db, CHECKS)
    now = utcnow()
    for name in ("alerts", "backups", "databases", "security", "access", "compliance", "logs"):
        assert judge(db, name, now).status == "empty", name
    # Declared with settings only: nothing to judge, so not "followed" at 100%.
    apply_text(db, CHECKS + "security: {fix_age: 7d}\n")
    result = judge(db, "security", now)
    assert (result.status, result.score, result.counted) == ("empty", None, False)


LOGS = """
logs:
  syslog: {tcp: "127.0.0.1:5514"}
  default_retention: 7d
  retention:
    - {name: audit, match: '{stream="audit"}', keep: 365d}
  files:
    - {name: nginx, hosts: ["web-*"], paths: ["/var/log/nginx/*.log"]}
  journald:
    - {name: units, hosts: ["db-*"]}
"""


def _line(ago: timedelta, **labels: str) -> LogLine:
    ts = int((NOW - ago).timestamp() * 1e9)
    return LogLine(ts, ts, tuple(sorted(labels.items())), "a line")


def test_silent_log_sources_and_retention_not_applied(db: Session, tmp_path: Path) -> None:
    apply_text(db, LOGS)
    db.add_all([Host(name="web-1", last_seen=NOW), Host(name="db-1", last_seen=NOW)])
    db.commit()
    store = ChunkStore(tmp_path / "logs")
    try:
        nginx = {"source": "file", "host": "web-1", "filename": "/var/log/nginx/access.log"}
        store.append(
            [
                _line(timedelta(hours=1), **nginx),
                _line(timedelta(days=3), source="journald", host="db-1", unit="cron.service"),
                _line(timedelta(days=10), source="file", host="web-1", filename="/var/log/old.log"),
                _line(timedelta(days=100), stream="audit"),  # kept 365 days: fine
            ]
        )
        store.flush()
        result = judge(db, "logs", NOW, logs=store)
    finally:
        store.close()
    found = failing(result)
    assert set(found) == {"units", "tcp 127.0.0.1:5514", "default retention"}
    kind, reason, link = found["units"]
    assert kind == "journald source"
    assert reason.startswith("no line since ") and "(1 agent host match db-*)" in reason
    assert reason.endswith("expected within 1d")
    assert link == "/logs?q=%7Bsource%3D%22journald%22%7D&range=24h"
    assert found["tcp 127.0.0.1:5514"][1].startswith("no line received yet")
    kind, reason, link = found["default retention"]
    assert 'filename="/var/log/old.log"' in reason and "retention is not being applied" in reason
    assert link == "/logs/streams"
    assert (result.ok, result.judged) == (2, 5)  # nginx and the audit rule are fine


def test_logs_are_unknown_without_the_log_store(db: Session) -> None:
    apply_text(db, LOGS)
    result = judge(db, "logs", NOW)
    assert result.status == "unknown" and result.score is None
    assert {u.name for u in result.unknown} == {
        "nginx",
        "units",
        "tcp 127.0.0.1:5514",
        "log retention",
    }


METRICS = """
metrics:
  scrape:
    - {job: node, targets: ["10.0.0.1:9100", "10.0.0.2:9100", "10.0.0.3:9100"], interval: 30s}
"""


def test_scrape_targets_down_or_not_scraped(db: Session) -> None:
    apply_text(db, METRICS)
    store = MetricStore(db.get_bind())  # type: ignore[arg-type]
    ms = int(NOW.timestamp() * 1000)

    def up(instance: str, value: float, ago_s: int) -> tuple[Labels, list[tuple[int, float]]]:
        labels = make_labels({"__name__": "up", "job": "node", "instance": instance})
        return labels, [(ms - ago_s * 1000, value)]

    store.write(
        [up("10.0.0.1:9100", 1, 20), up("10.0.0.2:9100", 0, 20), up("10.0.0.3:9100", 1, 600)]
    )
    db.add(
        ScheduledJob(
            name="metrics.retention", next_run_at=NOW, last_finished_at=NOW, last_status="ok"
        )
    )
    db.commit()
    found = failing(judge(db, "metrics", NOW, metrics=store))
    assert set(found) == {"node/10.0.0.2:9100", "node/10.0.0.3:9100"}
    assert found["node/10.0.0.2:9100"][1] == "does not answer scrapes (up is 0)"
    assert found["node/10.0.0.3:9100"][1] == "not scraped in the last 2 min (every 30s)"
    assert found["node/10.0.0.3:9100"][2] == "/query?q=up%7Bjob%3D%22node%22%7D"
