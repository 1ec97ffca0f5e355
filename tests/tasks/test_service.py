"""The tasks service on a clock the tests control: one instance per occurrence (never two,
however often it runs), reminders at their time and once, ``TaskOverdue`` after
``escalate_after`` past due and resolved by the completion; owners resolved from on call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tests.tasks.support import Clock, apply_tasks, instances, outbox, overdue_alerts
from watchkeeper.auth.audit import Actor
from watchkeeper.tasks.completion import Completion, complete, skip
from watchkeeper.tasks.service import TasksService

# Monday 2026-01-05 09:00 Paris = 08:00 UTC: log-review and access-review both fall due
MONDAY = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_one_instance_per_occurrence_however_often_it_runs(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as db:
        apply_tasks(db)
    clock = Clock(MONDAY - timedelta(minutes=1))
    service = TasksService(sessions, clock=clock)
    assert service.run_once().made == []
    clock.now = MONDAY
    first = service.run_once()
    assert len(first.made) == 2
    assert service.run_once().made == []
    assert TasksService(sessions, clock=clock).run_once().made == []  # another replica
    with sessions() as db:
        rows = instances(db)
        assert [(r.task, r.occurrence_at, r.due_at, r.owner) for r in rows] == [
            ("access-review", MONDAY, MONDAY + timedelta(days=14), "team:platform"),
            ("log-review", MONDAY, MONDAY + timedelta(days=2), "alice"),
        ]
        review = instances(db, "log-review")[0]
        assert review.checklist == ["Open the saved search", "Triage each new error"]
        assert review.checked == [False, False]


def test_after_a_pause_only_the_latest_occurrences_are_made(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as db:
        apply_tasks(db)
    clock = Clock(MONDAY + timedelta(weeks=10, hours=1))  # down for ten weeks
    TasksService(sessions, clock=clock).run_once()
    with sessions() as db:
        rows = instances(db, "log-review")
        assert [r.occurrence_at for r in rows] == [
            MONDAY + timedelta(weeks=8),
            MONDAY + timedelta(weeks=9),
            MONDAY + timedelta(weeks=10),
        ]


def test_reminders_go_out_at_their_time_and_once(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        apply_tasks(db)
    clock = Clock(MONDAY)
    service = TasksService(sessions, clock=clock, base_url="https://wk.example")
    service.run_once()
    due = MONDAY + timedelta(days=2)
    with sessions() as db:
        assert outbox(db) == []
    clock.now = due - timedelta(days=1, seconds=1)
    assert service.run_once().reminders == 0
    clock.now = due - timedelta(days=1)
    assert service.run_once().reminders == 1
    assert service.run_once().reminders == 0
    clock.now = due - timedelta(hours=4)
    assert service.run_once().reminders == 1
    with sessions() as db:
        sent = outbox(db)
        assert [c for c, _ in sent] == ["ops-mail", "ops-mail"]
        assert sent[0][1] == 'Task "Weekly log review" is due 2026-01-07 08:00 UTC (1 day(s) left)'
        assert instances(db, "log-review")[0].reminders_sent == 2


def test_a_late_instance_gets_only_the_nearest_reminder(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        apply_tasks(db)
    due = MONDAY + timedelta(days=2)
    clock = Clock(due - timedelta(hours=3))  # both reminder times passed while down
    service = TasksService(sessions, clock=clock)
    assert service.run_once().reminders == 1
    assert service.run_once().reminders == 0
    with sessions() as db:
        assert "(3 hour(s) left)" in outbox(db)[0][1]


def test_overdue_fires_after_escalate_after_and_completion_resolves_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as db:
        apply_tasks(db)
    clock = Clock(MONDAY)
    service = TasksService(sessions, clock=clock)
    service.run_once()
    due = MONDAY + timedelta(days=2)
    clock.now = due + timedelta(minutes=59)
    assert service.run_once().overdue == []
    clock.now = due + timedelta(hours=1)
    assert service.run_once().overdue == ["log-review"]
    with sessions() as db:
        assert overdue_alerts(db) == [
            (
                "firing",
                {
                    "alertname": "TaskOverdue",
                    "owner": "alice",
                    "severity": "warning",
                    "task": "log-review",
                },
            )
        ]
        row = instances(db, "log-review")[0]
        done = Completion(comment="all triaged", checked=[True, True])
        complete(db, tmp_path, row.id, done, Actor("alice"), clock.now)
        db.commit()
        assert overdue_alerts(db)[0][0] == "resolved"
        row = instances(db, "log-review")[0]
        assert (row.status, row.on_time, row.completed_by) == ("done", False, "alice")
    assert service.run_once().overdue == []


def test_skipping_resolves_the_alert_and_no_reminder_follows(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as db:
        apply_tasks(db)
    clock = Clock(MONDAY)
    service = TasksService(sessions, clock=clock)
    service.run_once()
    clock.now = MONDAY + timedelta(days=20)
    service.run_once()
    with sessions() as db:
        firing = sorted(labels["task"] for state, labels in overdue_alerts(db) if state == "firing")
        assert firing == ["access-review", "log-review"]
        review = instances(db, "access-review")[0]
        skip(db, review.id, "auditor visit replaces it", Actor("bob"), clock.now)
        db.commit()
        states = {labels["task"]: state for state, labels in overdue_alerts(db)}
        assert states == {"access-review": "resolved", "log-review": "firing"}


ONCALL_PLAN = """
notifications:
  channels: [{name: carol-sms, type: webhook, url: "http://127.0.0.1:9/sms"}]
oncall:
  people:
    - name: carol
      contact: [{channel: carol-sms, address: "+33600000000"}]
  schedules:
    - name: primary
      time_zone: UTC
      layers:
        - name: week
          rotation: weekly
          start: 2025-12-29T00:00:00Z
          members: [carol]
tasks:
  tasks:
    - name: restore-drill
      title: Restore drill
      cron: "0 10 * * *"
      due: 6h
      owner: oncall:primary
      reminders: [2h]
"""


def test_oncall_owner_is_resolved_and_reminded_through_their_contact_rules(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as db:
        apply_tasks(db, ONCALL_PLAN)
    clock = Clock(datetime(2026, 1, 5, 10, tzinfo=UTC))
    service = TasksService(sessions, clock=clock)
    service.run_once()
    clock.now = datetime(2026, 1, 5, 14, tzinfo=UTC)
    assert service.run_once().reminders == 1
    with sessions() as db:
        row = instances(db)[0]
        assert (row.owner, row.owner_rule) == ("carol", "oncall:primary")
        assert [c for c, _ in outbox(db)] == ["carol-sms"]
