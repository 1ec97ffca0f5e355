"""The alerts section in the plan: bad templates, matchers and references are reported with
their file:line, all at once."""

from __future__ import annotations

import textwrap

import pytest

from watchkeeper.alerts.config import Route
from watchkeeper.alerts.matchers import MatcherError, format_matcher, parse_matcher
from watchkeeper.alerts.routing import compile_tree, match
from watchkeeper.plan.loader import PlanInvalid, load_plan_text


def problems(text: str) -> list[str]:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(textwrap.dedent(text), file="plan.yaml")
    return str(info.value).splitlines()


def test_bad_template_is_reported_at_its_line() -> None:
    found = problems(
        """
        alerts:
          rules:
            - name: Down
              expr: up == 0
              annotations:
                summary: "{{ $labels.instance is down"
        """
    )
    assert any(p.startswith("plan.yaml:7:") and "template error" in p for p in found), found


PLAN = """
checks:
  - {name: api, type: tcp, host: 127.0.0.1, port: 80}
notifications:
  channels:
    - {name: chat, type: webhook, url: "http://127.0.0.1:1/"}
  fallback: pager
alerts:
  route:
    receiver: chat
    routes:
      - matchers: ['severity="critical"']
        receiver: pagr
  rules:
    - {name: A, expr: "rate(x[5m])"}
    - {name: B, check: apii}
    - {name: C, heartbeat: api}
"""


def test_bad_promql_and_matchers_are_reported_at_their_lines() -> None:
    bad = PLAN.replace('severity="critical"', 'severity=="critical"').replace("[5m])", "[5m]")
    found = "\n".join(problems(bad))
    assert "plan.yaml:12:" in found and "is not a label matcher" in found
    assert "plan.yaml:15:" in found and "not valid PromQL" in found


def test_references_to_missing_checks_and_channels_are_reported() -> None:
    found = "\n".join(problems(PLAN))
    assert "plan.yaml:13:" in found and 'no notification channel is named "pagr"' in found
    assert "plan.yaml:16:" in found and 'no check is named "apii"' in found
    assert "is a tcp check, not a heartbeat" in found
    assert "plan.yaml:7:" in found and 'no notification channel is named "pager"' in found


def test_matchers_parse_in_alertmanager_syntax() -> None:
    m = parse_matcher('team=~"db|ops"')
    assert (m.name, m.op, m.value) == ("team", "=~", "db|ops")
    assert parse_matcher("env!=staging").matches("prod")
    assert format_matcher(parse_matcher('a="x\\"y"')) == 'a="x\\"y"'
    with pytest.raises(MatcherError, match="not a valid regular expression"):
        parse_matcher('a=~"("')


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"severity": "critical", "team": "db"}, [("db-pager",), ("ops",)]),
        ({"severity": "critical", "team": "web"}, [("pager",)]),
        ({"severity": "warning", "team": "ops"}, [("ops",)]),
        ({"severity": "warning"}, [("default",)]),
    ],
)
def test_routing_tree_matrix(labels: dict[str, str], receivers: list[tuple[str, ...]]) -> None:
    tree = compile_tree(
        Route.model_validate(
            {
                "receiver": "default",
                "group_wait": "10s",
                "routes": [
                    {
                        "matchers": ['severity="critical"'],
                        "receiver": "pager",
                        "continue": True,
                        "routes": [{"matchers": ["team=db"], "receiver": "db-pager"}],
                    },
                    {"matchers": ['team=~"db|ops"'], "receiver": "ops", "group_by": ["..."]},
                ],
            }
        )
    )
    nodes = match(tree, labels)
    assert [n.receivers for n in nodes] == receivers
    assert all(n.group_wait is not None and n.group_wait.total_seconds() == 10 for n in nodes)


def test_group_wait_defaults_to_zero_for_critical() -> None:
    node = compile_tree(Route.model_validate({"receiver": "x"}))
    assert node.wait_for({"critical", "warning"}).total_seconds() == 0
    assert node.wait_for({"warning"}).total_seconds() == 30
