"""Runbook documents: front matter read with every problem at its line and column, the
title's fallbacks, slugs, and a document written back from its fields."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from watchkeeper.knowledge.runbook_doc import (
    FrontMatter,
    RunbookInvalid,
    compose_runbook,
    is_slug,
    parse_runbook,
    slugify,
)


def problems(text: str) -> list[str]:
    with pytest.raises(RunbookInvalid) as caught:
        parse_runbook(text)
    return [str(p) for p in caught.value.problems]


def test_front_matter_fields_are_read() -> None:
    parsed = parse_runbook(
        "---\n"
        "title: Database failover\n"
        "services: [api, billing]\n"
        "alerts: [PostgresDown, 'Replication*']\n"
        "tags: [database, dr]\n"
        "owner: team-data\n"
        "review_period: 90d\n"
        "last_reviewed: 2026-11-02\n"
        "---\n"
        "\n"
        "# Steps\n\n1. Promote the replica.\n"
    )
    meta = parsed.meta
    assert parsed.title == "Database failover"
    assert meta.services == ["api", "billing"]
    assert meta.alerts == ["PostgresDown", "Replication*"]
    assert meta.tags == ["database", "dr"] and meta.owner == "team-data"
    assert meta.review_period == timedelta(days=90)
    assert meta.last_reviewed == date(2026, 11, 2)
    assert parsed.body == "# Steps\n\n1. Promote the replica.\n"


def test_every_problem_is_named_with_its_line_and_column() -> None:
    text = (
        "---\n"
        "title: Failover\n"
        'services: [api, "no spaces please"]\n'
        "tagz: [db]\n"
        "review_period: 5x\n"
        "---\n"
        "Body\n"
    )
    assert problems(text) == [
        'line 3:17 services[1]: "no spaces please" is not a valid name (letters, digits, '
        '"-", "_", "."; starting with a letter or digit; at most 128 characters)',
        'line 4:1 tagz: unknown key (did you mean "tags"?)',
        'line 5:16 review_period: "5x" is not a duration (use 30s, 5m, 2h)',
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\ntitle: a\ntitle: b\n---\n", "line 3:1 title: duplicate key (first set at line 2)"),
        ("---\ntitle: x\n", "line 1:1 the front matter opened by --- on line 1 is never closed"),
        ("---\n- a list\n---\n", "line 2:1 the front matter must be a mapping of keys"),
        ("---\ntitle: [open\nowner: x\n---\n", "line 3:6 YAML syntax error: while parsing a flow"),
        ("---\nservices: api\n---\n# T\n", 'line 2:11 services: must be a list (got "api")'),
        ("Just text, no heading\n", "line 1:1 title: give a title in the front matter"),
    ],
)
def test_broken_documents(text: str, expected: str) -> None:
    found = problems(text)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_tags_do_not_run_code_or_read_files() -> None:
    assert problems("---\ntitle: !!python/object:os.system x\n---\n")[0].startswith(
        "line 2:8 title: could not determine a constructor"
    )
    # !file is a plan-file feature only: here it is an unknown tag, not a file read.
    assert problems("---\ntitle: !file /etc/passwd\n---\n")[0].startswith("line 2:8 title: could")


def test_the_title_falls_back_to_the_first_heading_then_the_given_one() -> None:
    assert parse_runbook("intro\n\n## Sub\n\n# Restore backups\n").title == "Restore backups"
    assert parse_runbook("---\nowner: me\n---\nno heading", fallback_title="disk").title == "disk"


def test_a_document_written_from_its_fields_reads_back_the_same() -> None:
    meta = FrontMatter.model_validate(
        {"title": "Disk full", "services": ["db"], "tags": ["disk", "disk"], "review_period": "30d"}
    )
    text = compose_runbook(meta, "\n\n# Disk full\n\nFree space.\n")
    assert text.startswith("---\ntitle: Disk full\nservices:\n- db\ntags:\n- disk\n")
    again = parse_runbook(text)
    assert again.meta.review_period == timedelta(days=30) and again.meta.tags == ["disk"]
    assert again.body == "# Disk full\n\nFree space.\n"


def test_slugs() -> None:
    assert slugify("Disk full on DB hosts!") == "disk-full-on-db-hosts"
    assert slugify("Écoute — réseau") == "ecoute-reseau"
    assert slugify("!!!") == ""
    assert is_slug("db-failover") and is_slug("a_b")
    assert not is_slug("Db") and not is_slug("-x") and not is_slug("new")


def test_a_document_too_large_is_refused() -> None:
    assert "larger than 512 KiB" in problems("# T\n" + "x" * 600_000)[0]
