"""OSV records shaped as the real databases write them (a GitHub advisory for PyPI with a
CVSS v3 vector, a GitHub advisory for npm with only GitHub's severity word, a Debian
security advisory for bookworm with its CVE as ``upstream``), and ``all.zip`` dumps of
them as osv.dev publishes them: one ``<id>.json`` member per record."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

REQUESTS_GHSA: dict[str, Any] = {
    "schema_version": "1.4.0",
    "id": "GHSA-9wx4-h78v-vm56",
    "modified": "2024-06-10T18:39:35Z",
    "published": "2024-05-20T20:15:00Z",
    "aliases": ["CVE-2024-35195"],
    "summary": "Requests `Session` object does not verify requests after making first "
    "request with verify=False",
    "details": "When making requests through a Requests `Session`, if the first request is "
    "made with `verify=False` to disable cert verification, all subsequent requests to the "
    "same origin will continue to ignore cert verification regardless of changes to the "
    "value of `verify`.",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests", "purl": "pkg:pypi/requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.0"}]}],
        }
    ],
    "references": [
        {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-35195"},
        {"type": "PACKAGE", "url": "https://github.com/psf/requests"},
    ],
    "database_specific": {
        "cwe_ids": ["CWE-670"],
        "github_reviewed": True,
        "github_reviewed_at": "2024-05-20T20:15:00Z",
        "nvd_published_at": "2024-05-20T21:15:09Z",
        "severity": "MODERATE",
    },
}

LODASH_GHSA: dict[str, Any] = {
    "schema_version": "1.4.0",
    "id": "GHSA-35jh-r3h4-6jhm",
    "modified": "2024-03-15T11:03:05Z",
    "published": "2021-05-06T16:05:51Z",
    "aliases": ["CVE-2021-23337"],
    "summary": "Command Injection in lodash",
    "details": "`lodash` versions prior to 4.17.21 are vulnerable to Command Injection via "
    "the template function.",
    "affected": [
        {
            "package": {"ecosystem": "npm", "name": "lodash", "purl": "pkg:npm/lodash"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}],
            "database_specific": {"source": "https://github.com/github/advisory-database"},
        }
    ],
    "references": [{"type": "WEB", "url": "https://github.com/lodash/lodash/commit/3469357"}],
    "database_specific": {"cwe_ids": ["CWE-77", "CWE-94"], "severity": "HIGH"},
}

OPENSSL_DSA: dict[str, Any] = {
    "schema_version": "1.6.0",
    "id": "DSA-5532-1",
    "summary": "openssl - security update",
    "details": "\nSeveral vulnerabilities were discovered in OpenSSL.\n\nFor the stable "
    "distribution (bookworm), these problems have been fixed in version 3.0.11-1~deb12u2.",
    "published": "2023-10-24T00:00:00Z",
    "modified": "2023-10-24T12:01:18Z",
    "related": ["CVE-2023-5363"],
    "upstream": ["CVE-2023-5363"],
    "affected": [
        {
            "package": {
                "ecosystem": "Debian:12",
                "name": "openssl",
                "purl": "pkg:deb/debian/openssl?arch=source",
            },
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
                }
            ],
            "versions": ["3.0.9-1", "3.0.11-1~deb12u1"],
        }
    ],
    "references": [{"type": "ADVISORY", "url": "https://www.debian.org/security/2023/dsa-5532"}],
}


def changed(record: dict[str, Any], modified: str, **fields: Any) -> dict[str, Any]:
    """A copy of ``record`` modified at ``modified`` with ``fields`` replaced."""
    copied = copy.deepcopy(record)
    copied.update(fields, modified=modified)
    return copied


def write_dump(path: Path, *records: dict[str, Any], extra: dict[str, bytes] | None = None) -> Path:
    """Write an ``all.zip`` of ``records`` (and raw ``extra`` members) at ``path``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record, indent=2))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path
