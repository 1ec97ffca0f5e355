"""The plan's capacity section: defaults, overrides by host glob, and every mistake reported
at its file:line with what is wrong."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.releases.capacity.config import CapacitySection
from watchkeeper.releases.capacity.hosts import limits_for


def _load(text: str) -> CapacitySection:
    return load_plan_text(textwrap.dedent(text)).plan.capacity


def _problems(text: str) -> list[str]:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(textwrap.dedent(text))
    return [str(p) for p in info.value.problems]


def test_defaults() -> None:
    section = _load("capacity: {}\n")
    assert section.history == timedelta(days=30)
    assert section.horizon == timedelta(days=90)
    assert section.alert_within == timedelta(days=14)
    assert section.refresh == timedelta(minutes=15)
    assert (section.hosts.cpu, section.hosts.memory, section.hosts.disk) == (0.8, 0.9, 0.9)
    assert section.hosts.network is None
    assert section.databases is True


def test_overrides_apply_in_order_and_a_later_one_wins() -> None:
    section = _load(
        """
        capacity:
          alert_within: 7d
          hosts:
            exclude: ["build-*"]
            overrides:
              - hosts: ["db-*"]
                disk: 0.8
                network: 125MB
                labels: {team: data}
              - hosts: ["DB-2"]
                disk: 0.7
                ignore: [cpu]
                alert_within: 30d
        """
    )
    one = limits_for(section, "db-1")
    assert one is not None
    assert one.limits == {"cpu": 0.8, "memory": 0.9, "disk": 0.8, "network": 125_000_000}
    assert one.alert_within == timedelta(days=7)
    assert one.labels == {"team": "data"}
    two = limits_for(section, "db-2")  # globs match any case
    assert two is not None
    assert two.limits["disk"] == 0.7 and two.limits["cpu"] is None
    assert two.alert_within == timedelta(days=30)
    web = limits_for(section, "web-1")
    assert web is not None and web.limits["network"] is None
    assert limits_for(section, "build-7") is None


def test_a_target_with_window_and_limit_expr() -> None:
    section = _load(
        """
        capacity:
          targets:
            - name: requests
              expr: sum(rate(http_requests_total[$window]))
              limit_expr: max(capacity_requests_per_second)
              unit: req/s
              alert_within: 30d
        """
    )
    target = section.targets[0]
    assert target.limit is None and target.direction == "up"
    assert target.alert_within == timedelta(days=30)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            """
            capacity:
              targets:
                - name: q
                  expr: sum(queue_depth)
            """,
            "watchkeeper.yaml:4:7 capacity.targets[0]: give exactly one of `limit` or `limit_expr`",
        ),
        (
            """
            capacity:
              targets:
                - name: q
                  expr: sum(queue_depth
                  limit: 10
            """,
            "watchkeeper.yaml:5:13 capacity.targets[0].expr: not valid PromQL",
        ),
        (
            """
            capacity:
              hosts:
                cpu: 1.5
            """,
            "watchkeeper.yaml:4:10 capacity.hosts.cpu: input should be less than or equal to 1 "
            "(got 1.5)",
        ),
        (
            """
            capacity:
              hosts:
                overrides:
                  - hosts: ["db-*"]
                    ignore: [gpu]
            """,
            "watchkeeper.yaml:6:18 capacity.hosts.overrides[0].ignore[0]: input should be 'cpu', "
            "'memory', 'disk' or 'network' (got \"gpu\")",
        ),
        (
            """
            capacity:
              history: 6h
            """,
            "watchkeeper.yaml:3:12 capacity.history: input should be greater than or equal to "
            "1 day",
        ),
        (
            """
            capacity:
              history: 7d
              min_history: 8d
            """,
            "watchkeeper.yaml:3:3 capacity: `min_history` must not be longer than `history`",
        ),
        (
            """
            capacity:
              targets:
                - name: q
                  expr: up
                  limit: 1
                  direction: sideways
            """,
            "watchkeeper.yaml:7:18 capacity.targets[0].direction: input should be 'up' or 'down'",
        ),
    ],
)
def test_mistakes_are_reported_at_their_line(body: str, expected: str) -> None:
    problems = _problems(body)
    assert any(p.startswith(expected) for p in problems), problems
