"""What the database check types (postgres, mysql, redis) share: the password, the optional
query and how its result is judged, the TLS files, and keeping passwords out of messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from watchkeeper.checks.interface import CheckConfig
from watchkeeper.logging_setup import MASK, register_secret
from watchkeeper.plan.types import Regex, Secret

SHOWN_CHARS = 100
"""A result longer than this is cut short in messages."""


def _as_text(value: Any) -> Any:
    # YAML reads `expected: 1` as a number, but the comparison is on the text the server sends.
    if isinstance(value, bool):
        raise PydanticCustomError(
            "expected_text",
            'write the value as the server sends it, in quotes (e.g. "t" for a PostgreSQL '
            'boolean, "1" for MySQL)',
        )
    if isinstance(value, int | float):
        return str(value)
    return value


class DatabaseCheckConfig(CheckConfig):
    """Fields of every database check type; each type refines ``dsn`` and ``query``."""

    dsn: Secret = Field(min_length=1, description="Where the server is and whom to sign in as.")
    password: Secret | None = Field(
        None,
        description="Password; replaces one in the connection string. Write `${ENV_VAR}` or "
        "`!file path` to keep it out of the plan file. Never shown in messages or logs.",
    )
    query: str | None = Field(
        None, min_length=1, description="Query to run once connected (one SQL statement)."
    )
    expected: Annotated[str | None, BeforeValidator(_as_text)] = Field(
        None,
        description="Text the first column of the first row must equal (needs `query`).",
    )
    expected_regex: Regex | None = Field(
        None,
        description="Regular expression the first column of the first row must contain a "
        "match for (needs `query`).",
    )
    ca_file: str | None = Field(
        None, description="PEM file of the CA that signed the server's certificate."
    )
    cert_file: str | None = Field(
        None, description="PEM client certificate, for servers that authenticate clients by TLS."
    )
    key_file: str | None = Field(None, description="PEM private key of `cert_file`.")

    @field_validator("expected", "expected_regex")
    @classmethod
    def _needs_query(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if info.data.get("query") is None:
            raise PydanticCustomError("needs_query", "needs a `query` whose result it judges")
        if info.field_name == "expected_regex" and info.data.get("expected") is not None:
            raise PydanticCustomError(
                "expected_both", "set `expected` or `expected_regex`, not both"
            )
        return value


@dataclass(frozen=True)
class Wording:
    """How messages name the query, a missing value and an empty result for a server type."""

    query: str = "query"
    null: str = "NULL"
    empty: str = "no rows"


SQL = Wording()


def shown(value: str | None, null: str = "NULL") -> str:
    """Return ``value`` as a message shows it: cut short, and ``null`` for no value."""
    if value is None:
        return null
    return value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…"


def judge(
    config: DatabaseCheckConfig, has_row: bool, value: str | None, words: Wording = SQL
) -> str | None:
    """Return why the query's first value (``value``, None for NULL) fails the check, or
    None when it passes; ``has_row`` is False when the query returned no rows."""
    wanted = config.expected if config.expected is not None else config.expected_regex
    if wanted is None:
        return None
    if not has_row:
        return f"{words.query} returned {words.empty}, expected {shown(wanted)}"
    got = shown(value, words.null)
    if config.expected is not None and value != config.expected:
        return f"{words.query} returned {got}, expected {shown(config.expected)}"
    if config.expected_regex is not None and (
        value is None or not re.search(config.expected_regex, value)
    ):
        return (
            f"{words.query} returned {got}, which does not match expected_regex "
            f"{shown(config.expected_regex)}"
        )
    return None


def success(
    server: str, config: DatabaseCheckConfig, has_row: bool, value: str | None, words: Wording = SQL
) -> str:
    """Return the message of a passing run: the server, and the query's result when any."""
    if config.query is None:
        return f"connected to {server}"
    result = shown(value, words.null) if has_row else words.empty
    return f"{server}: {words.query} returned {result}"


def protect(password: str | None) -> str | None:
    """Return ``password`` after having every log line mask it: drivers may put connection
    details in exceptions, and the runner logs a crashing check with its exception."""
    register_secret(password)
    return password


def scrub(message: str, password: str | None) -> str:
    """Return ``message`` with ``password`` masked (drivers sometimes echo connection
    strings in their errors); very short passwords are left, they would mangle the text."""
    if password and len(password) >= 4:
        return message.replace(password, MASK)
    return message
