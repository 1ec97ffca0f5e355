"""One OSV record (https://ossf.github.io/osv-schema/) read into the shapes the store keeps:
its dates, aliases, summary, severity label and CVSS base score, and the packages it
affects with their ranges and listed versions.

Severity, in this order: a CVSS vector (``severity[]`` of the record, else of its affected
packages; the newest CVSS version present: v4, then v3, then v2) scored with the ``cvss``
package; an ``Ubuntu`` priority; else the database's own label
(``database_specific.severity``: GitHub's ``CRITICAL``/``HIGH``/``MODERATE``/``LOW``);
else Debian's urgency (``affected[].ecosystem_specific.urgency``); else ``unknown``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4, CVSSError

from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.security.versions import ordering_for

_CVSS_PREFERENCE = ("CVSS_V4", "CVSS_V3", "CVSS_V2")
_LABELS = {
    "critical": "critical",
    "high": "high",
    "important": "high",
    "moderate": "medium",
    "medium": "medium",
    "low": "low",
    "negligible": "low",
    "unimportant": "low",
    "none": "low",
}
_WORDS = re.compile(r"[a-z]+")


class RecordError(WatchkeeperError):
    """An OSV record that cannot be read; the message names the record and the field."""


@dataclass(frozen=True)
class Affected:
    """One ``affected[]`` entry: a package with the ranges (GIT ranges left out: they need
    the repository) and the versions it lists."""

    ecosystem: str
    package: str
    """The name as the ecosystem compares names (PEP 503 normalised for PyPI)."""
    ranges: list[dict[str, Any]]
    versions: list[str]


@dataclass(frozen=True)
class Record:
    """An OSV record as the store keeps it (``raw``: the record itself)."""

    id: str
    modified: datetime
    published: datetime | None
    withdrawn: datetime | None
    aliases: list[str]
    summary: str
    severity: str
    """critical, high, medium, low or unknown."""
    score: float | None
    """The CVSS base score, when the record has a vector that could be scored."""
    affected: list[Affected]
    raw: dict[str, Any]


def parse_time(value: Any, field: str, record_id: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime; raise RecordError naming the field."""
    if not isinstance(value, str) or not value:
        raise RecordError(f"{record_id}: `{field}` is not a timestamp")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RecordError(f'{record_id}: `{field}` "{value[:40]}" is not a timestamp') from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _optional_time(raw: dict[str, Any], field: str, record_id: str) -> datetime | None:
    value = raw.get(field)
    return None if value in (None, "") else parse_time(value, field, record_id)


def _strings(raw: dict[str, Any], field: str, record_id: str) -> list[str]:
    value = raw.get(field) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{record_id}: `{field}` is not a list of strings")
    return list(value)


def parse_record(raw: Any) -> Record:
    """Read one OSV record (a parsed JSON object); raise RecordError naming the record and
    the missing or malformed field."""
    if not isinstance(raw, dict):
        raise RecordError("the record is not a JSON object")
    record_id = raw.get("id")
    if not isinstance(record_id, str) or not record_id.strip():
        raise RecordError("the record has no `id`")
    if len(record_id) > 128:
        raise RecordError(f"{record_id[:40]}...: `id` is longer than 128 characters")
    if "modified" not in raw:
        raise RecordError(f"{record_id}: `modified` is missing")
    modified = parse_time(raw["modified"], "modified", record_id)
    aliases = _strings(raw, "aliases", record_id)
    # Distributions name the CVEs they fix as `upstream`: kept with the aliases, so that a
    # finding can be looked up or suppressed by its CVE.
    for upstream in _strings(raw, "upstream", record_id):
        if upstream not in aliases:
            aliases.append(upstream)
    summary = raw.get("summary") or raw.get("details") or ""
    if not isinstance(summary, str):
        raise RecordError(f"{record_id}: `summary` is not a string")
    affected_raw = raw.get("affected") or []
    if not isinstance(affected_raw, list):
        raise RecordError(f"{record_id}: `affected` is not a list")
    affected = [
        found
        for i, entry in enumerate(affected_raw)
        if (found := _affected(entry, f"{record_id}: affected[{i}]")) is not None
    ]
    severity, score = severity_of(raw)
    return Record(
        id=record_id,
        modified=modified,
        published=_optional_time(raw, "published", record_id),
        withdrawn=_optional_time(raw, "withdrawn", record_id),
        aliases=aliases,
        summary=summary.strip().splitlines()[0][:1000] if summary.strip() else "",
        severity=severity,
        score=score,
        affected=affected,
        raw=raw,
    )


def _affected(entry: Any, where: str) -> Affected | None:
    """One affected entry; None for one without a package (GIT-only entries)."""
    if not isinstance(entry, dict):
        raise RecordError(f"{where} is not an object")
    package = entry.get("package")
    if package is None:
        return None
    if not isinstance(package, dict):
        raise RecordError(f"{where}.package is not an object")
    ecosystem, name = package.get("ecosystem"), package.get("name")
    if not isinstance(ecosystem, str) or not ecosystem:
        raise RecordError(f"{where}.package.ecosystem is missing")
    if not isinstance(name, str) or not name:
        raise RecordError(f"{where}.package.name is missing")
    ranges = entry.get("ranges") or []
    if not isinstance(ranges, list):
        raise RecordError(f"{where}.ranges is not a list")
    kept = []
    for j, item in enumerate(ranges):
        if not isinstance(item, dict) or not isinstance(item.get("events"), list):
            raise RecordError(f"{where}.ranges[{j}].events is missing")
        kind = item.get("type")
        if kind not in ("ECOSYSTEM", "SEMVER", "GIT"):
            raise RecordError(f'{where}.ranges[{j}].type "{kind}" is not ECOSYSTEM, SEMVER or GIT')
        events = [e for e in item["events"] if isinstance(e, dict)]
        if kind != "GIT":
            kept.append({"type": kind, "events": events})
    versions = entry.get("versions") or []
    if not isinstance(versions, list):
        raise RecordError(f"{where}.versions is not a list")
    ordering = ordering_for(ecosystem)
    normalised = ordering.normalise(name) if ordering is not None else name
    return Affected(
        ecosystem=ecosystem[:64],
        package=normalised[:255],
        ranges=kept,
        versions=[v for v in versions if isinstance(v, str)],
    )


def severity_of(raw: dict[str, Any]) -> tuple[str, float | None]:
    """The record's severity label and CVSS base score (see the module docstring)."""
    entries = [s for s in raw.get("severity") or [] if isinstance(s, dict)]
    affected = [a for a in raw.get("affected") or [] if isinstance(a, dict)]
    for entry in affected:
        entries += [s for s in entry.get("severity") or [] if isinstance(s, dict)]
    best: tuple[str, float] | None = None
    for kind in _CVSS_PREFERENCE:
        for entry in entries:
            if entry.get("type") != kind:
                continue
            scored = score_cvss(kind, str(entry.get("score", "")))
            if scored is not None and (best is None or scored[1] > best[1]):
                best = scored
        if best is not None:
            return best[0], best[1]
    for entry in entries:
        if entry.get("type") == "Ubuntu":
            label = _label(entry.get("score"))
            if label:
                return label, None
    labels = [_label(_get(raw, "database_specific", "severity"))]
    labels += [_label(_get(a, "database_specific", "severity")) for a in affected]
    labels += [_label(_get(a, "ecosystem_specific", "severity")) for a in affected]
    labels += [_label(_get(a, "ecosystem_specific", "urgency")) for a in affected]
    found = [label for label in labels if label]
    if found:
        return min(found, key=_RANK.index), None
    return "unknown", None


_RANK = ["critical", "high", "medium", "low"]


def _get(raw: dict[str, Any], section: str, key: str) -> Any:
    value = raw.get(section)
    return value.get(key) if isinstance(value, dict) else None


def _label(value: Any) -> str:
    """A severity word (``MODERATE``, ``high``, Debian's ``low**``) as our label, or ""."""
    if not isinstance(value, str):
        return ""
    word = _WORDS.match(value.strip().lower())
    return _LABELS.get(word.group(0), "") if word else ""


def score_cvss(kind: str, vector: str) -> tuple[str, float] | None:
    """The label and base score of a CVSS vector of ``kind`` (CVSS_V2, _V3, _V4); None when
    the vector cannot be read."""
    try:
        if kind == "CVSS_V4":
            v4 = CVSS4(vector)
            return _from_score(float(v4.base_score)), float(v4.base_score)
        if kind == "CVSS_V3":
            base = float(CVSS3(vector).scores()[0])
            return _from_score(base), base
        base = float(CVSS2(vector).scores()[0])
        # CVSS v2 has no "critical": NVD's v2 ranges end at high.
        return ("high" if base >= 7.0 else _from_score(base)), base
    except (CVSSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def _from_score(score: float) -> str:
    """The CVSS v3/v4 qualitative rating of a base score (a score of 0.0, "none", is low)."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low"
