"""Envelope parsing: length-delimited and newline-delimited items, and named problems."""

from __future__ import annotations

import pytest

from watchkeeper.errors.envelope import parse_envelope
from watchkeeper.errors.protocol import ProtocolError


def test_items_with_length_and_without() -> None:
    data = (
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n'
        b'{"type":"attachment","length":10}\n'
        b"\xef\xbb\xbfHello\r\n\n"
        b'{"type":"event"}\n'
        b'{"message":"hello"}\n'
    )
    env = parse_envelope(data)
    assert env.headers == {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"}
    assert [(i.type, i.payload) for i in env.items] == [
        ("attachment", b"\xef\xbb\xbfHello\r\n"),
        ("event", b'{"message":"hello"}'),
    ]


def test_last_item_without_newline_and_empty_payloads() -> None:
    env = parse_envelope(b'{}\n{"type":"session","length":0}\n{"type":"event"}\n{}')
    assert [(i.type, i.payload) for i in env.items] == [("session", b""), ("event", b"{}")]


def test_header_only_envelope() -> None:
    assert parse_envelope(b'{"dsn":"https://k@h/1"}').items == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the envelope is empty"),
        (b"not json\n", "line 1: the envelope header is not valid JSON"),
        (b"[1]\n", "line 1: the envelope header is not a JSON object"),
        (b'{}\n{"type":"event"}\n{}\n{oops\n', "line 4: the header of item 2 is not valid JSON"),
        (b'{}\n{"length":2}\n{}\n', 'line 2: the header of item 1 has no "type"'),
        (b'{}\n{"type":"event","length":-1}\n', 'has a "length" that is not a non-negative'),
        (
            b'{}\n{"type":"event","length":50}\n{}\n',
            "line 2: item 1 (event) declares a length of 50 bytes but only 3 follow",
        ),
        (
            b'{}\n{"type":"event","length":2}\n{}xyz\n',
            "line 3: the header of item 2 is not valid JSON",
        ),
    ],
)
def test_malformed_envelopes_name_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_envelope(data)
    assert message in str(caught.value)
    assert caught.value.status == 400
