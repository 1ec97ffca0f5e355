"""The tasks' own metrics on ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from watchkeeper.telemetry import REGISTRY

TASKS = Gauge(
    "watchkeeper_tasks",
    "Recurring tasks in the plan and made in the UI, by source (plan or ui).",
    ["source"],
    registry=REGISTRY,
)
TASK_INSTANCES_OPEN = Gauge(
    "watchkeeper_task_instances_open",
    "Open task instances, by state (due: before its due time; overdue: past it).",
    ["state"],
    registry=REGISTRY,
)
TASK_INSTANCES_MADE = Counter(
    "watchkeeper_task_instances_created_total",
    "Task instances made by this process for the tasks' occurrences.",
    registry=REGISTRY,
)
TASK_COMPLETIONS = Counter(
    "watchkeeper_task_completions_total",
    "Task instances finished through this process, by outcome (on_time, late, skipped).",
    ["outcome"],
    registry=REGISTRY,
)
TASK_REMINDERS = Counter(
    "watchkeeper_task_reminders_total",
    "Task reminders queued in the notification outbox by this process (one per channel or "
    "contact rule).",
    registry=REGISTRY,
)
