"""The plan's backups section at load time: `copy` targets must be declared repositories the
policy does not already back up to, and policy names must not collide with the fixed
routes under /api/v1/backups and /backups. The backup and restore commands load the
section on its own (``plan.section.load_section``): the same problems, the other sections
left alone."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.api.test_route_permissions import routes_of
from watchkeeper.backups.config import RESERVED_POLICY_NAMES, BackupsSection, broken_references
from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.plan.section import load_section
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext

PLAN = """
backups:
  repositories:
    - {name: local, url: /srv/restic, password: repository-password}
    - {name: offsite, url: /mnt/restic, password: repository-password}
  policies:
    - name: NAME
      source: {type: files, paths: [/srv/app]}
      repositories: [local]
      COPY
"""


def _problems(name: str = "files", copy: str = "") -> list[str]:
    text = textwrap.dedent(PLAN).replace("NAME", name).replace("COPY", copy)
    try:
        load_plan_text(text, env={})
    except PlanInvalid as exc:
        return str(exc).splitlines()
    return []


def test_a_copy_into_a_declared_second_repository_loads() -> None:
    assert _problems(copy="copy: {to: [offsite]}") == []
    text = textwrap.dedent(PLAN).replace("NAME", "files")
    text = text.replace("COPY", 'copy: {to: [offsite], schedule: "0 6 * * *"}')
    (policy,) = load_plan_text(text, env={}).plan.backups.policies
    assert policy.copy_ is not None and policy.copy_.to == ["offsite"]
    assert policy.copy_.schedule == "0 6 * * *"


@pytest.mark.parametrize(
    ("copy", "problem"),
    [
        (
            "copy: {to: [nowhere]}",
            "watchkeeper.yaml:10:19 backups.policies[0].copy.to[0]: no backup repository is "
            'named "nowhere"',
        ),
        (
            "copy: {to: [offsite, local]}",
            "watchkeeper.yaml:10:28 backups.policies[0].copy.to[1]: the policy already backs up "
            'to "local"',
        ),
        ("copy: {to: []}", "backups.policies[0].copy.to: list should have at least 1 item"),
        ('copy: {to: [offsite], schedule: "6am"}', "copy.schedule: not a cron expression"),
        ("copy: {to: [offsite], from: local}", "copy.from: unknown key (allowed: to, schedule)"),
    ],
)
def test_bad_copy_targets_are_reported_with_their_line(
    copy: str, problem: str, tmp_path: Path
) -> None:
    (found,) = _problems(copy=copy)
    assert found.startswith(problem) or problem in found, found
    text = textwrap.dedent(PLAN).replace("NAME", "files").replace("COPY", copy)
    assert _section_problems(tmp_path, text) == [found]  # the same, at the same place


def _section_problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    """The problems of loading the backups section alone, named as the full load names them."""
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text(text)
    try:
        load_section(plan, "backups", BackupsSection, env=env or {}, references=broken_references)
    except PlanInvalid as exc:
        return [line.replace(str(plan), "watchkeeper.yaml") for line in str(exc).splitlines()]
    return []


def test_the_section_alone_ignores_the_other_sections(tmp_path: Path) -> None:
    text = textwrap.dedent(PLAN).replace("NAME", "files").replace("COPY", "")
    broken_elsewhere = text + 'checks:\n  - {name: web, type: nope, url: "${UNSET}"}\n'
    assert _section_problems(tmp_path, broken_elsewhere) == []
    with pytest.raises(PlanInvalid):
        load_plan_text(broken_elsewhere, env={})  # the full load still refuses the plan
    plan = tmp_path / "watchkeeper.yaml"
    section = load_section(plan, "backups", BackupsSection, env={})
    assert [p.name for p in section.policies] == ["files"]
    plan.write_text("checks: []\n")
    assert load_section(plan, "backups", BackupsSection, env={}) == BackupsSection()


def test_the_section_alone_reports_its_own_problems(tmp_path: Path) -> None:
    text = textwrap.dedent(PLAN).replace("NAME", "files").replace("COPY", "")
    again = "    - {name: files, source: {type: files, paths: [/a]}, repositories: [local]}\n"
    twice = text.replace("  policies:\n", "  policies:\n" + again)
    (found,) = _section_problems(tmp_path, twice)
    assert found.startswith("watchkeeper.yaml:8:13 backups.policies[1].name: ")
    assert '"files" is already used by backups.policies[0]' in found
    unset = text.replace(
        "repository-password}\n    - {name: offsite", '"${REPO_PASSWORD}"}\n    - {name: offsite'
    )
    (found,) = _section_problems(tmp_path, unset)
    assert "backups.repositories[0].password" in found and "REPO_PASSWORD" in found
    assert _section_problems(tmp_path, unset, env={"REPO_PASSWORD": "from-the-env"}) == []
    (found,) = _section_problems(tmp_path, text + "  max_paralel: 3\n")
    assert 'backups.max_paralel: unknown key (did you mean "max_parallel"?)' in found
    assert _section_problems(tmp_path, "backups: [\n") != []  # YAML that does not parse


@pytest.mark.parametrize("name", sorted(RESERVED_POLICY_NAMES))
def test_policy_names_that_are_routes_are_refused(name: str) -> None:
    (found,) = _problems(name=name)
    assert found.startswith("watchkeeper.yaml:7:13 backups.policies[0].name: ")
    assert f'"{name}" is reserved: /api/v1/backups/{name} and /backups/{name}' in found


def test_near_names_are_fine() -> None:
    assert _problems(name="runs-db") == []
    assert _problems(name="Runs") == []  # paths are case-sensitive: no collision


def test_every_fixed_route_under_backups_is_a_reserved_name(ctx: AppContext) -> None:
    fixed = set()
    for _, path, _ in routes_of(create_app(ctx)):
        for base in ("/api/v1/backups/", "/backups/"):
            if path.startswith(base):
                first = path[len(base) :].split("/")[0]
                if first and not first.startswith("{"):
                    fixed.add(first)
    assert "runs" in fixed
    assert fixed <= RESERVED_POLICY_NAMES, (
        f"add {sorted(fixed - RESERVED_POLICY_NAMES)} to RESERVED_POLICY_NAMES"
    )
