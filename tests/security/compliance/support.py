"""Compliance test support: a plan applied to the store, and the rows the other domains
write (users and second factors, backup runs, incidents, findings) as they write them."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.security.compliance.evidence import Evidence, registry
from watchkeeper.store.tables import (
    BackupRun,
    TotpCredential,
    User,
    WebAuthnCredential,
)

NOW = datetime.fromisoformat("2026-12-06T12:00:00+00:00")


def apply(db: Session, text: str) -> None:
    """Apply the plan ``text`` (dedented) to the store."""
    apply_plan(db, load_plan_text(textwrap.dedent(text), env={}))
    db.commit()


def run(db: Session, query: str, now: datetime = NOW, **params: Any) -> Evidence:
    """Run evidence query ``query`` with ``params`` as the plan would give them."""
    found = registry.get(query)
    assert found is not None, query
    return found.evaluate(db, params, now)


def add_user(
    db: Session,
    username: str,
    role: str = "admin",
    *,
    kind: str = "human",
    mfa: str | None = None,
    last_login: datetime | None = None,
    created: datetime = NOW - timedelta(days=400),
    disabled: bool = False,
) -> User:
    """A user as the accounts code makes one; ``mfa`` is "totp", "totp-unconfirmed" or
    "key"."""
    user = User(
        username=username,
        role=role,
        kind=kind,
        disabled=disabled,
        created_at=created,
        last_login_at=last_login,
        password_hash=None,
    )
    db.add(user)
    db.flush()
    if mfa in ("totp", "totp-unconfirmed"):
        db.add(
            TotpCredential(
                user_id=user.id, secret_enc="wk1:00000000:c2VhbGVk", confirmed=mfa == "totp"
            )
        )
    elif mfa == "key":
        db.add(
            WebAuthnCredential(
                user_id=user.id, credential_id=f"cred-{username}", public_key="pk", name="yubikey"
            )
        )
    db.flush()
    return user


def add_backup_run(
    db: Session,
    policy: str,
    *,
    kind: str = "backup",
    status: str = "succeeded",
    ended: datetime,
    repository: str = "local",
    seconds: float = 60.0,
    **fields: Any,
) -> BackupRun:
    """A finished backup run that ended at ``ended``."""
    row = BackupRun(
        policy=policy,
        repository=repository,
        kind=kind,
        status=status,
        started_at=ended - timedelta(seconds=seconds),
        finished_at=ended,
        duration_s=seconds,
        **fields,
    )
    db.add(row)
    db.flush()
    return row


BACKUPS_PLAN = """
backups:
  repositories:
    - {name: local, url: /srv/restic/local, password: "${RESTIC_PW:-repository-password-1}"}
    - {name: offsite, url: /srv/restic/offsite, password: "${RESTIC_PW:-repository-password-1}"}
  policies:
    - name: db-main
      source: {type: sqlite, path: /srv/app/app.db}
      repositories: [local, offsite]
      schedule: "0 2 * * *"
    - name: files
      source: {type: files, paths: [/srv/uploads]}
      repositories: [local]
      schedule: "0 3 * * *"
      drill: null
"""
