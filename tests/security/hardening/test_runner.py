"""The hardening index (points earned over points possible of the checks that ran), a
profile's skipped checks, a broken check becoming an error, and how profiles add up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.security.hardening.support import profile, tree_context, write
from watchkeeper.security.hardening.interface import REGISTRY
from watchkeeper.security.hardening.profiles import for_host, merge
from watchkeeper.security.hardening.runner import checks, run_check, run_checks, score


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([("pass", 5), ("fail", 3), ("skip", 4), ("error", 2)], (5, 8, 62.5)),
        ([("pass", 5), ("pass", 4)], (9, 9, 100.0)),
        ([("fail", 5), ("fail", 1)], (0, 6, 0.0)),
        ([("pass", 1), ("fail", 2)], (1, 3, 33.3)),  # one decimal
        ([("skip", 5), ("error", 3)], (0, 0, 0.0)),  # nothing judged: no index
        ([], (0, 0, 0.0)),
    ],
)
def test_index_counts_only_checks_that_ran(
    results: list[tuple[str, int]], expected: tuple[int, int, float]
) -> None:
    assert score(results) == expected


def test_a_host_audit_on_a_prepared_tree(tmp_path: Path) -> None:
    write(tmp_path, "/etc/ssh/sshd_config", "PermitRootLogin no\nPasswordAuthentication yes\n")
    write(tmp_path, "/usr/bin/tool", "x", 0o777)
    ctx = tree_context(tmp_path, system_paths=["/usr/bin"], skip=["PKG-AUTO-UPDATES"])
    report = run_checks(ctx, ["host"], host="web-1", profile="base")
    statuses = {o.id: o.status for o in report.outcomes}
    assert statuses == {
        "CRYPT-DISK": "skip",  # no encrypted_mounts declared
        "FILES-WORLD-WRITABLE": "fail",
        "NET-FIREWALL": "skip",  # a tree, not the running system
        "NET-LISTENING-PORTS": "skip",
        "PKG-AUTO-UPDATES": "skip",  # by the profile
        "SSH-PASSWORD-AUTH": "fail",
        "SSH-ROOT-LOGIN": "pass",
        "WK-FILE-MODES": "skip",
    }
    assert (report.points, report.possible, report.index) == (5, 13, 38.5)
    skipped = next(o for o in report.outcomes if o.id == "PKG-AUTO-UPDATES")
    assert skipped.detail == "skipped by the profile (test)"
    assert [o.status for o in report.ordered()][:2] == ["fail", "fail"]


def test_a_check_that_raises_is_an_error_not_a_crash(tmp_path: Path) -> None:
    item = REGISTRY["TLS-KEY-SIZE"]  # needs an endpoint; the context has none
    result = run_check(item, tree_context(tmp_path))
    assert (result.status, result.detail) == ("error", "no endpoint given")


def test_registry_describes_every_check() -> None:
    ids = [c.id for c in checks()]
    assert ids == sorted(ids) and len(ids) == 16
    for item in checks():
        assert item.title and item.rationale and item.remediation and 1 <= item.weight <= 5
    assert {c.scope for c in checks(["endpoint"])} == {"endpoint"}


def test_matching_profiles_add_up() -> None:
    base = profile(name="base", hosts=["*"], allowed_ports=["22"], interval="1d")
    web = profile(
        name="web",
        hosts=["web-*"],
        allowed_ports=["443", "22"],
        skip=["CRYPT-DISK"],
        system_paths=["/opt/app"],
        interval="6h",
    )
    applied = for_host([web, base], "WEB-1")
    assert applied is not None
    assert applied.names == ("web", "base") and applied.label == "web,base"
    assert applied.profile.allowed_ports == ["443", "22"]
    assert applied.profile.skip == ["CRYPT-DISK"]
    assert applied.profile.system_paths[0] == "/opt/app" and "/etc" in applied.profile.system_paths
    assert applied.profile.interval == timedelta(hours=6)
    assert for_host([web], "db-1") is None
    assert merge([]) is None
