"""The JSON path assertion language of HTTP checks: what parses, what it means, and the
messages for mistakes."""

from __future__ import annotations

from typing import Any

import pytest

from watchkeeper.checks.jsonpath import JsonPathSyntaxError, parse, render_path

DOC: Any = {
    "status": "ok",
    "items": [{"count": 5}, {"count": 0}],
    "db": {"healthy": True, "lag ms": 12, "replicas": None},
    "ratio": 0.25,
    "tags": ["eu", "prod"],
}


@pytest.mark.parametrize(
    ("text", "failure"),
    [
        ('$.status == "ok"', None),
        ("$.status == 'ok'", None),
        ('$["status"] != "down"', None),
        ("$['db']['lag ms'] < 13", None),
        ("$.items[-1].count == 0", None),
        ("$.ratio >= 0.25", None),
        ("$.ratio == 0.250", None),
        ('$.tags == ["eu", "prod"]', None),
        ("$.db.replicas == null", None),
        ("$.db.replicas exists", None),
        ('$.items[0] == {"count": 5}', None),
        ('$.status < "pending"', None),
        ("$.items[0].count == 5.0", None),
        ("$.db.healthy == 1", "$.db.healthy is true, expected == 1"),
        ("$.items[1].count == false", "$.items[1].count is 0, expected == false"),
        ('$.tags == ["prod", "eu"]', '$.tags is ["eu", "prod"], expected == ["prod", "eu"]'),
        ("$.ratio > 0.5", "$.ratio is 0.25, expected > 0.5"),
        ("$.db.replicas > 1", "$.db.replicas is null, cannot compare with > 1"),
        ("$.tags.first exists", "$.tags.first not found: $.tags is an array, not an object"),
        ("$.status[0] exists", "$.status[0] not found: $.status is a string, not an array"),
        ('$.db["lag"] exists', '$.db.lag not found: $.db has no key "lag"'),
        ("$.items[-3] exists", "$.items[-3] not found: $.items has 2 item(s)"),
        (
            "$.db.replicas.primary exists",
            "$.db.replicas.primary not found: $.db.replicas is null, not an object",
        ),
    ],
)
def test_assertions(text: str, failure: str | None) -> None:
    assert parse(text).failure(DOC) == failure


def test_the_whole_document_can_be_compared() -> None:
    assert parse("$ == [1, 2]").failure([1, 2]) is None
    assert parse('$ == "ok"').failure({"status": "ok"}) == '$ is {"status": "ok"}, expected == "ok"'


def test_long_values_are_shortened_in_messages() -> None:
    failure = parse('$.text == "short"').failure({"text": "x" * 500})
    assert failure is not None and len(failure) < 120 and failure.count("x") < 70


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("status == 1", 'must start with "$" (e.g. $.status == "ok")'),
        (
            "$.",
            'expected a key after "." at character 3 (use ["..."] for keys with other characters)',
        ),
        (
            "$.a b == 1",
            "expected a comparison (== != < <= > >=) or exists after the path, "
            "found 'b == 1' at character 5",
        ),
        ("$.a", "expected a comparison (== != < <= > >=) or exists after the path, found nothing"),
        ("$[x] == 1", 'expected an index or a quoted key after "[" at character 3'),
        ('$["a" == 1', 'expected "]" at character 6'),
        ('$["a] == 1', "unterminated key at character 3"),
        ("$.a ==", "expected a value after =="),
        ("$.a == ok", "ok is not a JSON value (a string in quotes, a number, true, false or null)"),
        ("$.a > true", "> needs a number or a string, not true"),
        ("$.a <= [1]", "<= needs a number or a string, not [1]"),
    ],
)
def test_syntax_errors_say_what_and_where(text: str, error: str) -> None:
    with pytest.raises(JsonPathSyntaxError) as info:
        parse(text)
    assert str(info.value) == error


def test_paths_render_as_written() -> None:
    assert render_path(("db", "lag ms", 0, "x-y")) == '$.db["lag ms"][0].x-y'
