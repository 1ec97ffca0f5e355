"""The plan's releases section: names it uses must be declared, CalVer patterns and
environments are checked, each problem reported with its file:line."""

from __future__ import annotations

import textwrap

import pytest

from watchkeeper.plan.loader import PlanInvalid, load_plan_text


def problems(text: str) -> list[str]:
    with pytest.raises(PlanInvalid) as caught:
        load_plan_text(textwrap.dedent(text))
    return [str(p) for p in caught.value.problems]


def test_references_name_declared_services() -> None:
    found = problems(
        """
        releases:
          services:
            - {name: api, environments: [production], depends_on: [db, api]}
          planned:
            - {name: one, service: web, at: 2026-12-10T14:00:00Z}
            - {name: two, service: api, environment: staging, at: 2026-12-10T14:00:00Z}
          freezes:
            - {name: xmas, start: 2026-12-20T00:00:00Z, end: 2027-01-03T00:00:00Z,
               services: [api, ghost]}
        """
    )
    assert found == [
        'watchkeeper.yaml:4:60 releases.services[0].depends_on[0]: no service is named "db"',
        "watchkeeper.yaml:4:64 releases.services[0].depends_on[1]: a service cannot depend "
        "on itself",
        'watchkeeper.yaml:6:28 releases.planned[0].service: no service is named "web" '
        "(declare it in `releases.services`)",
        'watchkeeper.yaml:7:46 releases.planned[1].environment: service "api" has no '
        'environment "staging" (its environments: production)',
        'watchkeeper.yaml:10:24 releases.freezes[0].services[1]: no service is named "ghost" '
        "(declare it in `releases.services`)",
    ]


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ("{name: a, versioning: calver, calver_format: YYYY.MONTH}", '"MONTH" in the CalVer'),
        ("{name: a, environments: []}", "`environments` needs at least one environment"),
        ("{name: a, environments: [prod, prod]}", "`environments` names an environment twice"),
        ("{name: a, versioning: semantic}", "releases.services[0].versioning"),
    ],
)
def test_service_conventions(service: str, message: str) -> None:
    found = problems(f"releases:\n  services:\n    - {service}\n")
    assert len(found) == 1 and message in found[0], found


def test_a_check_names_a_declared_service() -> None:
    found = problems(
        """
        checks:
          - {name: api-health, type: tcp, host: 127.0.0.1, port: 9, service: api}
          - {name: web-health, type: tcp, host: 127.0.0.1, port: 9, service: web}
        releases:
          services:
            - {name: api}
        """
    )
    assert found == [
        'watchkeeper.yaml:4:70 checks[1].service: no service is named "web" '
        "(declare it in `releases.services`)",
    ]
