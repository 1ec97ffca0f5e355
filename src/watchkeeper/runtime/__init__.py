"""Scheduler, job execution and the wiring of the ``up`` process."""
