"""Secret redaction in log lines: registered secrets, key=value pairs, URL credentials."""

from __future__ import annotations

import io
import json
import logging

import pytest

from watchkeeper import logging_setup
from watchkeeper.logging_setup import MASK, configure_logging, redact, register_secret

SECRET = "Zq8-registered-secret-4f1c"


@pytest.fixture(autouse=True)
def isolated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no registered secrets and leaves none behind."""
    monkeypatch.setattr(logging_setup, "_known", set())


@pytest.fixture
def log_stream(restore_logging: None) -> io.StringIO:
    """Install configure_logging's handler (json) and capture what it writes."""
    root = logging.getLogger()
    configure_logging("json", "INFO")
    ours = [h for h in root.handlers if getattr(h, "_watchkeeper", False)]
    assert len(ours) == 1
    stream = io.StringIO()
    ours[0].setStream(stream)  # type: ignore[attr-defined]
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# -- redact -----------------------------------------------------------------------------------


def test_redact_masks_registered_secrets_wherever_they_appear() -> None:
    register_secret(SECRET)
    assert redact(f"key={SECRET}") == f"key={MASK}"
    assert redact(f"connecting with {SECRET} to {SECRET}x") == f"connecting with {MASK} to {MASK}x"
    assert redact("nothing secret here") == "nothing secret here"


def test_redact_masks_the_longest_registered_secret_first() -> None:
    register_secret("abcdef")
    register_secret("abcdefghijkl")
    assert redact("x abcdefghijkl y abcdef") == f"x {MASK} y {MASK}"


def test_register_secret_ignores_short_and_empty_values() -> None:
    register_secret("abc12")  # shorter than 6: would mask ordinary words
    register_secret("")
    register_secret(None)
    assert redact("abc12 is fine") == "abc12 is fine"
    assert logging_setup._known == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2", f"password={MASK}"),
        ("login failed: PASSWORD=hunter2 for bob", f"login failed: PASSWORD={MASK} for bob"),
        ("passwd = hunter2", f"passwd = {MASK}"),
        ("token: abc.def.ghi", f"token: {MASK}"),
        ("Token:abc", f"Token:{MASK}"),
        ('secret="two words"', f'secret="{MASK}"'),
        ("api_key='k-123' next", f"api_key='{MASK}' next"),
        ("api-key: k-123", f"api-key: {MASK}"),
        ("apikey=k-123", f"apikey={MASK}"),
        ("authorization=abc123", f"authorization={MASK}"),
    ],
)
def test_redact_masks_credential_pairs(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("scheme", ["Bearer", "Basic"])
def test_redact_masks_the_credentials_of_an_authorization_header(scheme: str) -> None:
    assert "dXNlcjpwYXNz" not in redact(f"Authorization: {scheme} dXNlcjpwYXNz")


@pytest.mark.parametrize("text", ["{'password': 'hunter2'}", '{"token": "hunter2"}'])
def test_redact_masks_credentials_in_dict_and_json_text(text: str) -> None:
    assert "hunter2" not in redact(text)


def test_redact_leaves_words_that_merely_contain_a_keyword() -> None:
    assert redact("tokens issued: 3, passwords rotated") == "tokens issued: 3, passwords rotated"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://wk:s3cret@db:5432/wk", f"postgresql://wk:{MASK}@db:5432/wk"),
        (
            "store postgresql+psycopg://admin:p%40ss@10.0.0.1/wk unreachable",
            f"store postgresql+psycopg://admin:{MASK}@10.0.0.1/wk unreachable",
        ),
        ("fetch https://user:pw@example.com/x", f"fetch https://user:{MASK}@example.com/x"),
        ("postgresql://wk@db/wk", "postgresql://wk@db/wk"),  # no password: unchanged
        ("https://example.com:8443/path", "https://example.com:8443/path"),
    ],
)
def test_redact_masks_url_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


# -- the configured handler -------------------------------------------------------------------


def test_a_json_log_record_never_contains_a_registered_secret(log_stream: io.StringIO) -> None:
    register_secret(SECRET)
    log = logging.getLogger("watchkeeper.test")
    log.warning("using key %s for %s", SECRET, "signing")
    log.warning(f"inline {SECRET} in the message")
    log.warning("an extra field", extra={"dsn": f"postgresql://wk:{SECRET}@db/wk"})
    text = log_stream.getvalue()
    assert SECRET not in text
    docs = lines(log_stream)
    assert [d["msg"] for d in docs] == [
        f"using key {MASK} for signing",
        f"inline {MASK} in the message",
        "an extra field",
    ]
    assert docs[0]["level"] == "warning" and docs[0]["logger"] == "watchkeeper.test"
    assert docs[2]["dsn"] == f"postgresql://wk:{MASK}@db/wk"


def test_a_secret_in_exception_text_is_masked(log_stream: io.StringIO) -> None:
    register_secret(SECRET)
    log = logging.getLogger("watchkeeper.test")
    try:
        raise RuntimeError(f"could not sign with {SECRET}")
    except RuntimeError:
        log.exception("signing failed")
    assert SECRET not in log_stream.getvalue()
    (doc,) = lines(log_stream)
    assert doc["msg"] == "signing failed"
    assert doc["level"] == "error"
    exc = str(doc["exc"])
    assert "Traceback" in exc
    assert f"RuntimeError: could not sign with {MASK}" in exc


def test_a_secret_in_a_chained_exception_is_masked(log_stream: io.StringIO) -> None:
    register_secret(SECRET)
    log = logging.getLogger("watchkeeper.test")
    try:
        try:
            raise KeyError(SECRET)
        except KeyError as inner:
            raise ValueError("lookup failed") from inner
    except ValueError as exc:
        log.error("boom", exc_info=exc)
    assert SECRET not in log_stream.getvalue()
    assert "KeyError" in str(lines(log_stream)[0]["exc"])


def test_credential_pairs_and_url_passwords_in_messages_are_masked(
    log_stream: io.StringIO,
) -> None:
    log = logging.getLogger("watchkeeper.test")
    log.info("connecting to %s as bob token: abc123 now", "postgresql://bob:hunter2@db/wk")
    assert "hunter2" not in log_stream.getvalue()
    assert "abc123" not in log_stream.getvalue()
    (doc,) = lines(log_stream)
    assert doc["msg"] == f"connecting to postgresql://bob:{MASK}@db/wk as bob token: {MASK} now"


def test_a_secret_registered_after_configuration_is_still_masked(
    log_stream: io.StringIO,
) -> None:
    log = logging.getLogger("watchkeeper.test")
    register_secret("late-registered-value")
    log.warning("value is late-registered-value")
    assert lines(log_stream)[0]["msg"] == f"value is {MASK}"


def test_configure_logging_replaces_its_own_handler_instead_of_adding_another(
    log_stream: io.StringIO,
) -> None:
    configure_logging("text", "INFO")
    root = logging.getLogger()
    assert len([h for h in root.handlers if getattr(h, "_watchkeeper", False)]) == 1


def test_a_message_ending_in_a_credential_pair_is_still_valid_json(
    log_stream: io.StringIO,
) -> None:
    logging.getLogger("watchkeeper.test").warning("login failed password=hunter2")
    (doc,) = lines(log_stream)
    assert doc["msg"] == f"login failed password={MASK}"


def test_a_secret_with_quotes_in_an_extra_field_is_masked(log_stream: io.StringIO) -> None:
    secret = 'pa"ss\\word-123'
    register_secret(secret)
    logging.getLogger("watchkeeper.test").warning("connect", extra={"credential": secret})
    (doc,) = lines(log_stream)
    assert doc["credential"] != secret


def test_secret_urls_are_masked_in_httpx_lines_until_removed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One filter on the httpx logger for every sender of secret URLs: a webhook's shows
    its host, a mirror's what the sender names it; added twice, it stays masked until
    removed twice."""
    urls = logging_setup.SecretUrls()
    hook = "https://hooks.example.com/services/T0/B0/k3y"
    # (a path, not ?token=: the general redaction masks token parameters in every record)
    mirror = "http://127.0.0.1:8080/osv/mirror-7f3a9c/all.zip"
    urls.add(hook)
    urls.add(mirror, f"<pypi mirror {MASK}>")
    urls.add(mirror, f"<pypi mirror {MASK}>")
    urls.add("")  # nothing to mask: masks nothing
    urls.add("http://[::1")  # httpx cannot read it: masked as written
    log = logging.getLogger("httpx")
    log.addFilter(urls)
    try:
        with caplog.at_level(logging.INFO, logger="httpx"):
            log.info("HTTP Request: %s %s", "POST", hook)
            urls.remove(mirror)
            log.info("HTTP Request: GET %s and http://[::1", mirror)
            urls.remove(mirror)
            log.info("HTTP Request: GET %s", mirror)
    finally:
        log.removeFilter(urls)
    assert [r.getMessage() for r in caplog.records] == [
        f"HTTP Request: POST https://hooks.example.com/{MASK}",
        f"HTTP Request: GET <pypi mirror {MASK}> and {MASK}",
        f"HTTP Request: GET {mirror}",
    ]
