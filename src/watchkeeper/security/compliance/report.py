"""Dated compliance reports: each control that applies with its status at the end of the
period, the evidence behind it, its framework references and its status changes during
the period — as one self-contained HTML document (no external asset) and a PDF, both
signed with the installation's Ed25519 key (see :mod:`signing`).

The report's *canonical HTML* is what is signed: its SHA-256 and the signature are kept
with the report. The HTML handed out is the canonical HTML with a signature block inserted
at two markers (``<meta>`` tags in the head, a visible block at the end); taking the
blocks out gives the canonical HTML back, byte for byte, so a changed byte anywhere shows.
The PDF carries the same digest and signature in its metadata and on its last page, and
ends with a signature line of its own (a PDF comment after ``%%EOF``, which readers skip):
the SHA-256 of the bytes before it, signed. Its bytes are stored as issued. Checking a file
is :mod:`report_verify`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.plan.apply import last_apply
from watchkeeper.security.compliance import views
from watchkeeper.security.compliance.signing import digest, public_text, sign
from watchkeeper.store.tables import ComplianceReport

MARKER = "<!--wk-signature-->"
_BLOCK = re.compile(r"<!--wk-signature:begin-->.*?<!--wk-signature:end-->", re.S)
PDF_SIGNATURE = re.compile(rb"%wk-signature:(\d+):([0-9a-f]{64}):([0-9a-f]{128})\n\Z")
"""The PDF's last line: report id, SHA-256 of the bytes before the line, signature."""
MAX_PERIOD = timedelta(days=3660)
_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(["html"]),
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class ReportControl:
    """A control as the report shows it."""

    control: views.ControlView
    status: str  # at the end of the period
    since: datetime | None
    evidence: list[dict[str, Any]]
    # When ``evidence`` was gathered: the latest evaluation for a period reaching now; for a
    # past period, when the control took the status it had at the end (evidence is kept
    # with each change of status, not with every evaluation).
    evidence_at: datetime | None
    changes: list[views.EventView]  # within the period, oldest first
    segments: list[views.Segment]

    @property
    def pass_share(self) -> float:
        return views.share_in(self.segments, "pass")


@dataclass(frozen=True)
class ReportData:
    report_id: int
    title: str
    plan_name: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    generated_by: str
    groups: list[tuple[str, str, list[ReportControl]]]

    @property
    def controls(self) -> list[ReportControl]:
        return [c for _, _, items in self.groups for c in items]

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "unknown": 0, views.PENDING: 0}
        for control in self.controls:
            out[control.status] = out.get(control.status, 0) + 1
        return out


def period_of(start: date, end: date, now: datetime) -> tuple[datetime, datetime]:
    """The period from the start of day ``start`` to the end of day ``end`` (UTC); raise
    ValidationFailed naming the field at fault."""
    errors = []
    if end < start:
        errors.append(("to", "must not be before `from`"))
    if start > now.date():
        errors.append(("from", "must not be in the future"))
    begin = datetime.combine(start, time(0), tzinfo=UTC)
    finish = datetime.combine(end, time(0), tzinfo=UTC) + timedelta(days=1)
    if not errors and finish - begin > MAX_PERIOD:
        errors.append(("to", "a report covers at most ten years"))
    if errors:
        raise ValidationFailed(
            "the report period is not valid: " + "; ".join(f"{f}: {m}" for f, m in errors), errors
        )
    return begin, finish


def title_of(start: datetime, end: datetime) -> str:
    last_day = (end - timedelta(seconds=1)).date()
    return f"Compliance report {start.date().isoformat()} to {last_day.isoformat()}"


def _report_control(
    db: Session, control: views.ControlView, start: datetime, end: datetime, now: datetime
) -> ReportControl:
    events = views.history(db, control.id, start, end, limit=10_000)
    segs = views.segments(events, start, min(end, now))
    changes = [e for e in events if e.at > start]
    if end >= now:  # the period reaches now: the latest evaluation
        return ReportControl(
            control,
            control.status,
            control.since,
            control.evidence,
            control.evaluated_at,
            changes,
            segs,
        )
    if not events:
        return ReportControl(control, views.PENDING, None, [], None, changes, segs)
    last = events[-1]
    return ReportControl(control, last.status, last.at, last.evidence, last.at, changes, segs)


def build(
    db: Session, report_id: int, start: datetime, end: datetime, now: datetime, by: str
) -> ReportData:
    """Gather what report ``report_id`` over ``start``..``end`` shows."""
    controls = [_report_control(db, c, start, end, now) for c in views.list_controls(db)]
    groups: dict[str, list[ReportControl]] = {}
    titles: dict[str, str] = {}
    for item in controls:
        groups.setdefault(item.control.framework, []).append(item)
        titles[item.control.framework] = item.control.framework_title
    applied = last_apply(db)
    return ReportData(
        report_id=report_id,
        title=title_of(start, end),
        plan_name=applied.plan_name if applied is not None else "",
        period_start=start,
        period_end=end,
        generated_at=now,
        generated_by=by,
        groups=[(f, titles[f], items) for f, items in groups.items()],
    )


def render_html(data: ReportData) -> str:
    """The report's canonical HTML (signature markers not filled)."""
    return _env.get_template("report.html").render(
        report=data, marker=Markup(MARKER), pct=_pct, when=_when, params=views.format_params
    )


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%".replace(".0%", "%")


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "–"


def signature_blocks(
    report_id: int, sha256: str, signature: str, public_key: str
) -> tuple[str, str]:
    """The head and the visible signature blocks of a report."""
    head = (
        "<!--wk-signature:begin-->"
        f'<meta name="watchkeeper-report-id" content="{report_id}">'
        f'<meta name="watchkeeper-report-sha256" content="{escape(sha256)}">'
        f'<meta name="watchkeeper-report-signature" content="{escape(signature)}">'
        f'<meta name="watchkeeper-report-public-key" content="{escape(public_key)}">'
        "<!--wk-signature:end-->"
    )
    body = (
        "<!--wk-signature:begin-->"
        '<section class="signature"><h2>Signature</h2>'
        f"<p>Report #{report_id}. SHA-256 of the canonical HTML (this document without this "
        f"block and the four <code>watchkeeper-report</code> meta tags): "
        f'<code class="digest">{escape(sha256)}</code></p>'
        f"<p>Ed25519 signature by the issuing installation: "
        f'<code class="digest">{escape(signature)}</code></p>'
        f'<p>Its public key: <code class="digest">{escape(public_key)}</code>. Compare it '
        "with the key the installation publishes (<code>watchkeeper compliance "
        "public-key</code>): a forger would print their own here.</p>"
        "<p>Check this file anywhere with <code>watchkeeper compliance verify FILE "
        "--public-key KEY</code> (no access to the installation needed), or on the "
        "installation with <code>watchkeeper compliance verify FILE</code> or "
        "<code>POST /api/v1/compliance/reports/verify</code>: any changed byte shows.</p>"
        "</section>"
        "<!--wk-signature:end-->"
    )
    return head, body


def signed_html(
    canonical: str, report_id: int, sha256: str, signature: str, public_key: str
) -> str:
    """The HTML handed out: ``canonical`` with its signature blocks in place."""
    head, body = signature_blocks(report_id, sha256, signature, public_key)
    return canonical.replace(MARKER, head, 1).replace(MARKER, body, 1)


def canonical_of(html: str) -> str:
    """``html`` with its signature blocks taken out (the canonical HTML if unedited)."""
    return _BLOCK.sub(MARKER, html)


def sign_pdf(body: bytes, report_id: int, key: Ed25519PrivateKey) -> bytes:
    """``body`` (a PDF) with its signature line appended (see the module docstring)."""
    head = body if body.endswith(b"\n") else body + b"\n"
    sha = hashlib.sha256(head).hexdigest()
    line = f"%wk-signature:{report_id}:{sha}:{sign(key, 'pdf', report_id, sha)}\n"
    return head + line.encode()


def issue(
    db: Session,
    actor: Actor,
    start: date,
    end: date,
    key: Ed25519PrivateKey,
    now: datetime,
) -> ComplianceReport:
    """Issue the report for the days ``start`` to ``end`` (inclusive, UTC): render it, sign
    it with ``key`` (the installation's, :func:`signing.signing_key`), store it and audit
    it; raise ValidationFailed for a bad period. Caller commits."""
    from watchkeeper.security.compliance.report_pdf import render_pdf  # fpdf2 loads slowly

    begin, finish = period_of(start, end, now)
    row = ComplianceReport(
        created_at=now,
        created_by=actor.name[:128],
        title=title_of(begin, finish),
        period_start=begin,
        period_end=finish,
        sha256="",
        signature="",
        public_key="",
        html="",
        pdf=b"",
        pdf_sha256="",
        summary={},
    )
    db.add(row)
    db.flush()
    data = build(db, row.id, begin, finish, now, actor.name)
    canonical = render_html(data)
    row.sha256 = digest(canonical)
    row.signature = sign(key, "html", row.id, row.sha256)
    row.html = canonical
    row.public_key = public_text(key.public_key())
    row.pdf = sign_pdf(render_pdf(data, row.sha256, row.signature, row.public_key), row.id, key)
    row.pdf_sha256 = hashlib.sha256(row.pdf).hexdigest()
    row.summary = data.counts()
    audit.record(
        db,
        actor,
        "compliance.report_issue",
        f"compliance-report/{row.id}",
        {
            "period_start": begin.isoformat(),
            "period_end": finish.isoformat(),
            "sha256": row.sha256,
            "pdf_sha256": row.pdf_sha256,
            "public_key": row.public_key,
            "controls": row.summary,
        },
    )
    return row


def get_report(db: Session, report_id: int) -> ComplianceReport:
    """Return report ``report_id``; raise NotFoundError when there is none."""
    row = db.get(ComplianceReport, report_id)
    if row is None:
        raise NotFoundError(f"there is no compliance report {report_id}")
    return row


def list_reports(db: Session, limit: int = 100) -> list[ComplianceReport]:
    """The issued reports, newest first (HTML and PDF bodies not loaded)."""
    return list(
        db.scalars(select(ComplianceReport).order_by(ComplianceReport.id.desc()).limit(limit))
    )


def report_html(row: ComplianceReport) -> str:
    """The signed HTML of an issued report."""
    return signed_html(row.html, row.id, row.sha256, row.signature, row.public_key)
