"""Shell-style globs as the plan uses them: host names, suppressions, inventories and
hardening profiles in any case; compliance evidence names as the plan spells them."""

from __future__ import annotations

import pytest

from watchkeeper.globs import is_glob, matches, matches_any


@pytest.mark.parametrize(
    ("value", "patterns", "case_sensitive", "expected"),
    [
        ("Web-1", ["web-*"], False, True),
        ("web-1", ["WEB-?"], False, True),
        ("Web-1", ["web-*"], True, False),
        ("web-1", ["web-*"], True, True),
        ("db-1", ["web-*", "[cd]b-1"], False, True),
        ("db-10", ["db-?"], False, False),
        ("/var/log/app.log", ["/var/log/*.log"], True, True),  # no special "/"
        ("/var/log/a/b.log", ["/var/log/*.log"], True, True),
        ("anything", [], False, False),
    ],
)
def test_matches_any(value: str, patterns: list[str], case_sensitive: bool, expected: bool) -> None:
    assert matches_any(value, patterns, case_sensitive=case_sensitive) is expected
    assert any(matches(value, p, case_sensitive=case_sensitive) for p in patterns) is expected


def test_is_glob() -> None:
    assert [is_glob(p) for p in ("web-*", "db-?", "[ab]-1", "web-1", "CVE-2024-1")] == [
        True,
        True,
        True,
        False,
        False,
    ]
