"""The compliance report as an A4 PDF, drawn with fpdf2 from the same data as the HTML:
summary, each control with its evidence and status history (a timeline bar and the
changes), and a last page with the signature and the public key. The report's id, digest,
signature and public key are also in the PDF's metadata (subject and keywords); the PDF's
own signature line is appended once it is drawn (:func:`report.sign_pdf`).

Text is set in DejaVu Sans when Debian's fonts-dejavu-core is installed (as for the
postmortem PDFs), else in the PDF core fonts.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fpdf import FPDF, FontFace
from fpdf.enums import XPos, YPos

from watchkeeper.incidents.postmortem_pdf import load_fonts, pdf_bytes
from watchkeeper.security.compliance.report import ReportControl, ReportData
from watchkeeper.security.compliance.views import format_params

# fontTools reports every table of every font subset at INFO: dozens of lines per PDF, which
# would bury the one line `watchkeeper compliance report` prints.
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)
COLOURS = {
    "pass": (21, 128, 61),
    "fail": (185, 28, 28),
    "unknown": (161, 98, 7),
    "pending": (100, 116, 139),
}
BAR_PENDING = (203, 213, 225)
GREY = (95, 107, 126)
LINE = (214, 219, 227)
MARGIN = 16.0


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "-"


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%".replace(".0%", "%")


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        self.set_margins(MARGIN, 14, MARGIN)
        self.set_auto_page_break(True, margin=16)
        self.fonts_used = load_fonts(self)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(self.fonts_used.sans, "", 7.5)
        self.set_text_color(*GREY)
        text = self.fonts_used.clean(f"{self.footer_text} · page {self.page_no()} of {{nb}}")
        self.cell(0, 5, text, align="C")
        self.set_text_color(0)

    # -- pieces -----------------------------------------------------------------------------

    def text_block(
        self,
        text: str,
        size: float = 9.5,
        style: str = "",
        colour: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        self.set_font(self.fonts_used.sans, style, size)
        self.set_text_color(*colour)
        self.set_x(self.l_margin)
        self.multi_cell(
            0,
            size * 0.5,
            self.fonts_used.clean(text),
            align="L",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.set_text_color(0)

    def pill(self, status: str, size: float = 7.5) -> None:
        """A coloured status label at the current position."""
        self.set_font(self.fonts_used.sans, "B", size)
        width = self.get_string_width(status) + 4
        self.set_fill_color(*COLOURS.get(status, GREY))
        self.set_text_color(255, 255, 255)
        self.cell(width, size * 0.55, status, fill=True, align="C")
        self.set_text_color(0)

    def heading(self, text: str, size: float = 13) -> None:
        self.ln(3)
        self.text_block(text, size, "B")
        self.set_draw_color(*LINE)
        self.line(self.l_margin, self.get_y() + 0.5, self.w - self.r_margin, self.get_y() + 0.5)
        self.ln(2.5)

    def bar(self, control: ReportControl) -> None:
        """The control's statuses over the period, left to right."""
        width = self.w - self.l_margin - self.r_margin
        x, y = self.l_margin, self.get_y() + 1
        self.set_fill_color(238, 241, 245)
        self.rect(x, y, width, 3.2, style="F")
        for seg in control.segments:
            colour = BAR_PENDING if seg.status == "pending" else COLOURS.get(seg.status, GREY)
            self.set_fill_color(*colour)
            self.rect(x, y, width * seg.share, 3.2, style="F")
            x += width * seg.share
        self.set_y(y + 4.2)

    def rows(
        self, header: list[str] | None, rows: list[list[str]], widths: tuple[int, ...]
    ) -> None:
        """A small table: ``rows`` of text (a first cell naming a status is coloured)."""
        self.set_font(self.fonts_used.sans, "", 8)
        self.set_draw_color(*LINE)
        self.set_fill_color(255, 255, 255)
        heading = FontFace(emphasis="BOLD", color=GREY, fill_color=(246, 247, 249))
        with self.table(
            col_widths=widths,
            first_row_as_headings=header is not None,
            headings_style=heading,
            line_height=4,
            borders_layout="HORIZONTAL_LINES",
            text_align="LEFT",
            cell_fill_mode="NONE",
        ) as table:
            for cells in ([header] if header else []) + rows:
                row = table.row()
                for i, text in enumerate(cells):
                    style = None
                    if i == 0 and text in COLOURS:
                        style = FontFace(emphasis="BOLD", color=COLOURS[text])
                    row.cell(self.fonts_used.clean(text), style=style)
        self.ln(1)


def _control(pdf: _Pdf, control: ReportControl, past: bool) -> None:
    """One control; ``past``: the period ended before the report was made."""
    c = control.control
    if pdf.get_y() > pdf.h - 60:
        pdf.add_page()
    pdf.ln(2)
    pdf.set_x(pdf.l_margin)
    pdf.pill(control.status, 8)
    pdf.set_font(pdf.fonts_used.sans, "B", 10.5)
    pdf.set_x(pdf.get_x() + 2)
    pdf.multi_cell(
        0,
        4.6,
        pdf.fonts_used.clean(f"{c.id} · {c.title}"),
        align="L",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    refs = " · ".join(c.references) or "no framework reference"
    if c.owner:
        refs += f" · owner: {c.owner}"
    if c.origin == "replaced":
        refs += " · as replaced in the plan"
    pdf.text_block(refs, 8, colour=GREY)
    if c.description:
        pdf.text_block(c.description, 9)
    since = (
        f"{control.status} since {_when(control.since)}"
        if control.since
        else "not evaluated in the period"
    )
    if control.evidence_at is not None:
        since += f" · evidence gathered {_when(control.evidence_at)}"
        if past:
            since += ", when it took this status (evidence is kept with each change of status)"
    pdf.text_block(since, 8, colour=GREY)
    for query in control.evidence:
        pdf.ln(1)
        pdf.set_x(pdf.l_margin)
        pdf.pill(str(query.get("status", "unknown")))
        pdf.set_font(pdf.fonts_used.mono, "", 8)
        pdf.cell(
            0,
            4,
            pdf.fonts_used.clean(
                f"  {query.get('query')} {format_params(query.get('params') or {})}", mono=True
            ),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.text_block(str(query.get("summary", "")), 9)
        facts = query.get("facts") or []
        if facts:
            pdf.rows(
                None,
                [[f["status"], f["subject"], f["detail"]] for f in facts],
                (16, 50, 112),
            )
    pdf.bar(control)
    changes = "" if control.changes else " No status change in the period."
    pdf.text_block(f"Passing {_pct(control.pass_share)} of the period.{changes}", 8, colour=GREY)
    if control.changes:
        pdf.rows(
            ["status", "when", "evidence then"],
            [[e.status, _when(e.at), e.summary] for e in control.changes],
            (17, 34, 127),
        )
    pdf.set_draw_color(*LINE)
    pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.w - pdf.r_margin, pdf.get_y() + 1)
    pdf.ln(2)


def render_pdf(data: ReportData, sha256: str, signature: str, public_key: str) -> bytes:
    """The report ``data`` as a PDF carrying ``sha256`` (of the canonical HTML), its
    ``signature`` and the ``public_key`` that checks it, in its metadata and on its last
    page."""
    pdf = _Pdf(f"Watchkeeper compliance report #{data.report_id} · {data.title}")
    pdf.set_title(data.title)
    pdf.set_subject(f"Watchkeeper compliance report #{data.report_id}")
    pdf.set_keywords(
        f"watchkeeper-report-id:{data.report_id} sha256:{sha256} signature:{signature} "
        f"public-key:{public_key}"
    )
    pdf.set_creator("Watchkeeper")
    pdf.set_author(data.generated_by)
    pdf.set_creation_date(data.generated_at)
    pdf.add_page()
    pdf.text_block(data.title, 18, "B")
    pdf.text_block(f"Watchkeeper compliance report #{data.report_id}", 9, colour=GREY)
    pdf.ln(2)
    for label, value in (
        ("Plan", data.plan_name or "(unnamed plan)"),
        ("Period", f"{_when(data.period_start)} to {_when(data.period_end)} (end excluded)"),
        ("Generated", f"{_when(data.generated_at)} by {data.generated_by}"),
    ):
        pdf.text_block(f"{label}: {value}", 9.5)
    counts = data.counts()
    pdf.heading("Summary")
    line = (
        f"{len(data.controls)} controls at the end of the period: {counts['pass']} passing, "
        f"{counts['fail']} failing, {counts['unknown']} unknown"
    )
    if counts["pending"]:
        line += f", {counts['pending']} not evaluated"
    pdf.text_block(line + ".", 9.5)
    pdf.ln(1)
    pdf.rows(
        ["status", "control", "title", "references", "passing"],
        [
            [
                c.status,
                c.control.id,
                c.control.title,
                ", ".join(c.control.references),
                _pct(c.pass_share),
            ]
            for c in data.controls
        ],
        (17, 50, 55, 40, 16),
    )
    for _, title, items in data.groups:
        pdf.add_page()
        pdf.heading(title, 14)
        for control in items:
            _control(pdf, control, data.period_end < data.generated_at)
    pdf.add_page()
    pdf.heading("Signature", 14)
    pdf.text_block(
        f"Report #{data.report_id}, issued {_when(data.generated_at)} by {data.generated_by}.",
        9.5,
    )
    pdf.ln(1)
    pdf.text_block("SHA-256 of the report's canonical HTML:", 9.5, "B")
    pdf.set_font(pdf.fonts_used.mono, "", 9)
    pdf.multi_cell(0, 4.5, sha256, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.text_block("Ed25519 signature of that digest by the issuing installation:", 9.5, "B")
    pdf.set_font(pdf.fonts_used.mono, "", 9)
    pdf.multi_cell(0, 4.5, signature, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.text_block("Its public key:", 9.5, "B")
    pdf.set_font(pdf.fonts_used.mono, "", 9)
    pdf.multi_cell(0, 4.5, public_key, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.text_block(
        "Compare the public key with the one the installation publishes "
        '("watchkeeper compliance public-key"): a forger would print their own here. This PDF '
        "also ends with a signature of its own bytes. Anyone checks it with "
        '"watchkeeper compliance verify FILE --public-key KEY", without access to the '
        'installation; the installation also with "watchkeeper compliance verify FILE" or '
        "POST /api/v1/compliance/reports/verify. Any changed byte shows.",
        9,
        colour=GREY,
    )
    return pdf_bytes(pdf)
