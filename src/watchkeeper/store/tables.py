"""Tables of the store. Every change here needs an Alembic migration in ``migrations/``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from watchkeeper.store.sealed_json import SealedJSON


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Meta(Base):
    """Small key/value facts about this installation (e.g. the pending setup token)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    role: Mapped[str] = mapped_column(String(20), default="viewer")
    kind: Mapped[str] = mapped_column(String(10), default="human")  # human | service
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class WebSession(Base):
    """A signed-in browser session; the cookie holds a token whose SHA-256 is ``id``."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    client_addr: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    # "full" once signed in; "mfa" between password and second factor; "enrol" while a
    # user whose role requires MFA sets it up. Only "full" sessions reach the application.
    stage: Mapped[str] = mapped_column(String(10), default="full")
    challenge: Mapped[str | None] = mapped_column(Text, default=None)  # pending WebAuthn


class StoredObject(Base):
    """An object declared by the plan (``managed``) or made in the UI/API."""

    __tablename__ = "objects"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_objects_kind_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(128))
    # Secret values are sealed (plan/sealing.py seals on write, store/sealed_json.py opens on read).
    spec: Mapped[dict[str, Any]] = mapped_column(SealedJSON)
    managed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(150), default="")


class PlanApply(Base):
    """One application of the plan file to the store."""

    __tablename__ = "plan_applies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    file: Mapped[str] = mapped_column(String(1000))
    digest: Mapped[str] = mapped_column(String(64))
    plan_name: Mapped[str] = mapped_column(String(200), default="")
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(150), default="")


class ScheduledJob(Base):
    """When each scheduled job runs next; claimed with a conditional UPDATE."""

    __tablename__ = "scheduled_jobs"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column()
    last_started_at: Mapped[datetime | None] = mapped_column(default=None)
    last_finished_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status: Mapped[str] = mapped_column(String(20), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    run_count: Mapped[int] = mapped_column(Integer, default=0)


class LoginFailure(Base):
    """A failed sign-in, kept for the throttling windows (purged after a day)."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(150), index=True)
    client_addr: Mapped[str] = mapped_column(String(64), index=True)


class TotpCredential(Base):
    """A user's TOTP secret (encrypted) and the last time step accepted (no replays)."""

    __tablename__ = "totp_credentials"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_enc: Mapped[str] = mapped_column(Text)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebAuthnCredential(Base):
    """A security key or passkey registered by a user."""

    __tablename__ = "webauthn_credentials"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[str] = mapped_column(Text)  # base64url COSE key
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiToken(Base):
    """A bearer token for the API; only its SHA-256 is stored, ``prefix`` identifies it."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TeamMember(Base):
    __tablename__ = "team_members"
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class AuditEntry(Base):
    """One entry of the audit trail; ``hash`` chains it to the entry before."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(150), index=True)
    client_addr: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict[str, Any]] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row holding the chain's last entry; locking it serialises appends."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class CheckStatus(Base):
    """The current state of each check (restored by the runner after a restart)."""

    __tablename__ = "check_status"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_ok: Mapped[bool | None] = mapped_column(Boolean, default=None)
    last_message: Mapped[str] = mapped_column(String(500), default="")
    last_response_ms: Mapped[float | None] = mapped_column(Float, default=None)
    cert_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class CheckResult(Base):
    """One run of a check; kept raw for ``RAW_RETENTION``, then only as hourly rollups."""

    __tablename__ = "check_results"
    __table_args__ = (Index("ix_check_results_name_at", "name", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column()
    ok: Mapped[bool] = mapped_column(Boolean)
    response_ms: Mapped[float | None] = mapped_column(Float, default=None)
    message: Mapped[str] = mapped_column(String(500), default="")


class CheckRollup(Base):
    """Per check and hour: runs, successes and response times."""

    __tablename__ = "check_rollups"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    runs: Mapped[int] = mapped_column(Integer)
    ok_runs: Mapped[int] = mapped_column(Integer)
    response_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    response_ms_max: Mapped[float | None] = mapped_column(Float, default=None)


class CheckEvent(Base):
    """A change of a check's status: what the alerts domain consumes."""

    __tablename__ = "check_events"
    __table_args__ = (Index("ix_check_events_name_at", "name", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column()
    from_status: Mapped[str] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(String(500), default="")


class Heartbeat(Base):
    """The push URL key of each heartbeat check, kept when the check is renamed or re-keyed."""

    __tablename__ = "heartbeats"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HeartbeatPing(Base):
    """One call of a heartbeat's push URL: success, start, fail (or an exit status), log."""

    __tablename__ = "heartbeat_pings"
    __table_args__ = (Index("ix_heartbeat_pings_name_at", "name", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    exit_status: Mapped[int | None] = mapped_column(Integer, default=None)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")


class MetricSeries(Base):
    """One time series: a metric name and its label set (``labels`` includes ``__name__``)."""

    __tablename__ = "metric_series"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32), unique=True)
    metric: Mapped[str] = mapped_column(String(200), index=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetricSample(Base):
    """A recent raw sample (the head); compaction moves whole hours into ``metric_chunks``.

    Keyed by time first: new samples append at the end of the tree, so writing one sample
    for each of thousands of series touches a few pages, not one page per series.
    """

    __tablename__ = "metric_samples"
    __table_args__ = (PrimaryKeyConstraint("ts", "series_id"), {"sqlite_with_rowid": False})
    series_id: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[int] = mapped_column(BigInteger)
    # The value's IEEE-754 bits: SQLite stores a NaN as NULL, and a staleness marker is a
    # NaN whose exact bits matter.
    bits: Mapped[int] = mapped_column(BigInteger)


class MetricChunk(Base):
    """One series' raw samples of one hour, packed (see ``watchkeeper.metrics.chunks``)."""

    __tablename__ = "metric_chunks"
    __table_args__ = {"sqlite_with_rowid": False}
    series_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    start_ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    end_ts: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class MetricRollup(Base):
    """Per series and 5-minute or 1-hour bucket: min, max, sum, count and last value."""

    __tablename__ = "metric_rollups"
    __table_args__ = {"sqlite_with_rowid": False}
    series_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    min: Mapped[float] = mapped_column(Float(precision=53))
    max: Mapped[float] = mapped_column(Float(precision=53))
    sum: Mapped[float] = mapped_column(Float(precision=53))
    count: Mapped[int] = mapped_column(Integer)
    last: Mapped[float] = mapped_column(Float(precision=53))


class Host(Base):
    """A host known from its agent: inventory and when it last reported."""

    __tablename__ = "hosts"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    agent_version: Mapped[str] = mapped_column(String(40), default="")
    inventory: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Alert(Base):
    """One alert: a rule and a label set, pending, firing or resolved (kept as history)."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("rule", "fingerprint", "active_at", name="uq_alerts_rule_fp_active"),
        Index("ix_alerts_state", "state"),
        Index("ix_alerts_fingerprint", "fingerprint"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(32))
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    severity: Mapped[str] = mapped_column(String(10), default="warning")
    state: Mapped[str] = mapped_column(String(10))  # pending | firing | resolved
    value: Mapped[float | None] = mapped_column(Float(precision=53), default=None)
    active_at: Mapped[datetime] = mapped_column()
    fired_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    last_true_at: Mapped[datetime] = mapped_column()
    # "" | "silenced" | "inhibited" | "maintenance", and by what (silence ids, ...)
    muted: Mapped[str] = mapped_column(String(12), default="")
    muted_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AlertEvent(Base):
    """A change in an alert's life: pending, firing, resolved, muted, unmuted."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_alert_at", "alert_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(index=True)
    event: Mapped[str] = mapped_column(String(20))
    value: Mapped[float | None] = mapped_column(Float(precision=53), default=None)
    detail: Mapped[str] = mapped_column(String(500), default="")


class Silence(Base):
    """Mute alerts matching ``matchers`` from ``starts_at`` to ``ends_at``."""

    __tablename__ = "silences"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    matchers: Mapped[list[str]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AlertGroup(Base):
    """An aggregation group of the routing tree and what it last notified."""

    __tablename__ = "alert_groups"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    route: Mapped[str] = mapped_column(String(200))
    receivers: Mapped[list[str]] = mapped_column(JSON)
    group_labels: Mapped[dict[str, str]] = mapped_column(JSON)
    first_at: Mapped[datetime] = mapped_column()
    last_flush_at: Mapped[datetime | None] = mapped_column(default=None)
    # fingerprint -> "firing" | "resolved", as last notified
    notified: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    flushes: Mapped[int] = mapped_column(Integer, default=0)


class OutboxNotification(Base):
    """A notification to deliver: written before any attempt, so none is ever lost."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status_next", "status", "next_attempt_at"),
        Index("ix_notifications_channel_group", "channel", "group_key", "status", "id"),
        Index("ix_notifications_group_key", "group_key"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    batch: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(128))
    group_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(String(1000), default="")
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class Incident(Base):
    """An incident: opened from an alert group or by hand, acknowledged, resolved."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status", "status"),
        Index("ix_incidents_group_key", "group_key"),
        Index("ix_incidents_opened_at", "opened_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(4))  # SEV1..SEV4
    status: Mapped[str] = mapped_column(String(12))  # triggered | acknowledged | resolved
    group_key: Mapped[str | None] = mapped_column(String(64), default=None)
    team: Mapped[str] = mapped_column(String(128), default="")
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    assignees: Mapped[list[str]] = mapped_column(JSON, default=list)
    commander: Mapped[str] = mapped_column(String(128), default="")
    escalation_policy: Mapped[str] = mapped_column(String(128), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    drill: Mapped[str] = mapped_column(String(128), default="")  # the drill's name, if one
    opened_at: Mapped[datetime] = mapped_column()
    opened_by: Mapped[str] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str] = mapped_column(String(128), default="")
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class IncidentAlert(Base):
    """An alert that belongs to an incident."""

    __tablename__ = "incident_alerts"
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column()
    resolved_seen: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class IncidentEvent(Base):
    """One entry of an incident's timeline, time-stamped and attributed."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident_at", "incident_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Escalation(Base):
    """Where an incident's escalation stands; the timer lives here, so it survives restarts."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_state_next", "state", "next_at"),)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[str] = mapped_column(String(128))
    step: Mapped[int] = mapped_column(Integer, default=0)  # the next step to run
    loop: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(12))  # active | stopped | exhausted
    started_at: Mapped[datetime] = mapped_column()  # a restarted escalation pages anew
    next_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OncallOverride(Base):
    """Someone covers a schedule for a while ("I cover Tuesday")."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index("ix_oncall_overrides_schedule_end", "schedule", "ends_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    schedule: Mapped[str] = mapped_column(String(128))
    person: Mapped[str] = mapped_column(String(128))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusUpdate(Base):
    """A public update on a status page: about an incident, or scheduled maintenance."""

    __tablename__ = "status_updates"
    __table_args__ = (Index("ix_status_updates_page_posted", "page", "posted_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    page: Mapped[str] = mapped_column(String(128))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), default=None
    )
    # investigating | identified | monitoring | resolved | maintenance
    status: Mapped[str] = mapped_column(String(14))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    components: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime | None] = mapped_column(default=None)  # maintenance
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    posted_at: Mapped[datetime] = mapped_column()
    posted_by: Mapped[str] = mapped_column(String(128))


class TrackerLink(Base):
    """An issue opened in an external tracker for an incident."""

    __tablename__ = "tracker_links"
    __table_args__ = (
        UniqueConstraint("incident_id", "tracker", name="uq_tracker_links_incident_tracker"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    tracker: Mapped[str] = mapped_column(String(128))
    external_id: Mapped[str] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column()
    synced_at: Mapped[datetime | None] = mapped_column(default=None)


class Postmortem(Base):
    """An incident's postmortem, in Markdown."""

    __tablename__ = "postmortems"
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="draft")  # draft | published
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(128))


class ActionItem(Base):
    """A follow-up from a postmortem, with an owner and a due date."""

    __tablename__ = "action_items"
    __table_args__ = (Index("ix_action_items_done", "done_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str] = mapped_column(String(128), default="")
    due: Mapped[datetime | None] = mapped_column(default=None)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(128))


class DrillRun(Base):
    """One run of a drill: when it started, when it was acknowledged, how it ended."""

    __tablename__ = "drill_runs"
    __table_args__ = (Index("ix_drill_runs_name_started", "name", "started_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL"), default=None
    )
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), default=None
    )
    started_at: Mapped[datetime] = mapped_column()
    started_by: Mapped[str] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str] = mapped_column(String(128), default="")
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    result: Mapped[str] = mapped_column(
        String(12), default="running"
    )  # running|acknowledged|missed


class LogSavedSearch(Base):
    """A log query saved by a user from the explorer; ``shared`` ones are visible to all."""

    __tablename__ = "log_saved_searches"
    __table_args__ = (Index("ix_log_saved_searches_user", "user_id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    query: Mapped[str] = mapped_column(Text)
    time_range: Mapped[str] = mapped_column(String(100), default="")  # "1h" or "start,end"
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LogQueryHistory(Base):
    """A query a user ran in the log explorer (the last 50 per user are kept)."""

    __tablename__ = "log_query_history"
    __table_args__ = (Index("ix_log_query_history_user_at", "user_id", "ran_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    query: Mapped[str] = mapped_column(Text)
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)


class BackupRun(Base):
    """One run of a backup policy's work against one repository: a backup, a copy, a
    retention pass (`forget`), an integrity check, a restore drill or a restore.

    ``details`` holds what the kind measures: the snapshot's row counts and sizes (backup),
    the snapshots removed (forget), the verification results and measured RTO/RPO (drill),
    and the live progress while ``status`` is ``running``."""

    __tablename__ = "backup_runs"
    __table_args__ = (
        Index("ix_backup_runs_policy_kind_started", "policy", "kind", "started_at"),
        Index("ix_backup_runs_status", "status"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    policy: Mapped[str] = mapped_column(String(128))
    repository: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(16))  # backup copy forget check drill restore
    status: Mapped[str] = mapped_column(String(16), default="running")  # + succeeded failed
    trigger: Mapped[str] = mapped_column(String(64), default="schedule")  # or a user name
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    snapshot_id: Mapped[str] = mapped_column(String(64), default="")
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_added: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    rto_s: Mapped[float | None] = mapped_column(Float, default=None)
    rpo_s: Mapped[float | None] = mapped_column(Float, default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DbHealth(Base):
    """The latest health collection of one database of the plan's ``databases`` section.

    ``details`` holds what the collector read (tables, indexes, queries, sessions, locks,
    settings) and ``findings`` what the thresholds made of it; their history lives in the
    metrics store as ``watchkeeper_db_*`` series."""

    __tablename__ = "db_health"
    database: Mapped[str] = mapped_column(String(128), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))  # postgres mariadb mysql sqlite
    collected_at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    error: Mapped[str] = mapped_column(Text, default="")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    queries: Mapped[int] = mapped_column(Integer, default=0)  # statements the collection ran
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    score: Mapped[int] = mapped_column(Integer, default=100)  # 0..100
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Collections failed in a row (0 after a good one); details/findings stay the last good.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_ok_at: Mapped[datetime | None] = mapped_column(default=None)


class DbQueryText(Base):
    """The text of a statement seen in ``pg_stat_statements`` (or a MariaDB digest); its
    counters are metrics series labelled with ``queryid``."""

    __tablename__ = "db_query_texts"
    database: Mapped[str] = mapped_column(String(128), primary_key=True)
    queryid: Mapped[str] = mapped_column(String(64), primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class DbMaintenanceRun(Base):
    """One run of a maintenance task (or a dry run): the statements it ran, each with its
    target, SQL, before/after figures (size, bloat, dead tuples), duration and outcome."""

    __tablename__ = "db_maintenance_runs"
    __table_args__ = (Index("ix_db_maintenance_runs_db_started", "database", "started_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    database: Mapped[str] = mapped_column(String(128))
    task: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")  # succeeded failed skipped
    trigger: Mapped[str] = mapped_column(String(64), default="schedule")  # or a user name
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class DbDismissal(Base):
    """A recommendation of the advisor dismissed with a reason (until it changes)."""

    __tablename__ = "db_dismissals"
    database: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    until: Mapped[datetime | None] = mapped_column(default=None)
    # The finding as it was when dismissed: it shows again once it gets worse.
    finding: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class OsvImport(Base):
    """One import of an OSV dump (a ``security.sources`` entry): what it added, changed and
    removed. ``fingerprint`` (the dump's SHA-256, or the mirror's ETag/Last-Modified) lets
    the next import skip a dump that did not change."""

    __tablename__ = "osv_imports"
    __table_args__ = (Index("ix_osv_imports_source_started", "source", "started_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    ecosystem: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="running")  # succeeded failed unchanged
    trigger: Mapped[str] = mapped_column(String(64), default="schedule")  # or a user name
    forced: Mapped[bool] = mapped_column(Boolean, default=False)  # allowed to remove many
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    records_total: Mapped[int] = mapped_column(Integer, default=0)
    records_added: Mapped[int] = mapped_column(Integer, default=0)
    records_updated: Mapped[int] = mapped_column(Integer, default=0)
    records_removed: Mapped[int] = mapped_column(Integer, default=0)
    records_skipped: Mapped[int] = mapped_column(Integer, default=0)  # unreadable records
    fingerprint: Mapped[str] = mapped_column(String(255), default="")
    error: Mapped[str] = mapped_column(Text, default="")


class OsvVulnerability(Base):
    """One OSV record as imported: the full record in ``record``; the fields the findings
    need (severity, score, aliases, summary) next to it."""

    __tablename__ = "osv_vulnerabilities"
    __table_args__ = (Index("ix_osv_vulnerabilities_source", "source"),)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    modified: Mapped[datetime] = mapped_column()
    published: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn: Mapped[datetime | None] = mapped_column(default=None)
    summary: Mapped[str] = mapped_column(Text, default="")
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    severity: Mapped[str] = mapped_column(String(16), default="unknown")  # critical..low unknown
    score: Mapped[float | None] = mapped_column(Float, default=None)  # CVSS base score
    record: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OsvAffected(Base):
    """A package a vulnerability affects, with its OSV ranges and explicit versions: the
    index the scan looks packages up in (``ecosystem`` as OSV writes it, ``Debian:12``;
    ``package`` normalised for the ecosystem, e.g. PEP 503 for PyPI)."""

    __tablename__ = "osv_affected"
    __table_args__ = (Index("ix_osv_affected_ecosystem_package", "ecosystem", "package"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    vuln_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("osv_vulnerabilities.id", ondelete="CASCADE"), index=True
    )
    ecosystem: Mapped[str] = mapped_column(String(64))
    package: Mapped[str] = mapped_column(String(255))
    ranges: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    versions: Mapped[list[str]] = mapped_column(JSON, default=list)


class HostPackages(Base):
    """One inventory of installed software on a host: one Python environment, lock file,
    the Debian packages, the running kernel or the available OS updates (``ecosystem``
    ``PyPI``, ``npm``, ``Debian``, ``kernel``, ``os-updates``), with the day it was
    collected. ``packages`` is ``[[name, version], ...]`` (``os-updates``: ``[[name,
    candidate, installed, origin], ...]``); ``digest`` spots an unchanged inventory."""

    __tablename__ = "host_packages"
    __table_args__ = (
        Index(
            "ix_host_packages_host_kind_collected", "host", "ecosystem", "location", "collected_at"
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    ecosystem: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(1024), default="")  # venv, lock file, "dpkg"
    distro: Mapped[str] = mapped_column(String(64), default="")  # OSV ecosystem suffix: "12"
    collected_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    digest: Mapped[str] = mapped_column(String(64), default="")
    packages: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    # Why the location could not be read at the last try ("" when it could); the packages
    # stay those of the last good collection.
    error: Mapped[str] = mapped_column(Text, default="")
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # unpinned or version-less entries
    # When these packages were first collected (collected_at: last confirmed).
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecurityFinding(Base):
    """A vulnerable package on a host: open while the host's latest inventory still has the
    affected version, resolved when it does not (and reopened if it comes back)."""

    __tablename__ = "security_findings"
    __table_args__ = (
        UniqueConstraint("host", "ecosystem", "location", "package", "vuln_id"),
        Index("ix_security_findings_open", "resolved_at", "severity"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    ecosystem: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(1024), default="")
    package: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255))
    vuln_id: Mapped[str] = mapped_column(String(128))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16), default="unknown")
    score: Mapped[float | None] = mapped_column(Float, default=None)
    fixed_version: Mapped[str] = mapped_column(String(255), default="")  # "" when no fix exists
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    fix_seen: Mapped[datetime | None] = mapped_column(default=None)  # first seen with a fix
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class SecuritySuppression(Base):
    """A suppression made in the UI or API (the plan's ``security.suppressions`` live with
    the plan): a vulnerability (id or alias glob) accepted for a package and hosts."""

    __tablename__ = "security_suppressions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    vulnerability: Mapped[str] = mapped_column(String(128))
    package: Mapped[str] = mapped_column(String(255), default="*")
    host: Mapped[str] = mapped_column(String(200), default="*")
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class PatchAction(Base):
    """Upgrade ``package`` on ``host`` from ``from_version`` to ``to_version``, fixing the
    vulnerabilities in ``vulns``; planned into a patch window, marked applied by a person,
    verified when an inventory shows the new version."""

    __tablename__ = "patch_actions"
    __table_args__ = (
        UniqueConstraint("host", "ecosystem", "location", "package", "from_version"),
        Index("ix_patch_actions_status", "status"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    ecosystem: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(1024), default="")
    package: Mapped[str] = mapped_column(String(255))
    from_version: Mapped[str] = mapped_column(String(255))
    to_version: Mapped[str] = mapped_column(String(255), default="")  # "" when no fix exists
    vulns: Mapped[list[str]] = mapped_column(JSON, default=list)
    severity: Mapped[str] = mapped_column(String(16), default="unknown")
    rank: Mapped[float] = mapped_column(Float, default=0.0)  # higher first
    status: Mapped[str] = mapped_column(String(16), default="planned")  # applied verified obsolete
    window: Mapped[str] = mapped_column(String(128), default="")
    scheduled_for: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(default=None)
    applied_by: Mapped[str] = mapped_column(String(128), default="")
    verified_at: Mapped[datetime | None] = mapped_column(default=None)


class HardeningRun(Base):
    """One hardening audit of a host: each check's outcome (``results``: ``[{id, status
    pass|fail|skip|error, detail}]``) and the hardening index, points earned / possible over
    the checks that ran."""

    __tablename__ = "hardening_runs"
    __table_args__ = (Index("ix_hardening_runs_host_ran", "host", "ran_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    profile: Mapped[str] = mapped_column(String(128), default="")
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
    points: Mapped[int] = mapped_column(Integer, default=0)
    possible: Mapped[int] = mapped_column(Integer, default=0)
    index: Mapped[float] = mapped_column(Float, default=0.0)  # 0..100
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Who sent an agent's run: the user and the API token prefix; "" for the server's own.
    pushed_by: Mapped[str] = mapped_column(String(120), default="")


class ComplianceState(Base):
    """A control's latest evaluation: status, evidence, since when, and the last time it
    passed."""

    __tablename__ = "compliance_state"
    control: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # pass fail unknown
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)
    since: Mapped[datetime] = mapped_column(default=utcnow)
    last_pass_at: Mapped[datetime | None] = mapped_column(default=None)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ComplianceEvent(Base):
    """A control's status change, with the evidence at that moment (its history)."""

    __tablename__ = "compliance_events"
    __table_args__ = (Index("ix_compliance_events_control_at", "control", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    control: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class PlanComplianceSnapshot(Base):
    """Whether each section of the plan is being followed, at one moment: the overall
    score and per section its status, score, evidence and failing objects. ``summary``
    holds only each section's ``[status, score]``, so that the trend reads little."""

    __tablename__ = "plan_compliance"
    __table_args__ = (Index("ix_plan_compliance_at", "evaluated_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)
    score: Mapped[float | None] = mapped_column(Float, default=None)  # 0..100; None: nothing judged
    sections: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ComplianceReport(Base):
    """A dated compliance report as issued: its canonical HTML and the digest, the Ed25519
    signature and the public key (hex) an auditor checks it against."""

    __tablename__ = "compliance_reports"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(255))
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(255), default="")
    public_key: Mapped[str] = mapped_column(String(64), default="")
    html: Mapped[str] = mapped_column(Text, deferred=True)
    # The PDF as issued (downloads serve these bytes, so its digest stays the one recorded).
    pdf: Mapped[bytes] = mapped_column(LargeBinary, default=b"", deferred=True)
    pdf_sha256: Mapped[str] = mapped_column(String(64), default="", index=True)
    # Controls per status at the end of the period ({"pass": 12, "fail": 1, ...}).
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Deploy(Base):
    """A deploy of one version of a service to an environment, as CI/CD recorded it; its
    release gate's verdict and the incident it caused, if any."""

    __tablename__ = "deploys"
    __table_args__ = (
        Index("ix_deploys_service_env_at", "service", "environment", "deployed_at"),
        Index("ix_deploys_deployed_at", "deployed_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    service: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(128))
    environment: Mapped[str] = mapped_column(String(128))
    commit_sha: Mapped[str] = mapped_column(String(64), default="")
    # Times of the commits this deploy brought to the environment (ISO strings, UTC); lead
    # time for changes runs from each of them (or from `first_commit_at`) to `deployed_at`.
    commit_times: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_commit_at: Mapped[datetime | None] = mapped_column(default=None)
    author: Mapped[str] = mapped_column(String(128), default="")
    link: Mapped[str] = mapped_column(String(1000), default="")
    changes: Mapped[str] = mapped_column(Text, default="")  # changelog text (Markdown)
    hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    previous_version: Mapped[str] = mapped_column(String(128), default="")
    previous_commit: Mapped[str] = mapped_column(String(64), default="")  # diff link's base
    # started | succeeded | failed | rolled_back (what CI/CD reports)
    status: Mapped[str] = mapped_column(String(16), default="succeeded")
    # pending | healthy | regressed | skipped (the release gate's verdict)
    gate: Mapped[str] = mapped_column(String(16), default="skipped")
    gate_detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gate_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    in_freeze: Mapped[str] = mapped_column(String(128), default="")  # freeze period's name
    incident_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), default=None, index=True
    )
    deployed_at: Mapped[datetime] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(128), default="")


class ErrorProjectKey(Base):
    """An error-tracking project's numeric id and DSN public key (the plan or the API
    declares the project; this row keeps what SDKs are configured with across applies)."""

    __tablename__ = "error_projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    public_key: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ErrorIssue(Base):
    """Events of one project grouped by fingerprint: what is shown, counted and triaged."""

    __tablename__ = "error_issues"
    __table_args__ = (
        UniqueConstraint("project_id", "fingerprint", name="uq_error_issues_fingerprint"),
        Index("ix_error_issues_project_last_seen", "project_id", "last_seen"),
        Index("ix_error_issues_last_seen", "last_seen"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    grouping: Mapped[str] = mapped_column(String(16))  # sdk | exception | message
    title: Mapped[str] = mapped_column(String(255))
    culprit: Mapped[str] = mapped_column(String(255), default="")
    level: Mapped[str] = mapped_column(String(16), default="error")
    # unresolved | resolved | resolved_next_release | ignored
    status: Mapped[str] = mapped_column(String(24), default="unresolved")
    assignee: Mapped[str | None] = mapped_column(String(150), default=None)
    team: Mapped[str] = mapped_column(String(128), default="")
    resolved_in_release: Mapped[str | None] = mapped_column(String(200), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    ignore_until_count: Mapped[int | None] = mapped_column(BigInteger, default=None)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    users: Mapped[int] = mapped_column(BigInteger, default=0)  # distinct users (hashed)
    first_release: Mapped[str | None] = mapped_column(String(200), default=None)
    last_release: Mapped[str | None] = mapped_column(String(200), default=None)


class ErrorIssueRelease(Base):
    """The releases an issue's events came from: when each was first and last seen."""

    __tablename__ = "error_issue_releases"
    issue_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("error_issues.id", ondelete="CASCADE"),
        primary_key=True,
    )
    release: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ErrorIssueUser(Base):
    """One user an issue affected: a hash of the user's id, e-mail or address, never those."""

    __tablename__ = "error_issue_users"
    issue_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("error_issues.id", ondelete="CASCADE"),
        primary_key=True,
    )
    user_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column()


class ErrorEvent(Base):
    """One event as stored (scrubbed): the latest ``events_per_issue`` of each issue, within
    ``event_retention``. ``payload`` is the event's JSON, zstd-compressed."""

    __tablename__ = "error_events"
    __table_args__ = (
        UniqueConstraint("project_id", "event_id", name="uq_error_events_event_id"),
        Index("ix_error_events_issue_id", "issue_id", "id"),
        Index("ix_error_events_received_at", "received_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    issue_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("error_issues.id", ondelete="CASCADE"),
    )
    project_id: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column()
    occurred_at: Mapped[datetime] = mapped_column()
    level: Mapped[str] = mapped_column(String(16))
    release: Mapped[str | None] = mapped_column(String(200), default=None)
    environment: Mapped[str | None] = mapped_column(String(64), default=None)
    user_hash: Mapped[str | None] = mapped_column(String(32), default=None)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class ErrorRateWindow(Base):
    """Events a project was sent in one minute, all replicas together (its rate limit)."""

    __tablename__ = "error_rate_windows"
    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Unix time // 60
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class Runbook(Base):
    """A runbook: a Markdown document with front matter, made in the UI/API (``source``
    "store") or read from the plan's runbooks folder ("folder", read-only). The columns
    after ``content`` are read from its front matter; ``search_text`` is the lowercased
    title, tags and body the search matches."""

    __tablename__ = "runbooks"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(8), default="store")  # store | folder
    path: Mapped[str] = mapped_column(String(500), default="")  # file in the folder
    content: Mapped[str] = mapped_column(Text, deferred=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="", deferred=True)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    alerts: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner: Mapped[str] = mapped_column(String(150), default="")
    review_period_s: Mapped[int | None] = mapped_column(BigInteger, default=None)
    search_text: Mapped[str] = mapped_column(Text, default="", deferred=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(150), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(150), default="")
    last_reviewed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_reviewed_by: Mapped[str] = mapped_column(String(150), default="")


class RunbookRevision(Base):
    """One version of a runbook's document: who wrote it, when, and why."""

    __tablename__ = "runbook_revisions"
    __table_args__ = (UniqueConstraint("runbook_id", "version", name="uq_runbook_revisions"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    runbook_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("runbooks.id", ondelete="CASCADE"),
    )
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text, deferred=True)
    title: Mapped[str] = mapped_column(String(200))
    author: Mapped[str] = mapped_column(String(150))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(String(500), default="")


class RunbookReview(Base):
    """A runbook confirmed still correct: by whom, when, with an optional note."""

    __tablename__ = "runbook_reviews"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    runbook_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("runbooks.id", ondelete="CASCADE"),
        index=True,
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_by: Mapped[str] = mapped_column(String(150))
    note: Mapped[str] = mapped_column(String(500), default="")


class CapacityForecast(Base):
    """The latest forecast of one capacity item (a host's resource, a target's series, a
    database's size or disk), redone by the capacity service every ``capacity.refresh``:
    what the page, the API and the alerts read instead of refitting. ``chart`` holds the
    thinned history and the projection with its band."""

    __tablename__ = "capacity_forecasts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)  # sha1 of kind/host/resource/subject
    kind: Mapped[str] = mapped_column(String(16))  # host | target | database
    host: Mapped[str] = mapped_column(String(200), default="")
    resource: Mapped[str] = mapped_column(String(128))  # cpu...; the target's or database's name
    subject: Mapped[str] = mapped_column(String(400), default="")  # mountpoint, series labels
    unit: Mapped[str] = mapped_column(String(16), default="")
    direction: Mapped[str] = mapped_column(String(8), default="up")
    # over | soon | later | never | insufficient | error
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    current: Mapped[float | None] = mapped_column(Float(precision=53), default=None)
    limit_value: Mapped[float | None] = mapped_column(Float(precision=53), default=None)
    fit: Mapped[str] = mapped_column(String(16), default="")
    per_day: Mapped[float | None] = mapped_column(Float(precision=53), default=None)
    sigma: Mapped[float | None] = mapped_column(Float(precision=53), default=None)
    points: Mapped[int] = mapped_column(Integer, default=0)
    reaches_at: Mapped[datetime | None] = mapped_column(default=None)
    reaches_earliest: Mapped[datetime | None] = mapped_column(default=None)
    reaches_latest: Mapped[datetime | None] = mapped_column(default=None)
    alert_within_s: Mapped[int] = mapped_column(BigInteger, default=0)
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the alert's labels
    chart: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, deferred=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskInstance(Base):
    """One occurrence of a recurring task (``tasks.tasks``): made by the tasks service when
    it falls due (one per occurrence), then completed with its evidence or skipped with a
    reason. ``checklist`` and ``title`` are copied from the task when it is made, so a later
    plan change does not rewrite what was done."""

    __tablename__ = "task_instances"
    __table_args__ = (
        UniqueConstraint("task", "occurrence_at", name="uq_task_instances_occurrence"),
        Index("ix_task_instances_status_due", "status", "due_at"),
        Index("ix_task_instances_task_due", "task", "due_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    task: Mapped[str] = mapped_column(String(128))
    occurrence_at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | skipped
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64), default="")
    owner: Mapped[str] = mapped_column(String(160), default="")  # user, team:x, "" (anyone)
    owner_rule: Mapped[str] = mapped_column(String(160), default="")  # as the plan says it
    checklist: Mapped[list[str]] = mapped_column(JSON, default=list)
    checked: Mapped[list[bool]] = mapped_column(JSON, default=list)
    worklist: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    decisions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    applied: Mapped[list[str]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(2000), default="")
    value: Mapped[str] = mapped_column(String(500), default="")
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_by: Mapped[str] = mapped_column(String(150), default="")
    on_time: Mapped[bool | None] = mapped_column(Boolean, default=None)
    skip_reason: Mapped[str] = mapped_column(String(500), default="")
    reminded: Mapped[list[int]] = mapped_column(JSON, default=list)  # reminders (s) handled
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskEvidenceFile(Base):
    """A file attached as evidence to a task instance: stored under
    ``$WATCHKEEPER_HOME/tasks/evidence`` by its SHA-256, which is checked on every read."""

    __tablename__ = "task_evidence_files"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("task_instances.id", ondelete="CASCADE"),
        index=True,
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500))  # relative to the evidence folder
    uploaded_by: Mapped[str] = mapped_column(String(150))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ErrorIssueTriage(Base):
    """What triage keeps about an error issue besides its status: until when it is ignored,
    when and in which release it last regressed, how much of its count and users the
    five-minute counts already hold, and the tracker issue opened for it."""

    __tablename__ = "error_issue_triage"
    __table_args__ = (Index("ix_error_issue_triage_regressed_at", "regressed_at"),)
    issue_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("error_issues.id", ondelete="CASCADE"),
        primary_key=True,
    )
    ignore_until: Mapped[datetime | None] = mapped_column(default=None)
    regressed_at: Mapped[datetime | None] = mapped_column(default=None)
    regressed_in_release: Mapped[str | None] = mapped_column(String(200), default=None)
    counted_events: Mapped[int] = mapped_column(BigInteger, default=0)
    counted_users: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime | None] = mapped_column(default=None)
    changed_by: Mapped[str] = mapped_column(String(150), default="")
    # The issue opened for it in a tracker of the incidents section ("" while none; its url
    # is "" while it is being opened).
    tracker: Mapped[str] = mapped_column(String(128), default="")
    tracker_external_id: Mapped[str] = mapped_column(String(200), default="")
    tracker_url: Mapped[str] = mapped_column(String(2000), default="")


class ErrorIssueCount(Base):
    """An error issue's new events and new users in one five-minute bucket (Unix time // 300)."""

    __tablename__ = "error_issue_counts"
    __table_args__ = (Index("ix_error_issue_counts_project_bucket", "project_id", "bucket"),)
    issue_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("error_issues.id", ondelete="CASCADE"),
        primary_key=True,
    )
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    users: Mapped[int] = mapped_column(BigInteger, default=0)


class TrainingSession(Base):
    """A training held: a course (a required training of ``tasks.trainings``, or any other)
    on a day, by a trainer, with its material; who attended is in ``training_attendance``."""

    __tablename__ = "training_sessions"
    __table_args__ = (Index("ix_training_sessions_course_held", "course", "held_on"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[date] = mapped_column(Date)
    trainer: Mapped[str] = mapped_column(String(200), default="")
    material_url: Mapped[str] = mapped_column(String(2000), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(150), default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingAttendance(Base):
    """One person who attended a training session (a user name or an on-call person)."""

    __tablename__ = "training_attendance"
    session_id: Mapped[int] = mapped_column(
        ForeignKey("training_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(150), primary_key=True, index=True)


class LogTemplateScope(Base):
    """A stream (its labels but ``level``) whose lines are mined into templates, with the
    Drain miner's state (log anomalies)."""

    __tablename__ = "log_template_scopes"
    __table_args__ = (UniqueConstraint("scope", name="uq_log_template_scopes_scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(2000))  # a stream selector
    state: Mapped[bytes] = mapped_column(LargeBinary)
    first_seen: Mapped[datetime] = mapped_column()
    lines: Mapped[int] = mapped_column(BigInteger, default=0)


class LogTemplate(Base):
    """A log template (Drain cluster) of a scope: first/last seen, count, example lines,
    whether it appeared after the learning period, and its current rate anomaly."""

    __tablename__ = "log_templates"
    __table_args__ = (
        UniqueConstraint("scope_id", "cluster", name="uq_log_templates_scope_cluster"),
        Index("ix_log_templates_first_seen", "first_seen"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scope_id: Mapped[int] = mapped_column(ForeignKey("log_template_scopes.id", ondelete="CASCADE"))
    cluster: Mapped[int] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    new: Mapped[bool] = mapped_column(Boolean, default=False)
    examples: Mapped[list[str]] = mapped_column(JSON, default=list)
    anomaly: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)


class LogTemplateHour(Base):
    """Lines of one template in one hour (``hour``: Unix time // 3600)."""

    __tablename__ = "log_template_hours"
    template_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("log_templates.id", ondelete="CASCADE"),
        primary_key=True,
    )
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class LogTemplateCheckpoint(Base):
    """How far the template miner has read the log store (ns) and the last hour whose
    rates it judged (one row, id 1)."""

    __tablename__ = "log_template_checkpoint"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    read_to: Mapped[int] = mapped_column(BigInteger, default=0)
    evaluated_hour: Mapped[int] = mapped_column(BigInteger, default=0)
