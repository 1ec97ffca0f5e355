"""Forecasts of the hosts that report through the agent (node_exporter names, the ``instance``
label naming the host): busy CPU share, used memory share, each filesystem's used bytes
against a share of its size, and each network direction's bytes per second.

One query per resource answers for every host at once, so the cost grows with the data,
not with the number of queries. The limits come from ``capacity.hosts``: the defaults, then
each override whose globs match the host, in order (a later one wins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from watchkeeper import globs
from watchkeeper.releases.capacity.config import RESOURCES, CapacitySection, Resource
from watchkeeper.releases.capacity.items import Item, judged
from watchkeeper.releases.capacity.projection import project
from watchkeeper.releases.capacity.window import Series, Window

ON = 'job="agent"'
QUERIES: dict[str, str] = {
    "cpu": f'1 - avg by (instance) (rate(node_cpu_seconds_total{{{ON},mode="idle"}}[2h]))',
    "memory": f"1 - node_memory_MemAvailable_bytes{{{ON}}} / node_memory_MemTotal_bytes{{{ON}}}",
    "size": f"node_filesystem_size_bytes{{{ON}}}",
    "avail": f"node_filesystem_avail_bytes{{{ON}}}",
    "receive": "sum by (instance) "
    f'(rate(node_network_receive_bytes_total{{{ON},device!="lo"}}[2h]))',
    "transmit": "sum by (instance) "
    f'(rate(node_network_transmit_bytes_total{{{ON},device!="lo"}}[2h]))',
}
UNITS: dict[Resource, str] = {
    "cpu": "ratio",
    "memory": "ratio",
    "disk": "bytes",
    "network": "bytes/s",
}


@dataclass(frozen=True)
class HostLimits:
    """What applies to one host; a resource whose limit is None is not forecast."""

    limits: dict[Resource, float | None]
    alert_within: timedelta
    labels: dict[str, str] = field(default_factory=dict)


def limits_for(section: CapacitySection, host: str) -> HostLimits | None:
    """The limits of ``host`` (None when ``hosts.exclude`` names it)."""
    hosts = section.hosts
    if globs.matches_any(host, hosts.exclude):
        return None
    limits: dict[Resource, float | None] = {r: getattr(hosts, r) for r in RESOURCES}
    within, labels = section.alert_within, {}
    for override in hosts.overrides:
        if not globs.matches_any(host, override.hosts):
            continue
        for resource in RESOURCES:
            value = getattr(override, resource)
            if value is not None:
                limits[resource] = value
        for resource in override.ignore:
            limits[resource] = None
        within = override.alert_within if override.alert_within is not None else within
        labels.update(override.labels)
    return HostLimits(limits, within, labels)


def _wanted(section: CapacitySection, resource: Resource) -> bool:
    """Whether any host may have a limit for ``resource`` (else its query is not run)."""
    hosts = section.hosts
    return getattr(hosts, resource) is not None or any(
        getattr(o, resource) is not None for o in hosts.overrides
    )


def host_items(window: Window, section: CapacitySection) -> list[Item]:
    """Every host resource's forecast; raise PromQLError/EvaluationError only for a bug in
    :data:`QUERIES` (the data cannot make them fail)."""
    cache: dict[str, HostLimits | None] = {}

    def limits(host: str) -> HostLimits | None:
        if host not in cache:
            cache[host] = limits_for(section, host)
        return cache[host]

    out: list[Item] = []
    plan: list[tuple[str, Resource, str]] = [
        ("cpu", "cpu", ""),
        ("memory", "memory", ""),
        ("receive", "network", "receive"),
        ("transmit", "network", "transmit"),
    ]
    for query, resource, subject in plan:
        if not _wanted(section, resource):
            continue
        for series in window.range(QUERIES[query]):
            host = series.labels.get("instance", "")
            found = limits(host) if host else None
            share = found.limits[resource] if found is not None else None
            if found is not None and share is not None:
                out.append(_item(window, section, series, host, resource, subject, share, found))
    if not _wanted(section, "disk"):
        return out
    for series, size in used_bytes(window):
        host, mountpoint = series.labels.get("instance", ""), series.labels.get("mountpoint", "")
        found = limits(host) if host else None
        share = found.limits["disk"] if found is not None else None
        if found is not None and share is not None:
            limit = share * size
            out.append(_item(window, section, series, host, "disk", mountpoint, limit, found))
    return out


def used_bytes(window: Window) -> list[tuple[Series, float]]:
    """Each filesystem's used bytes (size − avail, at the steps both have a value) and its
    latest size."""
    sizes = {tuple(sorted(s.labels.items())): s for s in window.range(QUERIES["size"])}
    out = []
    for avail in window.range(QUERIES["avail"]):
        size = sizes.get(tuple(sorted(avail.labels.items())))
        if size is None:
            continue
        common, at_size, at_avail = np.intersect1d(size.ts, avail.ts, return_indices=True)
        if len(common) and size.values[-1] > 0:  # a size of 0: a pseudo filesystem
            used = size.values[at_size] - avail.values[at_avail]
            out.append((Series(avail.labels, common, used), float(size.values[-1])))
    return out


def _item(
    window: Window,
    section: CapacitySection,
    series: Series,
    host: str,
    resource: Resource,
    subject: str,
    limit: float,
    found: HostLimits,
) -> Item:
    extra = {"mountpoint": subject} if resource == "disk" else {}
    if resource == "network":
        extra = {"direction": subject}
    base = Item(
        kind="host",
        host=host,
        resource=resource,
        subject=subject,
        unit=UNITS[resource],
        alert_within=found.alert_within,
        severity=section.severity,
        labels={**found.labels, "host": host, "resource": resource, **extra},
        limit=limit,
    )
    projection = project(
        series.ts,
        series.values,
        limit=limit,
        direction="up",
        now=window.now,
        horizon=section.horizon,
    )
    return judged(
        base, projection, now=window.now, min_history=section.min_history, span=series.span
    )
