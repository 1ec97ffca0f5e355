"""A store the knowledge tests share: a plan with checks, services (with a dependency
cycle), a backup policy, a database, on-call schedules and escalation policies; two hosts,
check states, backup runs and a runbook, at a fixed moment."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.knowledge.runbooks import create_runbook
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import BackupRun, CheckStatus, Host

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
PLAN = """
name: Example shop
checks:
  - {name: shop-web, type: tcp, host: 127.0.0.1, port: 1, tags: ["service:web"]}
  - {name: orders-api, type: tcp, host: 127.0.0.1, port: 2, team: shop}
  - {name: redis, type: tcp, host: 127.0.0.1, port: 3}
notifications:
  channels:
    - {name: ops, type: webhook, url: "http://127.0.0.1:9/hook"}
releases:
  services:
    - {name: web, team: shop, depends_on: [orders-api]}
    - {name: orders-api, team: shop, depends_on: [worker, orders-db]}
    - {name: worker, team: ops, depends_on: [orders-api]}
    - {name: orders-db, team: data, runbooks: [orders-db-failover]}
backups:
  repositories:
    - {name: local, url: /var/backups/restic, password: s3cret-repo-passphrase}
  policies:
    - name: orders-db
      source: {type: files, paths: [/srv/orders]}
      repositories: [local]
      schedule: "0 */6 * * *"
databases:
  targets:
    - {name: app-db, type: sqlite, path: /srv/app/app.db, team: data}
oncall:
  people:
    - {name: alice, full_name: Alice Moreau, email: alice@example.com}
    - {name: bob, full_name: Bob Li}
    - {name: carol, full_name: Carol Ng}
  schedules:
    - name: primary
      layers: [{members: [alice]}]
    - name: secondary
      layers: [{members: [carol]}]
  escalation_policies:
    - name: default
      steps: [{notify: [{schedule: primary}]}, {notify: [{person: bob}]}]
    - name: databases
      steps: [{notify: [{person: alice}, {channel: ops}]}]
    - name: others
      steps: [{notify: [{schedule: secondary}]}]
"""
INVENTORY: dict[str, Any] = {
    "os": {"name": "Debian GNU/Linux", "version": "12 (bookworm)", "id": "debian"},
    "kernel": "6.1.0-18-amd64",
    "cpu": {"logical": 4, "physical": 2, "model": "Intel(R) Xeon(R) Gold 6248R"},
    "memory_bytes": 16 * 2**30,
    "disks": [
        {"mountpoint": "/", "device": "/dev/sda1", "fstype": "ext4", "size_bytes": 40 * 2**30},
        {"mountpoint": "/var/lib/postgresql", "device": "/dev/sdb", "size_bytes": 500 * 2**30},
    ],
    "addresses": {"eth0": ["192.0.2.10", "2001:db8::10"], "lo": ["127.0.0.1", "::1"]},
    "packages": {"manager": "dpkg", "count": 812},
}
RUNBOOK = """---
title: Orders database failover
services: [orders-db]
tags: [database, failover]
---
# Orders database failover

Promote the replica, then point the API at it. See the [DR runbook](https://example.com/dr).

<script>alert("x")</script>
"""
OTHER_RUNBOOK = """---
title: Cache flush
services: [redis]
---
Flush the cache with `redis-cli FLUSHALL`. Orders slow after it? See
[the failover](/runbooks/orders-db-failover).
"""


def apply_text(db: Session, text: str) -> None:
    """Apply the plan ``text`` (YAML) and commit."""
    apply_plan(db, load_plan_text(textwrap.dedent(text), env={}))
    db.commit()


def seed(db: Session, *, runbooks: bool = True) -> None:
    """The plan, hosts, check states, backup runs (and the runbooks), committed."""
    apply_text(db, PLAN)
    db.add_all(
        [
            Host(
                name="db-1",
                first_seen=NOW - timedelta(days=20),
                last_seen=NOW - timedelta(seconds=20),
                agent_version="0.2.0",
                inventory=INVENTORY,
            ),
            Host(
                name="web-2",
                first_seen=NOW - timedelta(days=3),
                last_seen=NOW - timedelta(hours=2),
                inventory={"os": {"name": "Ubuntu", "version": "24.04 LTS"}},
            ),
            CheckStatus(name="shop-web", status="up", changed_at=NOW - timedelta(days=2)),
            CheckStatus(
                name="orders-api",
                status="down",
                changed_at=NOW - timedelta(minutes=12),
                last_message="connection refused",
            ),
            BackupRun(
                policy="orders-db",
                repository="local",
                kind="backup",
                status="succeeded",
                started_at=NOW - timedelta(hours=3),
                finished_at=NOW - timedelta(hours=3) + timedelta(minutes=4),
                snapshot_id="4f2a9c1e",
                bytes_total=3 * 2**30,
            ),
            BackupRun(
                policy="orders-db",
                repository="local",
                kind="drill",
                status="failed",
                started_at=NOW - timedelta(days=1),
                finished_at=NOW - timedelta(days=1) + timedelta(minutes=9),
                error="row counts differ",
            ),
        ]
    )
    if runbooks:
        actor = Actor("alice")
        create_runbook(db, RUNBOOK, actor, NOW - timedelta(days=10), slug="orders-db-failover")
        create_runbook(db, OTHER_RUNBOOK, actor, NOW - timedelta(days=40), slug="cache-flush")
    db.commit()
