"""The routing tree: which receivers an alert goes to, and how it is grouped (Alertmanager's
semantics: depth-first, the first matching child wins unless it says ``continue``; a node
whose children all miss takes the alert itself; unset settings inherit from the parent)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from watchkeeper.alerts.config import Route
from watchkeeper.alerts.matchers import matches, parse_matchers
from watchkeeper.metrics.labels import Matcher

DEFAULT_GROUP_WAIT = timedelta(seconds=30)
CRITICAL_GROUP_WAIT = timedelta(0)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)


@dataclass(frozen=True)
class Node:
    """A route with its inherited settings resolved."""

    path: str  # "0", "0.1", "0.1.0": position in the tree
    matchers: tuple[Matcher, ...]
    receivers: tuple[str, ...]
    group_by: tuple[str, ...] | None  # None: group by all labels ("...")
    group_wait: timedelta | None  # None: 0s when the group holds a critical alert, else 30s
    group_interval: timedelta
    repeat_interval: timedelta
    continue_: bool
    children: tuple[Node, ...]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if self.group_by is None:
            return dict(labels)
        return {k: labels[k] for k in self.group_by if labels.get(k, "") != ""}

    def group_key(self, labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """A stable key of the aggregation group ``labels`` falls in, and its labels."""
        grouped = self.group_labels(labels)
        text = json.dumps([self.path, self.receivers, sorted(grouped.items())])
        return hashlib.sha256(text.encode()).hexdigest()[:40], grouped

    def wait_for(self, severities: set[str]) -> timedelta:
        if self.group_wait is not None:
            return self.group_wait
        return CRITICAL_GROUP_WAIT if "critical" in severities else DEFAULT_GROUP_WAIT


def compile_tree(route: Route) -> Node:
    """Resolve inheritance; the root matches every alert."""
    return _compile(route, None, "0")


def _compile(route: Route, parent: Node | None, path: str) -> Node:
    receivers = tuple(route.receiver) if route.receiver else (parent.receivers if parent else ())
    if route.group_by is not None:
        group_by: tuple[str, ...] | None = (
            None if "..." in route.group_by else tuple(route.group_by)
        )
    elif parent is not None:
        group_by = parent.group_by
    else:
        group_by = ("alertname",)
    node = Node(
        path=path,
        matchers=tuple(parse_matchers(route.matchers)) if parent is not None else (),
        receivers=receivers,
        group_by=group_by,
        group_wait=route.group_wait
        if route.group_wait is not None
        else (parent.group_wait if parent else None),
        group_interval=route.group_interval
        or (parent.group_interval if parent else DEFAULT_GROUP_INTERVAL),
        repeat_interval=route.repeat_interval
        or (parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL),
        continue_=route.continue_,
        children=(),
    )
    children = tuple(_compile(c, node, f"{path}.{i}") for i, c in enumerate(route.routes))
    return Node(**{**node.__dict__, "children": children})


def match(node: Node, labels: Mapping[str, str]) -> list[Node]:
    """The nodes that take an alert with ``labels`` (empty when ``node`` does not match)."""
    if not matches(labels, node.matchers):
        return []
    found: list[Node] = []
    for child in node.children:
        taken = match(child, labels)
        if taken:
            found.extend(taken)
            if not child.continue_:
                break
    return found or [node]
