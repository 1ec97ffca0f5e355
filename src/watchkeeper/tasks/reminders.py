"""Reminders before a task instance is due, through the notification outbox: to each of the
task's ``channels``, and to the owner's contact rules when the owner is a person of
``oncall.people``.

Each reminder of an instance goes out once (its outbox key is derived from the instance and
the reminder); when several reminder times passed while nothing ran (the instance was made
late, the server was down), only the one nearest the due time is sent. A finished instance
gets no more reminders.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.incidents.oncall_config import Person
from watchkeeper.incidents.plan import load_oncall
from watchkeeper.notify.interface import AlertItem, Notification, to_payload
from watchkeeper.notify.outbox import enqueue
from watchkeeper.store.tables import TaskInstance
from watchkeeper.tasks.config import TaskSpec
from watchkeeper.tasks.metrics import TASK_REMINDERS
from watchkeeper.tasks.schedule import StoredTask

REMINDER = "TaskReminder"


@dataclass(frozen=True)
class Target:
    """Where one reminder goes: a channel, and the person's address on it ("" for the
    channel's own recipients)."""

    channel: str
    person: str = ""
    address: str = ""


def targets(spec: TaskSpec, owner: str, people: dict[str, Person]) -> list[Target]:
    """The task's channels, then the owner's contact rules (each channel once)."""
    out = [Target(c) for c in spec.channels]
    person = people.get(owner)
    if person is not None:
        out += [Target(rule.channel, person.name, rule.address) for rule in person.contact]
    seen: set[tuple[str, str]] = set()
    unique = []
    for t in out:
        if (t.channel, t.address) not in seen:
            seen.add((t.channel, t.address))
            unique.append(t)
    return unique


def _message(row: TaskInstance, base_url: str, now: datetime) -> Notification:
    url = f"{base_url}/tasks/{row.task}/instances/{row.id}"
    labels = {"alertname": REMINDER, "severity": "info", "task": row.task}
    if row.owner:
        labels["owner"] = row.owner
    hours = int((row.due_at - now).total_seconds()) // 3600
    left = f"{hours // 24} day(s)" if hours >= 24 else f"{hours} hour(s)" if hours else "soon"
    annotations = {
        "summary": f'Task "{row.title}" is due {row.due_at:%Y-%m-%d %H:%M} UTC ({left} left)',
        "description": "Complete it with its evidence before it is due, or skip it with a reason.",
        "fix": f"/tasks/{row.task}/instances/{row.id}",
    }
    return Notification(
        id=0,
        key="",
        channel="",
        status="firing",
        group_key=f"task:{row.id}",
        group_labels={"alertname": REMINDER, "task": row.task},
        common_labels=labels,
        common_annotations=annotations,
        alerts=[
            AlertItem(
                fingerprint=f"task:{row.id}",
                status="firing",
                labels=labels,
                annotations=annotations,
                starts_at=row.occurrence_at,
                rule=REMINDER,
                url=url,
            )
        ],
        external_url=base_url,
        group_url=url,
        extra={"task": {"name": row.task, "instance": row.id, "due_at": row.due_at.isoformat()}},
    )


def due_reminder(spec: TaskSpec, row: TaskInstance, now: datetime) -> int | None:
    """The reminder (seconds before due) to send now, or None: the one nearest the due
    time among those whose time has come and that were not handled yet."""
    if row.status != "open" or now >= row.due_at:
        return None
    handled = set(row.reminded or [])
    come = [
        int(r.total_seconds())
        for r in spec.reminders
        if row.due_at - r <= now and int(r.total_seconds()) not in handled
    ]
    return min(come) if come else None


def send_due(db: Session, tasks: list[StoredTask], now: datetime, base_url: str) -> int:
    """Queue the reminders whose time has come; return how many notifications were queued.
    The caller commits, then wakes the delivery worker."""
    specs = {t.name: t.spec for t in tasks if t.spec.reminders}
    if not specs:
        return 0
    people = {p.name: p for p in load_oncall(db).people}
    queued = 0
    rows = db.scalars(
        select(TaskInstance).where(
            TaskInstance.status == "open",
            TaskInstance.task.in_(sorted(specs)),
            TaskInstance.due_at > now,
        )
    )
    for row in rows:
        spec = specs[row.task]
        before = due_reminder(spec, row, now)
        if before is None:
            continue
        message = _message(row, base_url, now)
        for target in targets(spec, row.owner, people):
            payload = to_payload(message)
            payload["extra"] = {**message.extra, "recipient": target.address}
            key = hashlib.sha256(
                f"task:{row.id}:{before}:{target.channel}:{target.address}".encode()
            ).hexdigest()
            if enqueue(
                db,
                key=key,
                batch=f"task:{row.id}:{before}",
                channel=target.channel,
                group_key=f"task:{row.id}",
                payload=payload,
                now=now,
            ):
                queued += 1
        # every reminder at or before this one is handled: none is sent late
        passed = [int(r.total_seconds()) for r in spec.reminders if row.due_at - r <= now]
        row.reminded = sorted(set(row.reminded or []) | set(passed))
        row.reminders_sent += 1
    TASK_REMINDERS.inc(queued)
    return queued
