"""Names the plan's ``tasks`` section uses that must exist elsewhere in the plan: the
reminders' notification channels and the on-call schedules of ``oncall:<schedule>`` owners."""

from __future__ import annotations

from watchkeeper.tasks.config import TasksSection

Path_ = tuple[str | int, ...]


def task_references(
    section: TasksSection, channels: set[str], schedules: set[str]
) -> list[tuple[Path_, str]]:
    """Return (path, message) for every channel or schedule a task names that does not
    exist."""
    problems: list[tuple[Path_, str]] = []
    for i, task in enumerate(section.tasks):
        for j, name in enumerate(task.channels):
            if name not in channels:
                problems.append(
                    (
                        ("tasks", "tasks", i, "channels", j),
                        f'no notification channel is named "{name}"',
                    )
                )
        if task.owner.startswith("oncall:") and task.owner[7:] not in schedules:
            problems.append(
                (("tasks", "tasks", i, "owner"), f'no on-call schedule is named "{task.owner[7:]}"')
            )
    return problems
