"""Masking personal data and secrets: each built-in finds what it should and leaves ordinary
text alone, and masked values are gone from the message, the fields, the labels and the
store (searched through the real HTTP ingest)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import get_args

import httpx
import pytest

from tests.helpers import LiveServer
from tests.logs.push_support import EVERYTHING, stored
from tests.metrics.ingest_support import api_token
from watchkeeper.logs.config import LogsSection, MaskName
from watchkeeper.logs.masking import BUILTINS, builtin, iban_valid, luhn_valid
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.pipeline import Processor
from watchkeeper.runtime.context import AppContext

RECEIVED = 1_700_000_000_000_000_000
VISA = "4111 1111 1111 1111"
VISA_NOT_LUHN = "4111 1111 1111 1112"
IBAN = "DE89 3704 0044 0532 0130 00"
IBAN_BAD_CHECK = "DE88 3704 0044 0532 0130 00"


def mask(name: str, text: str) -> str:
    return builtin(name).text(text)


def test_plan_names_and_builtins_agree() -> None:
    assert set(get_args(MaskName)) == set(BUILTINS)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("email", "mail to ann.lee+shop@mail.example.co.uk now", "mail to [email] now"),
        ("email", '{"to":"bob@example.com"}', '{"to":"[email]"}'),
        ("email", "user=bob@example.com,", "user=[email],"),
        ("card_number", f"card {VISA} ok", "card [card] ok"),
        ("card_number", "card=4111-1111-1111-1111;", "card=[card];"),
        ("card_number", "amex 378282246310005.", "amex [card]."),
        ("card_number", "id 12 4111111111111111 x", "id 12 [card] x"),
        ("iban", f"pay to {IBAN}.", "pay to [iban]."),
        ("iban", "iban=GB82WEST12345698765432", "iban=[iban]"),
        ("ipv4", "from 192.168.10.254:5432", "from [ipv4]:5432"),
        ("ipv4", "peers 10.0.0.1,10.0.0.2", "peers [ipv4],[ipv4]"),
        (
            "bearer_token",
            "Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig-_",
            "Authorization: Bearer [token]",
        ),
        ("bearer_token", "authorization=Basic dXNlcjpwYXNz", "authorization=Basic [token]"),
        ("bearer_token", "sent bearer abc123XYZ to api", "sent bearer [token] to api"),
        ("bearer_token", "GET /cb?token=abc123&page=2", "GET /cb?token=[token]&page=2"),
        ("bearer_token", "x_api_key=k-123 api-key: k-456", "x_api_key=[token] api-key: [token]"),
        ("bearer_token", '{"access_token": "a b c"}', '{"access_token": "[token]"}'),
        ("password_field", "login password=hunter2 ok", "login password=[password] ok"),
        ("password_field", '{"password": "correct horse"}', '{"password": "[password]"}'),
        (
            "password_field",
            "passwd: s3cret db_password='x y'",
            "passwd: [password] db_password='[password]'",
        ),
        ("password_field", "client_secret=abc&grant=x", "client_secret=[password]&grant=x"),
    ],
)
def test_builtin_masks_find_what_they_should(name: str, text: str, expected: str) -> None:
    assert mask(name, text) == expected


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("email", "no at sign here, just @mentions and a@b"),
        ("card_number", f"card {VISA_NOT_LUHN} fails Luhn"),
        ("card_number", "order 1234567890123 and phone +49 30 1234 5678"),
        ("card_number", "12 digits 411111111111 and 20 digits 41111111111111111111"),
        ("card_number", "2024-05-01 12:00:00.123456789 took 0.4111111111111111s"),
        ("card_number", "zeros 0000 0000 0000 0000"),
        ("card_number", "hex a4111111111111111 id"),
        ("iban", f"bad check {IBAN_BAD_CHECK}"),
        ("iban", "HTTP11 GET1 ABCD EFGH and DE12"),
        ("ipv4", "version 1.2.3.4.5 and 256.1.1.1 and 10.0.0"),
        ("ipv4", "took 1.25 s, ratio 0.5.1"),
        ("bearer_token", "max_tokens=512 token_count=3 tokens: many"),
        ("password_field", "password reset requested for user 42"),
    ],
)
def test_builtin_masks_leave_ordinary_text_alone(name: str, text: str) -> None:
    assert mask(name, text) == text


def test_luhn_and_iban_checks() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")
    assert iban_valid(IBAN) and iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid(IBAN_BAD_CHECK) and not iban_valid("DE89")


def test_a_field_named_for_a_secret_is_masked_whole() -> None:
    tokens, passwords = builtin("bearer_token"), builtin("password_field")
    assert tokens.field("headers.Authorization", "Bearer abc") == "[token]"
    assert tokens.field("refresh_token", "r1") == "[token]"
    assert tokens.field("max_tokens", "512") == "512"
    assert passwords.field("user.password", "hunter2") == "[password]"
    assert passwords.field("db.pwd", "x") == "[password]"
    assert passwords.field("note", "password=x1") == "password=[password]"
    assert passwords.field("password", "") == ""


SECRETS = [
    "ann@example.com",
    "4111111111111111",
    "4111 1111 1111 1111",
    "DE89370400440532013000",
    "203.0.113.9",
    "tok-0123456789abcdef",
    "hunter2",
    "s3cr3t-pw",
]


def sensitive_lines() -> list[LogLine]:
    labels = make_labels({"app": "shop", "client": "203.0.113.9"})
    messages = [
        json.dumps(
            {
                "msg": "paid by ann@example.com with 4111111111111111",
                "user": {"email": "ann@example.com", "password": "hunter2"},
                "iban": "DE89370400440532013000",
                "headers": {"Authorization": "Bearer tok-0123456789abcdef"},
            }
        ),
        "login ann@example.com from 203.0.113.9 password=s3cr3t-pw card 4111 1111 1111 1111",
        'level=info msg="refund" iban=DE89370400440532013000 api_key=tok-0123456789abcdef',
        "GET /export?token=tok-0123456789abcdef HTTP/1.1",
    ]
    return [LogLine(RECEIVED, RECEIVED, labels, m) for m in messages]


def everything_in(line: LogLine) -> str:
    return "\n".join([line.message, *line.fields, *line.fields.values(), *map(str, line.labels)])


def test_global_masks_leave_no_secret_in_message_fields_or_labels() -> None:
    processor = Processor(LogsSection(mask=list(get_args(MaskName))))
    out = processor.process(sensitive_lines())
    assert len(out) == 4
    for line in out:
        text = everything_in(line)
        for secret in SECRETS:
            assert secret not in text, (secret, line)
    assert out[0].message == "paid by [email] with [card]"
    assert out[0].fields["user.password"] == "[password]"
    assert out[0].fields["headers.Authorization"] == "[token]"
    assert ("client", "[ipv4]") in out[0].labels
    assert out[2].fields == {
        "level": "info",
        "msg": "refund",
        "iban": "[iban]",
        "api_key": "[token]",
    }


def test_masks_apply_after_pipelines_so_promoted_labels_are_masked() -> None:
    section = LogsSection.model_validate(
        {
            "mask": ["email"],
            "pipelines": [{"name": "who", "stages": [{"labels": ["user"]}]}],
        }
    )
    [out] = Processor(section).process(
        [LogLine(RECEIVED, RECEIVED, (), '{"message": "hi", "user": "ann@example.com"}')]
    )
    assert out.labels == (("user", "[email]"),)


def test_without_masks_nothing_is_changed() -> None:
    [out] = Processor(LogsSection()).process(sensitive_lines()[1:2])
    assert "ann@example.com" in out.message


# --- end to end: HTTP ingest, store, search -------------------------------------------------


@pytest.fixture
def pusher(ctx: AppContext, server: LiveServer) -> Iterator[httpx.Client]:
    token = api_token(ctx)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def test_masked_values_cannot_be_found_in_the_store(ctx: AppContext, pusher: httpx.Client) -> None:
    ctx.logs.reconfigure(LogsSection(mask=list(get_args(MaskName))))
    body = "".join(
        json.dumps({"message": line.message, "labels": {"app": "shop"}}) + "\n"
        for line in sensitive_lines()
    )
    resp = pusher.post(
        "/api/v1/logs", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert resp.status_code == 200, resp.text
    lines = stored(ctx, '{app="shop"}')
    assert len(lines) == 4
    for line in lines:
        text = everything_in(line)
        for secret in SECRETS:
            assert secret not in text
    for secret in ("ann@example.com", "hunter2", "s3cr3t-pw", "tok-0123456789abcdef"):
        assert ctx.logs.search(f'{{app="shop"}} |= "{secret}"', *EVERYTHING) == []
    assert len(ctx.logs.search('{app="shop"} |= "[email]"', *EVERYTHING)) == 2
