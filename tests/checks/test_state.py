"""Failure and success thresholds (Gatus semantics)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchkeeper.checks.state import CheckState, advance

T = datetime(2026, 1, 1, tzinfo=UTC)


def run(results: str, retries: int = 0, recover_after: int = 1) -> list[str]:
    state, seen = CheckState(), []
    for ch in results:
        state = advance(state, ch == "+", T, retries=retries, recover_after=recover_after)
        seen.append(state.status)
    return seen


@pytest.mark.parametrize(
    ("results", "retries", "recover_after", "expected"),
    [
        ("+", 0, 1, ["up"]),
        ("-", 0, 1, ["down"]),
        ("--", 1, 1, ["pending", "down"]),
        ("+--", 2, 1, ["up", "up", "up"]),
        ("+---", 2, 1, ["up", "up", "up", "down"]),
        ("+-+-+-", 1, 1, ["up"] * 6),  # flapping below the threshold never goes down
        ("-+", 0, 1, ["down", "up"]),
        ("-++", 0, 2, ["down", "down", "up"]),
        ("-+-++", 0, 2, ["down", "down", "down", "down", "up"]),
        ("+", 0, 3, ["up"]),  # a new check is up at its first success
    ],
)
def test_thresholds(results: str, retries: int, recover_after: int, expected: list[str]) -> None:
    assert run(results, retries, recover_after) == expected


def test_changed_at_moves_only_with_the_status() -> None:
    later = datetime(2026, 1, 2, tzinfo=UTC)
    up = advance(CheckState(), True, T, retries=0, recover_after=1)
    still_up = advance(up, True, later, retries=0, recover_after=1)
    assert up.changed_at == T and still_up.changed_at == T
    down = advance(still_up, False, later, retries=0, recover_after=1)
    assert down.changed_at == later
