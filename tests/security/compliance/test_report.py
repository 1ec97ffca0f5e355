"""The signed compliance report: HTML and PDF are made for a period and verify as valid —
with the store, and anywhere with the public key alone; an edited byte, a foreign file,
another installation's key and an edited store are told apart."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.security.compliance.support import NOW, add_user, apply
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.rekey import SEALED_META_KEYS, reseal_all
from watchkeeper.auth.secrets import SecretBox
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.security.compliance import report
from watchkeeper.security.compliance.evaluate import evaluate_all
from watchkeeper.security.compliance.report_verify import Verification, verify
from watchkeeper.security.compliance.signing import (
    PRIVATE_KEY_META,
    PUBLIC_KEY_META,
    SigningKeyError,
    digest,
    installation_public_key,
    parse_public_key,
    public_text,
    sign,
    signing_key,
)
from watchkeeper.store.tables import AuditEntry, ComplianceReport, Meta

SECRET = "this-installation-secret-key-0123456789"
PLAN = """
name: Acme production
compliance:
  frameworks: [soc2]
  disabled: [SOC2-CC6.7-TLS]
  controls:
    - name: WK-MFA
      title: Administrators sign in with a second factor
      references: [SOC 2 CC6.1]
      owner: platform-team
      evidence: [{query: admins_have_mfa}]
"""


def _key(db: Session) -> Ed25519PrivateKey:
    return signing_key(db, SecretBox(SECRET), Actor("alice"))


def _issue(db: Session, start: date, end: date) -> ComplianceReport:
    row = report.issue(db, Actor("alice", "192.0.2.7"), start, end, _key(db), NOW)
    db.commit()
    return row


def _here(db: Session, content: bytes) -> Verification:
    """Verify as the issuing installation does: its key and its store."""
    return verify(content, installation_public_key(db), db)


def _history(db: Session) -> None:
    """WK-MFA passes two days ago, fails yesterday at noon (an admin without MFA)."""
    apply(db, PLAN)
    add_user(db, "alice", mfa="totp")
    db.commit()
    evaluate_all(db, NOW - timedelta(days=2))
    add_user(db, "mallory")
    db.commit()
    evaluate_all(db, NOW - timedelta(days=1))
    db.commit()


def test_report_html_and_pdf_are_signed_and_verify(db: Session) -> None:
    _history(db)
    row = _issue(db, (NOW - timedelta(days=3)).date(), NOW.date())
    html = report.report_html(row)
    # Self-contained: no script, stylesheet, image or font fetched from anywhere.
    assert not re.search(r"<script|<link|<img|src=|url\(|@import", html)
    assert "Acme production" in html and "Compliance report 2026-12-03 to 2026-12-06" in html
    assert "SOC 2 CC6.1" in html and "owner: platform-team" in html
    assert "Admin users with a second factor: 1 of 2; without: mallory." in html
    assert '<meta name="watchkeeper-report-sha256" content="' + row.sha256 in html
    assert row.sha256 == digest(row.html)
    public = installation_public_key(db)
    assert public is not None and row.public_key == public_text(public)
    assert f'Its public key: <code class="digest">{row.public_key}</code>' in html
    assert _here(db, html.encode()) == Verification(
        "valid", f"report #{row.id} as issued on 2026-12-06 12:00 UTC", row.id, "html"
    )
    assert _here(db, row.pdf).status == "valid"
    assert row.pdf.startswith(b"%PDF-") and b"watchkeeper-report-id:" in row.pdf
    assert row.pdf.endswith(b"\n") and b"\n%wk-signature:" in row.pdf[-300:]
    assert row.summary["fail"] >= 1
    entries = db.scalars(
        select(AuditEntry).where(AuditEntry.action.like("compliance.%")).order_by(AuditEntry.id)
    ).all()
    assert [(e.action, e.actor) for e in entries] == [
        ("compliance.signing_key_create", "alice"),
        ("compliance.report_issue", "alice"),
    ]
    assert entries[0].detail["public_key"] == row.public_key
    assert entries[1].target == f"compliance-report/{row.id}"


def test_anyone_verifies_offline_with_the_public_key_alone(db: Session) -> None:
    _history(db)
    row = _issue(db, (NOW - timedelta(days=3)).date(), NOW.date())
    html = report.report_html(row)
    public = parse_public_key(f"ed25519:{row.public_key.upper()}")
    assert verify(html.encode(), public) == Verification(
        "valid", f"report #{row.id}, signed with this public key", row.id, "html"
    )
    assert (
        verify(row.pdf, public).reason
        == f"the PDF of report #{row.id}, signed with this public key"
    )
    edited = html.replace("1 of 2; without: mallory", "2 of 2", 1).encode()
    assert verify(edited, public).status == "edited"
    stranger = Ed25519PrivateKey.generate().public_key()
    found = verify(html.encode(), stranger)
    assert found.status == "unknown" and "does not verify with this public key" in found.reason
    assert verify(row.pdf, stranger).status == "unknown"
    with pytest.raises(ValidationFailed) as caught:
        parse_public_key("not-a-key")
    assert caught.value.errors == [("public_key", "must be 64 hex digits")]


def test_the_pdf_still_reads_with_its_signature_line(db: Session, tmp_path: Path) -> None:
    """The signature line after %%EOF is a PDF comment: readers still open the file."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    _history(db)
    row = _issue(db, NOW.date(), NOW.date())
    path = tmp_path / "report.pdf"
    path.write_bytes(row.pdf)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True, timeout=30
    )
    assert "Its public key:" in text.stdout and row.public_key[:32] in text.stdout
    assert "Syntax Error" not in text.stderr


def test_an_edited_byte_is_detected(db: Session) -> None:
    _history(db)
    row = _issue(db, (NOW - timedelta(days=3)).date(), NOW.date())
    html = report.report_html(row)
    edited = html.replace("1 of 2; without: mallory", "2 of 2", 1)
    found = _here(db, edited.encode())
    assert (found.status, found.report_id) == ("edited", row.id)
    assert found.reason == f"the content differs from report #{row.id} as signed"
    # Inside the signature block: the meta tags still match, the block does not.
    tweaked = html.replace("any changed byte shows", "nothing to see")
    assert _here(db, tweaked.encode()).reason == (
        f"the signature block of report #{row.id} was changed"
    )
    # Content and digest changed together: the signature no longer covers them.
    forged = edited.replace(row.sha256, digest(report.canonical_of(edited)))
    found = _here(db, forged.encode())
    assert (found.status, found.reason) == (
        "edited",
        f"the file differs from report #{row.id} as issued: its signature does not verify",
    )
    # One byte of the PDF; its signature line taken off.
    pdf = bytearray(row.pdf)
    pdf[len(pdf) // 2] ^= 0x01
    found = _here(db, bytes(pdf))
    assert (found.status, found.format) == ("edited", "pdf")
    assert found.reason == f"the PDF differs from report #{row.id} as signed"
    unsigned = row.pdf[: row.pdf.rindex(b"%wk-signature:")]
    assert _here(db, unsigned).reason == (
        f"the PDF differs from report #{row.id} as issued: its signature line is gone"
    )


def test_an_edited_store_is_told_from_an_edited_file(db: Session) -> None:
    """Rewriting a stored report and its digest (in the database) cannot be hidden: the
    signature no longer verifies — and a genuine copy still does."""
    _history(db)
    row = _issue(db, NOW.date(), NOW.date())
    genuine = report.report_html(row)
    canonical = row.html.replace("without: mallory", "without: nobody", 1)
    db.execute(
        update(ComplianceReport)
        .where(ComplianceReport.id == row.id)
        .values(html=canonical, sha256=digest(canonical))
    )
    db.commit()
    db.expire_all()
    stored = report.report_html(report.get_report(db, row.id))
    found = _here(db, stored.encode())
    assert (found.status, found.reason) == (
        "edited",
        f"the signature of report #{row.id} as stored does not verify with this "
        "installation's key (store edited or signing key replaced)",
    )
    assert _here(db, genuine.encode()).reason == (
        f"report #{row.id}, signed by this installation; the copy in its store differs: the "
        "store was edited"
    )


def test_foreign_files_and_keys_are_unknown(db: Session) -> None:
    assert _here(db, b"<html></html>").reason == (
        "this installation has issued no report yet (it has no signing key)"
    )
    _history(db)
    row = _issue(db, NOW.date(), NOW.date())
    html = report.report_html(row)
    assert _here(db, b"<html><body>hello</body></html>").status == "unknown"
    assert _here(db, b"%PDF-1.7\n% someone else's\n").status == "unknown"
    assert _here(db, b"\xff\xfe\x00binary").status == "unknown"
    # A report numbered like none issued here.
    other = html.replace(
        f'name="watchkeeper-report-id" content="{row.id}"',
        'name="watchkeeper-report-id" content="999"',
    )
    assert _here(db, other.encode()).reason == "no report #999 was issued by this installation"
    # Another installation's report with the same number, signed with its own key.
    elsewhere = Ed25519PrivateKey.generate()
    sig = sign(elsewhere, "html", row.id, row.sha256)
    theirs = report.signed_html(
        row.html, row.id, row.sha256, sig, public_text(elsewhere.public_key())
    )
    found = _here(db, theirs.encode())
    assert found.status == "unknown" and "another installation's report" in found.reason
    assert verify(theirs.encode(), elsewhere.public_key()).status == "valid"


def test_the_signing_key_is_made_once_sealed_and_resealed(db: Session) -> None:
    box = SecretBox(SECRET)
    first = signing_key(db, box, Actor("alice"))
    db.commit()
    again = signing_key(db, box, Actor("bob"))
    assert public_text(again.public_key()) == public_text(first.public_key())
    sealed = db.get(Meta, PRIVATE_KEY_META)
    assert sealed is not None and sealed.value.startswith("wk1:")
    assert first.private_bytes_raw().hex() not in sealed.value
    assert PRIVATE_KEY_META in SEALED_META_KEYS
    # A key rotation: re-sealed with the new secret key, the same signing key opens.
    rotated = SecretBox("the-new-secret-key-after-rotation-42", [SECRET])
    assert reseal_all(db, rotated) == (1, 1)
    db.commit()
    reopened = signing_key(db, SecretBox("the-new-secret-key-after-rotation-42"), Actor("x"))
    assert public_text(reopened.public_key()) == public_text(first.public_key())
    # Without the key it was sealed with, or with a public key not its own: a clear error.
    with pytest.raises(SigningKeyError, match="cannot be opened: sealed with an unknown key"):
        signing_key(db, SecretBox("yet-another-secret-key-000000000000"), Actor("x"))
    public = db.get(Meta, PUBLIC_KEY_META)
    assert public is not None
    public.value = public_text(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(SigningKeyError, match="does not belong to the signing key"):
        signing_key(db, SecretBox("the-new-secret-key-after-rotation-42"), Actor("x"))


def test_a_past_period_shows_the_status_at_its_end(db: Session) -> None:
    _history(db)
    # The period ends before the control failed: it was passing then.
    row = _issue(db, (NOW - timedelta(days=3)).date(), (NOW - timedelta(days=2)).date())
    html = report.report_html(row)
    mfa = html.split('id="WK-MFA"')[1].split("</section>")[0]
    assert '<span class="pill pass">pass</span>' in mfa
    assert "without: mallory" not in mfa
    assert (
        "pass since 2026-12-04 12:00 UTC · evidence gathered 2026-12-04 12:00 UTC, when it took "
        "this status" in mfa
    )
    assert row.summary["pending"] == 0 and sum(row.summary.values()) == 11


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (date(2026, 12, 5), date(2026, 12, 1), "to"),
        (date(2026, 12, 10), date(2026, 12, 12), "from"),
        (date(2000, 1, 1), date(2026, 12, 1), "to"),
    ],
)
def test_a_bad_period_names_the_field(db: Session, start: date, end: date, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        report.issue(db, Actor("alice"), start, end, _key(db), NOW)
    assert [f for f, _ in caught.value.errors] == [field]
