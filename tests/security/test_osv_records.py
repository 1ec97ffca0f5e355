"""Reading OSV records: dates, aliases (with a distribution's ``upstream`` CVEs), summary,
severity from a CVSS vector (v2, v3, v4), GitHub's word, Debian's urgency; packages with
names normalised per ecosystem; GIT ranges left out; clear errors naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.security.osv_dumps import LODASH_GHSA, OPENSSL_DSA, REQUESTS_GHSA, changed
from watchkeeper.security.osv.records import RecordError, parse_record, score_cvss


def test_github_pypi_advisory() -> None:
    record = parse_record(REQUESTS_GHSA)
    assert record.id == "GHSA-9wx4-h78v-vm56"
    assert record.modified == datetime(2024, 6, 10, 18, 39, 35, tzinfo=UTC)
    assert record.aliases == ["CVE-2024-35195"]
    assert record.summary.startswith("Requests `Session` object")
    # CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N scores 5.6: medium, whatever GitHub says
    assert (record.severity, record.score) == ("medium", 5.6)
    [affected] = record.affected
    assert (affected.ecosystem, affected.package) == ("PyPI", "requests")
    assert affected.ranges[0]["events"] == [{"introduced": "0"}, {"fixed": "2.32.0"}]


def test_github_severity_word_without_vector() -> None:
    record = parse_record(LODASH_GHSA)
    assert (record.severity, record.score) == ("high", None)
    assert record.affected[0].ranges[0]["type"] == "SEMVER"
    moderate = changed(LODASH_GHSA, "2024-04-01T00:00:00Z")
    moderate["database_specific"]["severity"] = "MODERATE"
    assert parse_record(moderate).severity == "medium"


def test_debian_advisory() -> None:
    record = parse_record(OPENSSL_DSA)
    assert record.aliases == ["CVE-2023-5363"]  # upstream kept with the aliases
    assert record.summary == "openssl - security update"
    assert (record.severity, record.score) == ("unknown", None)
    [affected] = record.affected
    assert (affected.ecosystem, affected.package) == ("Debian:12", "openssl")
    assert affected.versions == ["3.0.9-1", "3.0.11-1~deb12u1"]


@pytest.mark.parametrize(
    ("urgency", "want"),
    [
        ("high", "high"),
        ("low**", "low"),
        ("unimportant", "low"),
        ("medium", "medium"),
        ("not yet assigned", "unknown"),
    ],
)
def test_debian_urgency(urgency: str, want: str) -> None:
    raw = changed(OPENSSL_DSA, "2024-01-01T00:00:00Z", id="DEBIAN-CVE-2023-5363")
    raw["affected"][0]["ecosystem_specific"] = {"urgency": urgency}
    assert parse_record(raw).severity == want


def test_vector_preferred_newest_version_and_per_package() -> None:
    raw = changed(REQUESTS_GHSA, "2024-07-01T00:00:00Z")
    raw["severity"] = [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
        {
            "type": "CVSS_V4",
            "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N",
        },
    ]
    assert parse_record(raw).severity == "medium"  # v4 first: 6.9
    raw["severity"] = []
    raw["affected"][0]["severity"] = [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"}]
    assert (parse_record(raw).severity, parse_record(raw).score) == ("high", 10.0)


def test_bad_vector_falls_back() -> None:
    raw = changed(REQUESTS_GHSA, "2024-07-01T00:00:00Z")
    raw["severity"] = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:X/garbage"}]
    assert (parse_record(raw).severity, parse_record(raw).score) == ("medium", None)
    assert score_cvss("CVSS_V4", "nonsense") is None


def test_names_normalised_and_git_ranges_dropped() -> None:
    raw = changed(REQUESTS_GHSA, "2024-07-01T00:00:00Z")
    raw["affected"] = [
        {
            "package": {"ecosystem": "PyPI", "name": "Zope.Interface_x"},
            "ranges": [
                {
                    "type": "GIT",
                    "repo": "https://example.org/z.git",
                    "events": [{"introduced": "0"}],
                },
                {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}]},
            ],
        },
        {"ranges": [{"type": "GIT", "repo": "r", "events": [{"introduced": "0"}]}]},
    ]
    [affected] = parse_record(raw).affected
    assert affected.package == "zope-interface-x"
    assert [r["type"] for r in affected.ranges] == ["ECOSYSTEM"]


def test_withdrawn() -> None:
    raw = changed(REQUESTS_GHSA, "2024-07-01T00:00:00Z", withdrawn="2024-07-01T00:00:00Z")
    assert parse_record(raw).withdrawn == datetime(2024, 7, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"id": None}, "the record has no `id`"),
        ({"modified": None}, "GHSA-9wx4-h78v-vm56: `modified` is missing"),
        ({"modified": "yesterday"}, '`modified` "yesterday" is not a timestamp'),
        ({"published": "2024-13-45"}, "`published`"),
        ({"aliases": "CVE-1"}, "`aliases` is not a list of strings"),
        ({"affected": {"x": 1}}, "`affected` is not a list"),
        ({"affected": [{"package": {"name": "x"}}]}, r"affected\[0\].package.ecosystem is missing"),
        (
            {
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "x"},
                        "ranges": [{"type": "BOGUS", "events": []}],
                    }
                ]
            },
            r"ranges\[0\].type",
        ),
    ],
)
def test_bad_records(edit: dict[str, Any], message: str) -> None:
    raw = changed(REQUESTS_GHSA, REQUESTS_GHSA["modified"])
    for key, value in edit.items():
        if value is None:
            raw.pop(key)
        else:
            raw[key] = value
    with pytest.raises(RecordError, match=message):
        parse_record(raw)


def test_not_an_object() -> None:
    with pytest.raises(RecordError, match="not a JSON object"):
        parse_record(["a list"])
