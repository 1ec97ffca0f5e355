"""Backups test support: a plan with repositories and policies, and BackupRun rows."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tests.conftest import remember_secret
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import BackupRun

REPO_PASSWORD = remember_secret("repo-password-do-not-show")
URL_PASSWORD = remember_secret("rest-url-password-hidden")
DB_PASSWORD = remember_secret("db-password-never-shown")
AWS_SECRET = remember_secret("aws-secret-key-kept-out")
SECRETS = (REPO_PASSWORD, URL_PASSWORD, DB_PASSWORD, AWS_SECRET)

PLAN = f"""
backups:
  repositories:
    - name: local
      url: /var/backups/restic
      password: {REPO_PASSWORD}
    - name: offsite
      url: rest:https://backup:{URL_PASSWORD}@rest.example.com:8000/wk
      password: {REPO_PASSWORD}
      env:
        AWS_SECRET_ACCESS_KEY: {AWS_SECRET}
  policies:
    - name: orders-db
      description: The shop's orders.
      source:
        type: postgres
        url: postgresql://backup:{DB_PASSWORD}@db.internal:5432/postgres
        databases: [orders, billing]
      repositories: [local, offsite]
      schedule: "0 */6 * * *"
      retention: {{keep_daily: 7, keep_weekly: 4}}
      freshness: {{max_size_change: 50}}
    - name: uploads
      source: {{type: files, paths: [/srv/uploads], exclude: ["*.tmp"]}}
      repositories: [local]
      freshness: {{max_age: 3h}}
    - name: shop-mariadb
      source: {{type: mariadb, url: "mysql://root@127.0.0.1:3306/", databases: [shop]}}
      repositories: [offsite]
      drill: null
"""


def apply_backups_plan(db: Session) -> None:
    apply_plan(db, load_plan_text(textwrap.dedent(PLAN), env={}))
    db.commit()


def add_run(
    db: Session,
    policy: str,
    *,
    started: datetime,
    kind: str = "backup",
    status: str = "succeeded",
    repository: str = "local",
    seconds: float = 60.0,
    **fields: Any,
) -> BackupRun:
    """Add one run that started at ``started`` and (unless running) took ``seconds``."""
    row = BackupRun(
        policy=policy,
        repository=repository,
        kind=kind,
        status=status,
        started_at=started,
        finished_at=None if status == "running" else started + timedelta(seconds=seconds),
        duration_s=None if status == "running" else seconds,
        **fields,
    )
    db.add(row)
    db.flush()
    return row
