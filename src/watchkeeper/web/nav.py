"""The UI's navigation: one entry per domain of the maintenance plan."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Domain:
    slug: str
    title: str
    section: str | None
    summary: str
    built: str = ""


DOMAINS: tuple[Domain, ...] = (
    Domain(
        "checks",
        "Health checks",
        "checks",
        "HTTP, TCP and TLS checks with state, uptime and response-time history.",
    ),
    Domain(
        "query",  # "/metrics" is Watchkeeper's own Prometheus endpoint
        "Metrics",
        "metrics",
        "Host and service metrics: scrape, remote-write, OTLP; PromQL queries and charts.",
    ),
    Domain(
        "alerts", "Alerts", "alerts", "Alert rules, grouping, silences and maintenance windows."
    ),
    Domain(
        "notifications",
        "Notifications",
        "notifications",
        "Channels (e-mail, chat, webhooks, pagers) and reliable delivery.",
    ),
    Domain("logs", "Logs", "logs", "Centralized logs: ingest, search, live tail, retention."),
    Domain(
        "incidents",
        "Incidents",
        "incidents",
        "Incidents, on-call schedules, escalation policies and postmortems.",
    ),
    Domain(
        "runbooks",
        "Runbooks",
        "runbooks",
        "What to do when something breaks: searchable, versioned, reviewed runbooks.",
    ),
    Domain(
        "knowledge",
        "Knowledge",
        None,
        "Generated inventory, architecture and DR runbooks, the offline bundle, onboarding.",
    ),
    Domain("errors", "Errors", "errors", "Application errors over the Sentry protocol."),
    Domain("tasks", "Tasks", "tasks", "Recurring human maintenance tasks, reviews and training."),
    Domain(
        "calendar",
        "Calendar",
        None,
        "Tasks, releases, freezes, maintenance windows, on-call shifts and drills in one place.",
    ),
    Domain(
        "training",
        "Training",
        None,
        "Required trainings by person, sessions held and onboarding checklists.",
    ),
    Domain(
        "backups",
        "Backups",
        "backups",
        "Scheduled, encrypted backups proven by automated restores.",
    ),
    Domain(
        "databases",
        "Databases",
        "databases",
        "Vacuum, index upkeep and health of PostgreSQL, MariaDB/MySQL and SQLite.",
    ),
    Domain(
        "security",
        "Security",
        "security",
        "Vulnerabilities by host and package, the patch plan, hardening audits and "
        "compliance evidence.",
    ),
    Domain(
        "compliance",
        "Compliance",
        "compliance",
        "Controls with automated evidence (SOC 2, ISO 27001, GDPR) and signed reports.",
    ),
    Domain("releases", "Releases", "releases", "Deploys, DORA metrics and capacity forecasts."),
    Domain(
        "capacity",
        "Capacity",
        "capacity",
        "When hosts, databases and named metrics reach their limits: trends and forecasts.",
    ),
    Domain("access", "Access", "access", "Users, roles, MFA and the audit trail."),
)
BY_SLUG = {d.slug: d for d in DOMAINS}
