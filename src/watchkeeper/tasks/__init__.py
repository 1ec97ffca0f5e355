"""Recurring human maintenance tasks (``schedule``, ``completion``, ``reminders``,
``overdue``, ``service``), the task kinds that do part of the work (``kinds``), training
records, and the maintenance calendar (``calendar``). See docs/tasks.md."""
