"""The security section's references are checked when the plan loads: patch windows name
declared maintenance windows, and hardening profiles skip only checks that exist."""

from __future__ import annotations

from tests.plan.test_loader import messages_of
from watchkeeper.plan.loader import load_plan_text

PLAN = """\
alerts:
  maintenance_windows:
    - {name: sunday-night, cron: "0 2 * * 0", duration: 2h}
security:
  patch_windows: [sunday-night, sunday]
  hardening:
    - {name: base, skip: [SSH-ROOT-LOGIN, NET-FIREWAL]}
"""


def test_unknown_patch_windows_and_check_ids_are_errors_at_their_line() -> None:
    found = messages_of(PLAN)
    assert found[0] == (
        "watchkeeper.yaml:5:33 security.patch_windows[1]: no maintenance window is named "
        '"sunday" (declare it in `alerts.maintenance_windows`)'
    )
    assert found[1].startswith(
        "watchkeeper.yaml:7:43 security.hardening[0].skip[1]: no hardening check has the id "
        '"NET-FIREWAL" (known: CRYPT-DISK, '
    )
    assert "NET-FIREWALL" in found[1] and len(found) == 2


def test_known_names_are_accepted() -> None:
    fixed = PLAN.replace(", sunday]", "]").replace("NET-FIREWAL]", "NET-FIREWALL]")
    plan = load_plan_text(fixed, env={}).plan
    assert plan.security.patch_windows == ["sunday-night"]
