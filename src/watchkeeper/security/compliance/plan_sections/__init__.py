"""One evaluator per section of the plan: is it being followed right now? Each module's
docstring says exactly what it checks; :data:`EVALUATORS` lists them in the plan's order
(``releases`` has no keys yet, so nothing to follow)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from watchkeeper.security.compliance.plan_sections import (
    access,
    alerts,
    backups,
    checks,
    compliance,
    databases,
    incidents,
    logs,
    metrics,
    notifications,
    oncall,
    security,
    tasks,
)
from watchkeeper.security.compliance.plan_sections.base import Live, SectionResult

Evaluator = Callable[[Session, Live], SectionResult]

EVALUATORS: dict[str, Evaluator] = {
    "checks": checks.evaluate,
    "metrics": metrics.evaluate,
    "alerts": alerts.evaluate,
    "notifications": notifications.evaluate,
    "logs": logs.evaluate,
    "backups": backups.evaluate,
    "databases": databases.evaluate,
    "incidents": incidents.evaluate,
    "oncall": oncall.evaluate,
    "security": security.evaluate,
    "compliance": compliance.evaluate,
    "access": access.evaluate,
    "tasks": tasks.evaluate,
}
TITLES: dict[str, str] = {
    "checks": "Health checks",
    "metrics": "Metrics",
    "alerts": "Alerts",
    "notifications": "Notifications",
    "logs": "Logs",
    "backups": "Backups",
    "databases": "Databases",
    "incidents": "Incidents",
    "oncall": "On call",
    "security": "Security",
    "compliance": "Compliance",
    "access": "Access",
    "tasks": "Tasks",
}
PAGES: dict[str, str] = {
    "checks": "/checks",
    "metrics": "/query",
    "alerts": "/alerts",
    "notifications": "/notifications",
    "logs": "/logs/streams",
    "backups": "/backups",
    "databases": "/databases",
    "incidents": "/incidents",
    "oncall": "/oncall",
    "security": "/security",
    "compliance": compliance.CONTROLS_PAGE,
    "access": "/access",
    "tasks": "/tasks",
}
