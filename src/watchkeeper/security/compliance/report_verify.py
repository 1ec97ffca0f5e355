"""Checking a compliance report file (HTML or PDF): was it signed with a given public key,
and is it unchanged since?

Anyone can check a file with the issuing installation's published public key alone
(:func:`verify` without a store): the signature covers the report's number and the digest
of its content, and only the holder of the private key can make one. The installation
that issued a report also compares the file with the report as stored (:func:`verify` with
its store), which shows a store edited since: a report rewritten and re-hashed in the
database no longer verifies, as nobody without the private key can sign it again.

The answer is ``valid`` (signed with the key, unchanged), ``edited`` (a report signed with
the key — or issued by this installation — changed since, or a stored report whose
signature no longer verifies) or ``unknown`` (not a report this key signed, or no report
at all).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from watchkeeper.security.compliance.report import PDF_SIGNATURE, canonical_of, signed_html
from watchkeeper.security.compliance.signing import (
    Part,
    digest,
    parse_public_key,
    public_text,
    retired_public_keys,
    signed_by,
)
from watchkeeper.store.tables import ComplianceReport

_META = re.compile(
    r'<meta name="watchkeeper-report-(id|sha256|signature|public-key)" content="([^"]*)">'
)
_PDF_ID = re.compile(rb"watchkeeper-report-id:(\d+)")
Format = Literal["html", "pdf", "unknown"]


@dataclass(frozen=True)
class Verification:
    """What checking a file found (see the module docstring), and why."""

    status: Literal["valid", "edited", "unknown"]
    reason: str
    report_id: int | None = None
    format: Format = "unknown"


def verify(content: bytes, key: Ed25519PublicKey | None, db: Session | None = None) -> Verification:
    """Check the report file ``content`` against the public ``key`` and, given ``db`` (the
    store of the installation that owns ``key``), against the reports it issued. ``key``
    None: the installation has no signing key, so it issued nothing."""
    if key is None:
        return Verification(
            "unknown", "this installation has issued no report yet (it has no signing key)"
        )
    if content.startswith(b"%PDF-"):
        return _verify_pdf(content, key, db)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return Verification("unknown", "the file is neither a PDF nor UTF-8 HTML")
    return _verify_html(text, key, db)


def _issuing_key(
    key: Ed25519PublicKey, row: ComplianceReport | None, db: Session | None
) -> Ed25519PublicKey:
    """With the store: the retired key ``row`` was signed with, when the installation's key
    was rotated since; else ``key``."""
    if db is None or row is None or row.public_key == public_text(key):
        return key
    if row.public_key in retired_public_keys(db):
        return parse_public_key(row.public_key)
    return key


def _when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def _not_signed(
    report_id: int,
    fmt: Part,
    row: ComplianceReport | None,
    as_stored: bool,
    db: Session | None,
    named_key: str = "",
) -> Verification:
    """The answer for a file whose signature does not verify with the key. ``as_stored``:
    the file carries the very digest and signature the store holds for the report."""
    what = f"report #{report_id}" if fmt == "html" else f"the PDF of report #{report_id}"
    if db is None:
        return Verification(
            "unknown",
            f"the signature of {what} does not verify with this public key: the file was "
            "edited, or another key signed it",
            report_id,
            fmt,
        )
    if row is None:
        return Verification(
            "unknown", f"no report #{report_id} was issued by this installation", report_id, fmt
        )
    if as_stored:
        return Verification(
            "edited",
            f"the signature of {what} as stored does not verify with this installation's key "
            "(store edited or signing key replaced)",
            report_id,
            fmt,
        )
    if named_key and named_key != row.public_key:
        return Verification(
            "unknown",
            f"the file names another signing key ({named_key[:16]}…) than this "
            f"installation's report #{report_id}: another installation's report",
            report_id,
            fmt,
        )
    return Verification(
        "edited",
        f"the file differs from report #{report_id} as issued: its signature does not verify",
        report_id,
        fmt,
    )


def _valid(
    report_id: int, fmt: Part, row: ComplianceReport | None, as_stored: bool, db: Session | None
) -> Verification:
    what = f"report #{report_id}" if fmt == "html" else f"the PDF of report #{report_id}"
    if db is None:
        reason = f"{what}, signed with this public key"
    elif row is None:
        reason = f"{what}, signed by this installation (no longer in its store)"
    elif not as_stored:
        reason = (
            f"{what}, signed by this installation; the copy in its store differs: the store "
            "was edited"
        )
    else:
        reason = f"{what} as issued on {_when(row.created_at)}"
    return Verification("valid", reason, report_id, fmt)


def _verify_html(text: str, key: Ed25519PublicKey, db: Session | None) -> Verification:
    meta = dict(_META.findall(text))
    if not {"id", "sha256", "signature"} <= meta.keys() or not meta["id"].isdigit():
        return Verification("unknown", "the file carries no Watchkeeper report signature")
    report_id, sha, signature = int(meta["id"]), meta["sha256"], meta["signature"]
    row = db.get(ComplianceReport, report_id) if db is not None else None
    key = _issuing_key(key, row, db)
    if not signed_by(key, "html", report_id, sha, signature):
        as_stored = row is not None and (row.sha256, row.signature) == (sha, signature)
        return _not_signed(report_id, "html", row, as_stored, db, meta.get("public-key", ""))
    canonical = canonical_of(text)
    if digest(canonical) != sha:
        return Verification(
            "edited", f"the content differs from report #{report_id} as signed", report_id, "html"
        )
    if text != signed_html(canonical, report_id, sha, signature, public_text(key)):
        return Verification(
            "edited", f"the signature block of report #{report_id} was changed", report_id, "html"
        )
    as_stored = row is not None and row.signature == signature and row.html == canonical
    return _valid(report_id, "html", row, as_stored, db)


def _verify_pdf(content: bytes, key: Ed25519PublicKey, db: Session | None) -> Verification:
    line = PDF_SIGNATURE.search(content)
    if line is None:
        found = _PDF_ID.search(content)
        report_id = int(found.group(1)) if found else None
        if db is not None and report_id is not None:
            if db.get(ComplianceReport, report_id) is not None:
                return Verification(
                    "edited",
                    f"the PDF differs from report #{report_id} as issued: its signature line "
                    "is gone",
                    report_id,
                    "pdf",
                )
        return Verification(
            "unknown", "the PDF carries no Watchkeeper report signature", report_id, "pdf"
        )
    report_id, sha, signature = int(line.group(1)), line.group(2).decode(), line.group(3).decode()
    row = db.get(ComplianceReport, report_id) if db is not None else None
    key = _issuing_key(key, row, db)
    whole = hashlib.sha256(content).hexdigest()
    as_stored = row is not None and row.pdf_sha256 == whole
    if not signed_by(key, "pdf", report_id, sha, signature):
        return _not_signed(report_id, "pdf", row, as_stored, db)
    if hashlib.sha256(content[: line.start()]).hexdigest() != sha:
        return Verification(
            "edited", f"the PDF differs from report #{report_id} as signed", report_id, "pdf"
        )
    return _valid(report_id, "pdf", row, as_stored, db)
