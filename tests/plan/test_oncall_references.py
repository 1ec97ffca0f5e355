"""Names the ``oncall`` and ``incidents`` sections use must exist: `plan check` reports each
missing schedule, person, channel and escalation policy at its file:line, all at once."""

from __future__ import annotations

import textwrap

import pytest

from watchkeeper.plan.loader import PlanInvalid, load_plan_text

PLAN = """\
notifications:
  channels:
    - {name: chat, type: webhook, url: "http://127.0.0.1:1/"}
oncall:
  people:
    - name: alice
      contact:
        - {channel: chat}
        - {channel: sms}
  schedules:
    - name: primary
      layers:
        - members: [alice, bob]
  escalation_policies:
    - name: default
      steps:
        - notify:
            - {schedule: primary}
            - {schedule: secondary}
            - {person: carol}
            - {channel: pager}
incidents:
  auto_open:
    - {escalation: defualt}
  major_incident: {escalation: major}
  drills:
    - {name: game-day, escalation: drill-policy}
  contacts:
    - {name: isp, kind: provider, channel: fax}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(textwrap.dedent(text), file="plan.yaml", env={})
    return str(info.value).splitlines()


def test_every_missing_name_is_reported_at_its_line() -> None:
    assert problems(PLAN) == [
        "plan.yaml:9:21 oncall.people[0].contact[1].channel: "
        'no notification channel is named "sms"',
        "plan.yaml:13:28 oncall.schedules[0].layers[0].members[1]: "
        'no person in `oncall.people` is named "bob"',
        "plan.yaml:19:26 oncall.escalation_policies[0].steps[0].notify[1].schedule: "
        'no on-call schedule is named "secondary"',
        "plan.yaml:20:24 oncall.escalation_policies[0].steps[0].notify[2].person: "
        'no person in `oncall.people` is named "carol"',
        "plan.yaml:21:25 oncall.escalation_policies[0].steps[0].notify[3].channel: "
        'no notification channel is named "pager"',
        "plan.yaml:24:20 incidents.auto_open[0].escalation: "
        'no escalation policy is named "defualt"',
        "plan.yaml:25:32 incidents.major_incident.escalation: "
        'no escalation policy is named "major"',
        "plan.yaml:27:36 incidents.drills[0].escalation: "
        'no escalation policy is named "drill-policy"',
        'plan.yaml:29:44 incidents.contacts[0].channel: no notification channel is named "fax"',
    ]


def test_a_plan_whose_names_all_exist_loads() -> None:
    fixed = (
        PLAN.replace("{channel: sms}", "{channel: chat, after: 2m}")
        .replace("[alice, bob]", "[alice]")
        .replace("{schedule: secondary}", "{schedule: primary}")
        .replace("{person: carol}", "{person: alice}")
        .replace("{channel: pager}", "{channel: chat}")
        .replace("defualt", "default")
        .replace("escalation: major}", "escalation: default}")
        .replace("drill-policy", "default")
        .replace("channel: fax", "channel: chat")
    )
    loaded = load_plan_text(fixed, file="plan.yaml", env={})
    assert loaded.plan.oncall.escalation_policies[0].name == "default"


def test_the_default_incidents_section_references_nothing() -> None:
    loaded = load_plan_text("incidents: {}\noncall: {}\n", file="plan.yaml", env={})
    assert loaded.plan.incidents.auto_open[0].escalation is None
