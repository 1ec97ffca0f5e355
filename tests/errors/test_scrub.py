"""Scrubbing rules, one by one (the stored rows are checked in test_scrub_store.py)."""

from __future__ import annotations

import pytest

from watchkeeper.errors.scrub import FILTERED, Scrubber, luhn_valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1&password=hunter2&x=2", f"a=1&password={FILTERED}&x=2"),
        ('{"api_key": "k-123456"}', f'{{"api_key": "{FILTERED}"}}'),
        ("Authorization: Bearer abc.def.ghi", f"Authorization: {FILTERED}"),
        ("sent Basic dXNlcjpwYXNz to it", f"sent Basic {FILTERED} to it"),
        ("postgresql://app:s3cret@db/x", f"postgresql://app:{FILTERED}@db/x"),
        ("paid 4111 1111 1111 1111 ok", f"paid {FILTERED} ok"),
        ("paid 4111-1111-1111-1111", f"paid {FILTERED}"),
        ("order 4111111111111112 (not Luhn)", "order 4111111111111112 (not Luhn)"),
        ("at 1733456789123 ms", "at 1733456789123 ms"),
        ("version 1.4.2 is fine", "version 1.4.2 is fine"),
    ],
)
def test_text(text: str, expected: str) -> None:
    assert Scrubber().text(text) == expected


def test_keys_headers_pairs_and_numbers() -> None:
    scrubbed = Scrubber(["national-id"]).value(
        {
            "headers": {"X-Api-Key": "k", "Cookie": "sid=1", "Accept": "*/*"},
            "pairs": [["Set-Cookie", "a=b"], ["Accept", "x"]],
            "National_ID": "123",
            "card": 4111111111111111,
            "count": 4111111111111112,
            "session": {"user": 1},
            "empty_token": "",
        }
    )
    assert scrubbed == {
        "headers": {"X-Api-Key": FILTERED, "Cookie": FILTERED, "Accept": "*/*"},
        "pairs": [["Set-Cookie", FILTERED], ["Accept", "x"]],
        "National_ID": FILTERED,
        "card": FILTERED,
        "count": 4111111111111112,
        "session": FILTERED,
        "empty_token": "",
    }


def test_identifiers_are_left_alone() -> None:
    event = {"event_id": "4111111111111111", "timestamp": 4111111111111111, "extra": {}}
    assert Scrubber().event(event) == event


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")
