"""The shipped control sets, how they merge with the plan's controls, and the plan errors
for an unknown evidence query or bad parameters (file:line, through the plan loader)."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.security.compliance.controlsets import (
    CONTROLS_DIR,
    FRAMEWORKS,
    ControlSetInvalid,
    effective_controls,
    parse_control_set,
    shipped,
)
from watchkeeper.security.compliance.evidence import registry

PREFIXES = {"soc2": "SOC 2 ", "iso27001": "ISO 27001:2022 ", "gdpr": "GDPR Art. "}
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_shipped_control_sets_are_valid(framework: str) -> None:
    """Each file loads (every evidence query known, its parameters valid), names its own
    framework, and every control maps to references of that framework."""
    found = shipped(framework)
    assert found.framework == framework
    assert len(found.controls) >= 7
    for control in found.controls:
        assert control.title and control.description, control.name
        assert control.references, control.name
        assert all(r.startswith(PREFIXES[framework]) for r in control.references), control.name
        for query in control.evidence:
            assert registry.get(query.query) is not None


def test_shipped_sets_cover_the_references_of_the_issue() -> None:
    references = {r for f in FRAMEWORKS for c in shipped(f).controls for r in c.references}
    for expected in [
        "SOC 2 CC6.1",
        "SOC 2 CC7.2",
        "SOC 2 CC7.5",
        "SOC 2 A1.2",
        "SOC 2 CC8.1",
        "ISO 27001:2022 A.5.15",
        "ISO 27001:2022 A.8.5",
        "ISO 27001:2022 A.8.8",
        "ISO 27001:2022 A.8.13",
        "ISO 27001:2022 A.8.15",
        "ISO 27001:2022 A.8.16",
        "ISO 27001:2022 A.8.24",
        "GDPR Art. 32(1)(b)",
        "GDPR Art. 32(1)(c)",
        "GDPR Art. 32(1)(d)",
    ]:
        assert expected in references
    assert any(r.startswith("GDPR Art. 33") for r in references)


def test_the_control_files_ship_with_the_package() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["watchkeeper"]
    assert "security/compliance/controls/*.yaml" in patterns
    assert "security/compliance/templates/*.html" in patterns
    assert sorted(p.stem for p in CONTROLS_DIR.glob("*.yaml")) == sorted(FRAMEWORKS)


def _section(text: str):  # type: ignore[no-untyped-def]
    return load_plan_text(textwrap.dedent(text), env={}).plan.compliance


def test_merge_replace_disable_and_own_controls() -> None:
    section = _section(
        """
        compliance:
          frameworks: [soc2, gdpr]
          disabled: [SOC2-CC6.1-MFA, GDPR-33.1-DETECTION]
          controls:
            - name: SOC2-CC7.2-ALERTING
              title: Alerts reach the on-call pager
              references: [SOC 2 CC7.2]
              evidence: [{query: alerts_routed}, {query: checks_passing, min_ratio: 0.9}]
            - name: WK-DB-1
              title: Databases are vacuumed weekly
              evidence: [{query: database_maintenance_ran, within: 8d}]
              owner: dba-team
        """
    )
    controls = effective_controls(section)
    ids = [c.id for c in controls]
    assert "SOC2-CC6.1-MFA" not in ids and "GDPR-33.1-DETECTION" not in ids
    assert not any(i.startswith("ISO-") for i in ids)  # iso27001 is not listed
    assert len(ids) == len(set(ids))
    assert ids[-1] == "WK-DB-1"
    by_id = {c.id: c for c in controls}
    assert (by_id["WK-DB-1"].framework, by_id["WK-DB-1"].origin) == ("plan", "plan")
    replaced = by_id["SOC2-CC7.2-ALERTING"]
    assert (replaced.framework, replaced.origin) == ("soc2", "replaced")
    assert [q.query for q in replaced.control.evidence] == ["alerts_routed", "checks_passing"]
    assert replaced.control.evidence[1].params == {"min_ratio": 0.9}
    assert by_id["GDPR-32.1a-TLS"].origin == "shipped"
    shipped_count = len(shipped("soc2").controls) + len(shipped("gdpr").controls)
    assert len(controls) == shipped_count - 2 + 1


def _problems(text: str) -> list[str]:
    with pytest.raises(PlanInvalid) as caught:
        load_plan_text(textwrap.dedent(text).lstrip(), env={})
    return [str(p) for p in caught.value.problems]


def test_plan_errors_name_the_file_line_and_field() -> None:
    problems = _problems(
        """
        compliance:
          frameworks: [soc2]
          controls:
            - name: WK-1
              title: Restores are tested
              evidence:
                - query: backup_drils_passed
                - query: backup_drills_passed
                  within: 5x
                  polices: [db-*]
                - {query: restore_rto_under}
                - {query: admins_have_mfa, roles: [root]}
                - {query: log_retention, streams: ['{app=~"x"}']}
        """
    )
    assert problems == [
        "watchkeeper.yaml:7:18 compliance.controls[0].evidence[0].query: unknown evidence "
        'query "backup_drils_passed" (did you mean "backup_drills_passed"?)',
        'watchkeeper.yaml:9:19 compliance.controls[0].evidence[1].within: "5x" is not a '
        "duration (use 30s, 5m, 2h)",
        "watchkeeper.yaml:10:11 compliance.controls[0].evidence[1].polices: unknown key "
        '(did you mean "policies"?)',
        "watchkeeper.yaml:11:11 compliance.controls[0].evidence[2].objective: is required",
        "watchkeeper.yaml:12:44 compliance.controls[0].evidence[3].roles[0]: input should be "
        "'viewer', 'responder', 'operator' or 'admin' (got \"root\")",
        "watchkeeper.yaml:13:44 compliance.controls[0].evidence[4].streams[0]: name a stream "
        'with `=` matchers only, e.g. {source="watchkeeper", stream="audit"} (got '
        '"{app=~"x"}")',
    ]


def test_disabled_ids_must_be_shipped_controls_of_the_frameworks() -> None:
    problems = _problems(
        """
        compliance:
          frameworks: [soc2]
          disabled: [SOC2-CC6.1-MFA, SOC2-CC6.1-MFX, ISO-A.8.5-MFA]
        """
    )
    assert problems == [
        'watchkeeper.yaml:3:30 compliance.disabled[1]: "SOC2-CC6.1-MFX" is not a shipped '
        'control of the frameworks (soc2) (did you mean "SOC2-CC6.1-MFA"?)',
        'watchkeeper.yaml:3:46 compliance.disabled[2]: "ISO-A.8.5-MFA" is not a shipped '
        "control of the frameworks (soc2)",
    ]


def test_a_broken_control_set_file_is_reported_with_file_and_line() -> None:
    text = textwrap.dedent(
        """\
        framework: soc2
        title: Broken
        controls:
          - name: X-1
            title: One
            evidence: [{query: nope}]
          - name: X-2
            title: Two
            evidence: [{query: audit_trail_intact, extra: 1}]
        """
    )
    with pytest.raises(ControlSetInvalid) as caught:
        parse_control_set(text, "soc2.yaml")
    assert [str(p) for p in caught.value.problems] == [
        'soc2.yaml:6:24 controls[0].evidence[0].query: unknown evidence query "nope" '
        f"(available: {', '.join(registry.names())})",
        "soc2.yaml:9:44 controls[1].evidence[0].extra: unknown key (allowed: query)",
    ]
    duplicate = (
        text.replace("X-2", "X-1").replace(", extra: 1", "").replace("nope", "alerts_routed")
    )
    with pytest.raises(ControlSetInvalid, match=r"soc2.yaml:7:11 controls\[1\].name"):
        parse_control_set(duplicate, "soc2.yaml")
