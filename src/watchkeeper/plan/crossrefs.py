"""Checks across sections: names one part of the plan uses must exist in another."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase

from watchkeeper.alerts.config import Route
from watchkeeper.backups.config import broken_references as backups_references
from watchkeeper.errors.config import from_logs_references
from watchkeeper.plan.models import Plan
from watchkeeper.plan.source import Path_
from watchkeeper.releases.config import broken_references as releases_references
from watchkeeper.tasks.crossrefs import task_references


def _routes(route: Route, path: Path_) -> Iterator[tuple[Route, Path_]]:
    yield route, path
    for i, child in enumerate(route.routes):
        yield from _routes(child, (*path, "routes", i))


def broken_references(plan: Plan) -> list[tuple[Path_, str]]:
    """Return (path, message) for every reference to a check or channel that does not exist."""
    problems: list[tuple[Path_, str]] = []
    checks = {c.name: c.type for c in plan.checks}
    channels = {c.name for c in plan.notifications.channels}
    for i, rule in enumerate(plan.alerts.rules):
        path: Path_ = ("alerts", "rules", i)
        if rule.check is not None and not any(fnmatchcase(n, rule.check) for n in checks):
            problems.append(((*path, "check"), f'no check is named "{rule.check}"'))
        if rule.heartbeat is not None:
            kind = checks.get(rule.heartbeat)
            if kind is None:
                problems.append(((*path, "heartbeat"), f'no check is named "{rule.heartbeat}"'))
            elif kind != "heartbeat":
                problems.append(
                    (
                        (*path, "heartbeat"),
                        f'check "{rule.heartbeat}" is a {kind} check, '
                        "not a heartbeat (use `check:`)",
                    )
                )
    route = plan.alerts.route
    if route is not None:
        if not route.receiver:
            problems.append((("alerts", "route", "receiver"), "the root route needs a receiver"))
        if route.matchers:
            problems.append(
                (
                    ("alerts", "route", "matchers"),
                    "the root route matches every alert; put matchers on child routes",
                )
            )
        for node, node_path in _routes(route, ("alerts", "route")):
            for j, name in enumerate(node.receiver or []):
                if name not in channels:
                    problems.append(
                        ((*node_path, "receiver", j), f'no notification channel is named "{name}"')
                    )
    elif plan.alerts.rules and channels:
        problems.append(
            (
                ("alerts",),
                "alert rules and channels are declared but no `route` sends the "
                "alerts anywhere; add `alerts.route.receiver`",
            )
        )
    fallback = plan.notifications.fallback
    if fallback is not None and fallback not in channels:
        problems.append(
            (("notifications", "fallback"), f'no notification channel is named "{fallback}"')
        )
    problems += _oncall_references(plan, channels)
    problems += backups_references(plan.backups)
    problems += _database_references(plan)
    problems += _security_references(plan)
    problems += releases_references(plan.releases)
    problems += _check_service_references(plan)
    problems += from_logs_references(plan.errors)
    problems += task_references(plan.tasks, channels, {s.name for s in plan.oncall.schedules})
    return problems


def _check_service_references(plan: Plan) -> list[tuple[Path_, str]]:
    """A check's ``service`` must be one of ``releases.services``."""
    services = {s.name for s in plan.releases.services}
    return [
        (
            ("checks", i, "service"),
            f'no service is named "{check.service}" (declare it in `releases.services`)',
        )
        for i, check in enumerate(plan.checks)
        if check.service is not None and check.service not in services
    ]


def _security_references(plan: Plan) -> list[tuple[Path_, str]]:
    """Patch windows name maintenance windows; hardening profiles skip known check ids."""
    from watchkeeper.security.hardening.runner import known_check_ids  # registers the checks

    problems: list[tuple[Path_, str]] = []
    windows = {w.name for w in plan.alerts.maintenance_windows}
    for k, window in enumerate(plan.security.patch_windows):
        if window not in windows:
            problems.append(
                (
                    ("security", "patch_windows", k),
                    f'no maintenance window is named "{window}" '
                    "(declare it in `alerts.maintenance_windows`)",
                )
            )
    known = known_check_ids()
    for i, profile in enumerate(plan.security.hardening):
        for k, check in enumerate(profile.skip):
            if check not in known:
                problems.append(
                    (
                        ("security", "hardening", i, "skip", k),
                        f'no hardening check has the id "{check}" (known: '
                        f"{', '.join(sorted(known))})",
                    )
                )
    return problems


def _database_references(plan: Plan) -> list[tuple[Path_, str]]:
    """Maintenance tasks name maintenance windows."""
    problems: list[tuple[Path_, str]] = []
    windows = {w.name for w in plan.alerts.maintenance_windows}
    for i, target in enumerate(plan.databases.targets):
        for j, task in enumerate(target.maintenance):
            for k, window in enumerate(task.windows):
                if window not in windows:
                    problems.append(
                        (
                            ("databases", "targets", i, "maintenance", j, "windows", k),
                            f'no maintenance window is named "{window}" '
                            "(declare it in `alerts.maintenance_windows`)",
                        )
                    )
    return problems


def _oncall_references(plan: Plan, channels: set[str]) -> list[tuple[Path_, str]]:
    """Names the ``oncall`` and ``incidents`` sections use: escalation targets, schedule
    members, contact rules, the policies incidents start, directory contacts' channels."""
    problems: list[tuple[Path_, str]] = []
    oncall, incidents = plan.oncall, plan.incidents
    known = {
        "schedule": ({s.name for s in oncall.schedules}, "no on-call schedule is named"),
        "person": ({p.name for p in oncall.people}, "no person in `oncall.people` is named"),
        "channel": (channels, "no notification channel is named"),
    }

    def check(path: Path_, kind: str, name: str | None) -> None:
        names, message = known[kind]
        if name is not None and name not in names:
            problems.append((path, f'{message} "{name}"'))

    for i, person in enumerate(oncall.people):
        for j, rule in enumerate(person.contact):
            check(("oncall", "people", i, "contact", j, "channel"), "channel", rule.channel)
    for i, schedule in enumerate(oncall.schedules):
        for j, layer in enumerate(schedule.layers):
            for k, member in enumerate(layer.members):
                check(("oncall", "schedules", i, "layers", j, "members", k), "person", member)
    for i, policy in enumerate(oncall.escalation_policies):
        for j, step in enumerate(policy.steps):
            for k, target in enumerate(step.notify):
                path: Path_ = ("oncall", "escalation_policies", i, "steps", j, "notify", k)
                for kind in ("schedule", "person", "channel"):
                    check((*path, kind), kind, getattr(target, kind))
    for i, contact in enumerate(incidents.contacts):
        check(("incidents", "contacts", i, "channel"), "channel", contact.channel)
    policies = {p.name for p in oncall.escalation_policies}
    uses: list[tuple[Path_, str | None]] = [
        (("incidents", "auto_open", i, "escalation"), rule.escalation)
        for i, rule in enumerate(incidents.auto_open)
    ]
    uses += [
        (("incidents", "drills", i, "escalation"), drill.escalation)
        for i, drill in enumerate(incidents.drills)
    ]
    uses.append(
        (("incidents", "major_incident", "escalation"), incidents.major_incident.escalation)
    )
    for path, name in uses:
        if name is not None and name not in policies:
            problems.append((path, f'no escalation policy is named "{name}"'))
    return problems
