"""HTTP checks against real servers on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.checks.conftest import Target
from watchkeeper.checks.http import HttpCheck, HttpCheckConfig
from watchkeeper.checks.interface import Outcome


def check(**spec: Any) -> Outcome:
    plugin = HttpCheck()

    async def go() -> Outcome:
        try:
            return await plugin.run(
                HttpCheckConfig.model_validate({"name": "t", "type": "http", **spec})
            )
        finally:
            await plugin.aclose()

    return asyncio.run(go())


def test_2xx_is_up_with_a_response_time(http_target: Target) -> None:
    outcome = check(url=http_target.url("/status/204"))
    assert outcome.ok and outcome.message == "HTTP 204"
    assert outcome.response_ms is not None and outcome.response_ms > 0


@pytest.mark.parametrize(
    ("code", "expected", "ok"),
    [(500, [], False), (404, [], False), (404, [404], True), (200, [201, 204], False)],
)
def test_expected_status(http_target: Target, code: int, expected: list[int], ok: bool) -> None:
    outcome = check(url=http_target.url(f"/status/{code}"), expected_status=expected)
    assert outcome.ok is ok
    if not ok:
        assert outcome.message.startswith(f"HTTP {code} (expected")


def test_body_must_contain(http_target: Target) -> None:
    assert check(url=http_target.url("/status/200"), body_contains="<title>").ok
    outcome = check(url=http_target.url("/status/200"), body_contains="Welcome")
    assert not outcome.ok and "does not contain 'Welcome'" in outcome.message


def test_connection_refused(closed_port: int) -> None:
    outcome = check(url=f"http://127.0.0.1:{closed_port}/")
    assert not outcome.ok and outcome.message == "connection refused"


def test_untrusted_certificate_fails_unless_verification_is_off(tls_target: Target) -> None:
    outcome = check(url=tls_target.url("/status/200"))
    assert not outcome.ok and "certificate" in outcome.message.lower()
    assert check(url=tls_target.url("/status/200"), tls_verify=False).ok
