"""Render a postmortem's Markdown as a PDF with fpdf2: headings, paragraphs with bold,
italic, code and links, bullet and numbered lists, tables, code blocks, quotes and rules.

Text is set in DejaVu Sans when Debian's fonts-dejavu-core is installed, else in the PDF core
fonts (Helvetica, Courier). Characters the chosen font cannot draw are replaced (an arrow by
"->", a CJK character by "?") so that no text makes the export fail.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace
from markdown_it import MarkdownIt
from markdown_it.token import Token

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
_SANS = {
    "": "DejaVuSans.ttf",
    "B": "DejaVuSans-Bold.ttf",
    "I": "DejaVuSans-Oblique.ttf",
    "BI": "DejaVuSans-BoldOblique.ttf",
}
_MONO = "DejaVuSansMono.ttf"
_LATIN1 = frozenset(range(0x20, 0x7F)) | frozenset(range(0xA0, 0x100))
_FALLBACKS = {
    "—": "-",
    "–": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "‘": "'",
    "’": "'",
    "‚": ",",
    "“": '"',
    "”": '"',
    "„": '"',
    "…": "...",
    "•": "-",
    "→": "->",
    "←": "<-",
    "⇒": "=>",
    "✓": "v",
    "✔": "v",
    "✗": "x",
    "✘": "x",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Œ": "OE",
    "œ": "oe",
    "\u200b": "",
    "\ufeff": "",
}
# fontTools logs every table of every font subset it writes at DEBUG: hundreds of lines a PDF.
logging.getLogger("fontTools").setLevel(logging.INFO)
_md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

BODY_PT = 10.5
TABLE_PT = 8.5
CODE_PT = 8.5
HEADING_PT = {1: 18.0, 2: 14.0, 3: 12.0}
INDENT = 6.0  # mm per list or quote level
GREY = (95, 107, 126)
LINK = (37, 99, 235)
RULE = (200, 206, 214)


@dataclass
class _Fonts:
    sans: str
    mono: str
    sans_chars: frozenset[int] | None = None  # None: the core fonts' Latin-1
    mono_chars: frozenset[int] | None = None

    def clean(self, text: str, mono: bool = False) -> str:
        """Return ``text`` with what the font cannot draw replaced."""
        chars = (self.mono_chars if mono else self.sans_chars) or _LATIN1
        out = []
        for ch in text.replace("\t", "    "):
            if ord(ch) in chars or ch == "\n":
                out.append(ch)
                continue
            if unicodedata.category(ch) in ("Cc", "Cf") and ch not in _FALLBACKS:
                continue
            swap = _FALLBACKS.get(ch)
            if swap is None:
                plain = unicodedata.normalize("NFKD", ch)
                plain = "".join(c for c in plain if not unicodedata.combining(c))
                swap = plain if plain and all(ord(c) in chars for c in plain) else "?"
            out.append(swap if all(ord(c) in chars for c in swap) else "?")
        return "".join(out)


def _cmap(pdf: FPDF, key: str) -> frozenset[int]:
    font = pdf.fonts.get(key)
    cmap = getattr(font, "cmap", None) or {}
    return frozenset(int(c) for c in cmap)


def pdf_bytes(pdf: FPDF) -> bytes:
    """The document's bytes; then close the font files fontTools keeps open (left to the
    garbage collector, each would be a ResourceWarning at some later moment)."""
    try:
        return bytes(pdf.output())
    finally:
        for font in pdf.fonts.values():
            ttfont = getattr(font, "ttfont", None)
            if ttfont is not None:
                ttfont.close()


def load_fonts(pdf: FPDF, fonts_dir: Path | None = DEJAVU_DIR) -> _Fonts:
    """Register DejaVu Sans (and Mono) from ``fonts_dir`` when all its files are there;
    otherwise use the core fonts."""
    paths = {style: fonts_dir / name for style, name in _SANS.items()} if fonts_dir else {}
    mono = fonts_dir / _MONO if fonts_dir else None
    if not paths or mono is None or not all(p.is_file() for p in [*paths.values(), mono]):
        return _Fonts("helvetica", "courier")
    for style, path in paths.items():
        pdf.add_font("wk-sans", style, str(path))
    pdf.add_font("wk-mono", "", str(mono))
    sans = _cmap(pdf, "wk-sans")
    for style in ("B", "I", "BI"):
        sans &= _cmap(pdf, f"wk-sans{style}")
    return _Fonts("wk-sans", "wk-mono", sans, _cmap(pdf, "wk-mono"))


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        self.fonts_used: _Fonts | None = None
        self.base_margin = 18.0
        self.set_margins(self.base_margin, 16, 18)
        self.set_auto_page_break(True, margin=18)

    def footer(self) -> None:
        if self.fonts_used is None:
            return
        self.set_y(-12)
        self.set_font(self.fonts_used.sans, "", 7.5)
        self.set_text_color(*GREY)
        text = self.fonts_used.clean(self.footer_text)
        self.cell(0, 6, f"{text}  ·  page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0)


@dataclass
class _Run:
    text: str
    bold: bool = False
    italic: bool = False
    mono: bool = False
    link: str = ""


@dataclass
class _Renderer:
    pdf: _Pdf
    fonts: _Fonts
    lists: list[list[Any]] = field(default_factory=list)  # [ordered, next number]
    quote: int = 0
    marker: str = ""  # the list marker still to draw before the item's first block

    # -- geometry -------------------------------------------------------------------------

    @property
    def indent(self) -> float:
        return self.pdf.base_margin + INDENT * (len(self.lists) + self.quote)

    def line_height(self, size: float) -> float:
        return size * 0.3528 * 1.4

    def start_block(self, gap: float = 2.0) -> None:
        """Move to the block's left edge, leaving ``gap`` mm below what came before."""
        if self.pdf.y > self.pdf.t_margin + 0.5:
            self.pdf.ln(gap)
        self.pdf.set_left_margin(self.indent)
        self.pdf.set_x(self.indent)
        if self.marker:
            self.pdf.set_font(self.fonts.sans, "", BODY_PT)
            self.pdf.set_x(self.indent - INDENT + 1)
            self.pdf.write(self.line_height(BODY_PT), self.fonts.clean(self.marker))
            self.pdf.set_x(self.indent)
            self.marker = ""

    # -- inline ---------------------------------------------------------------------------

    def runs(self, inline: Token) -> list[_Run]:
        out: list[_Run] = []
        bold = italic = 0
        link = ""
        for child in inline.children or []:
            kind = child.type
            if kind == "text":
                out.append(_Run(child.content, bold > 0, italic > 0, link=link))
            elif kind == "code_inline":
                out.append(_Run(child.content, mono=True, link=link))
            elif kind in ("softbreak",):
                out.append(_Run(" "))
            elif kind == "hardbreak":
                out.append(_Run("\n"))
            elif kind == "strong_open":
                bold += 1
            elif kind == "strong_close":
                bold -= 1
            elif kind == "em_open":
                italic += 1
            elif kind == "em_close":
                italic -= 1
            elif kind == "link_open":
                href = str(child.attrGet("href") or "")
                link = href if href.lower().startswith(("http://", "https://", "mailto:")) else ""
            elif kind == "link_close":
                link = ""
            elif kind == "image":
                out.append(_Run(f"[{child.content or 'image'}]", italic=True))
        return out

    def write_runs(self, runs: list[_Run], size: float, base_bold: bool = False) -> None:
        pdf, height = self.pdf, self.line_height(size)
        for run in runs:
            style = ("B" if run.bold or base_bold else "") + ("I" if run.italic else "")
            if run.mono:
                pdf.set_font(self.fonts.mono, "", size - 1)
            else:
                pdf.set_font(self.fonts.sans, style, size)
            if run.link:
                pdf.set_text_color(*LINK)
            pdf.write(height, self.fonts.clean(run.text, run.mono), link=run.link)
            if run.link:
                pdf.set_text_color(*(GREY if self.quote else (0, 0, 0)))
        pdf.ln(height)

    # -- blocks ---------------------------------------------------------------------------

    def heading(self, level: int, inline: Token) -> None:
        size = HEADING_PT.get(level, BODY_PT + 0.5)
        if self.pdf.y + 25 > self.pdf.page_break_trigger:  # no heading alone at a page's foot
            self.pdf.add_page()
        self.start_block(5.0 if level <= 2 else 3.0)
        self.write_runs(self.runs(inline), size, base_bold=True)
        if level <= 2:
            pdf = self.pdf
            pdf.set_draw_color(*RULE)
            pdf.line(self.indent, pdf.y + 0.5, pdf.w - pdf.r_margin, pdf.y + 0.5)
            pdf.ln(1.5)

    def paragraph(self, inline: Token, tight: bool) -> None:
        self.start_block(1.0 if tight else 2.0)
        self.write_runs(self.runs(inline), BODY_PT)

    def code(self, text: str) -> None:
        self.start_block()
        pdf = self.pdf
        pdf.set_font(self.fonts.mono, "", CODE_PT)
        pdf.set_fill_color(238, 241, 245)
        pdf.multi_cell(
            0,
            self.line_height(CODE_PT),
            self.fonts.clean(text.rstrip("\n"), mono=True),
            fill=True,
            new_x="LMARGIN",
            new_y="NEXT",
        )

    def rule(self) -> None:
        self.start_block(3.0)
        pdf = self.pdf
        pdf.set_draw_color(*RULE)
        pdf.line(self.indent, pdf.y, pdf.w - pdf.r_margin, pdf.y)
        pdf.ln(2)

    def table(self, tokens: list[Token]) -> None:
        rows: list[list[list[_Run]]] = []
        head = False
        for i, tok in enumerate(tokens):
            if tok.type == "tr_open":
                rows.append([])
            elif tok.type == "thead_open":
                head = True
            elif tok.type in ("th_open", "td_open"):
                inline = tokens[i + 1]
                rows[-1].append(self.runs(inline) if inline.type == "inline" else [])
        if not rows or not rows[0]:
            return
        self.start_block(2.0)
        columns = max(len(r) for r in rows)
        texts = [["".join(run.text for run in cell) for cell in row] for row in rows]
        weights = [
            min(max((len(t[c]) if c < len(t) else 0) for t in texts), 60) + 6
            for c in range(columns)
        ]
        pdf = self.pdf
        pdf.set_font(self.fonts.sans, "", TABLE_PT)
        pdf.set_draw_color(*RULE)
        bold = FontFace(emphasis="BOLD")
        with pdf.table(
            width=pdf.w - pdf.r_margin - self.indent,
            align="LEFT",
            col_widths=tuple(weights),
            first_row_as_headings=head,
            headings_style=FontFace(emphasis="BOLD", fill_color=(238, 241, 245)),
            line_height=self.line_height(TABLE_PT),
            text_align="LEFT",
            padding=(0.8, 1.2),
        ) as table:
            for row, text_row in zip(rows, texts, strict=True):
                line = table.row()
                for c in range(columns):
                    cell = row[c] if c < len(row) else []
                    strong = bool(cell) and all(r.bold or not r.text.strip() for r in cell)
                    text = self.fonts.clean(text_row[c] if c < len(text_row) else "")
                    line.cell(text, style=bold if strong else None)

    def item_open(self) -> None:
        ordered = self.lists[-1]
        if ordered[0]:
            self.marker = f"{ordered[1]}."
            ordered[1] += 1
        else:
            self.marker = "•" if len(self.lists) % 2 else "–"

    def render(self, tokens: list[Token]) -> None:
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            kind = tok.type
            if kind == "heading_open":
                self.heading(int(tok.tag[1:]), tokens[i + 1])
                i += 3
                continue
            if kind == "paragraph_open":
                self.paragraph(tokens[i + 1], tok.hidden)
                i += 3
                continue
            if kind == "table_open":
                end = next(j for j in range(i, len(tokens)) if tokens[j].type == "table_close")
                self.table(tokens[i : end + 1])
                i = end + 1
                continue
            if kind == "bullet_list_open":
                self.lists.append([False, 1])
            elif kind == "ordered_list_open":
                self.lists.append([True, int(tok.attrGet("start") or 1)])
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
                self.pdf.set_left_margin(self.indent)
            elif kind == "list_item_open":
                self.item_open()
            elif kind == "list_item_close" and self.marker:  # an empty item: its marker only
                self.start_block(1.0)
                self.pdf.ln(self.line_height(BODY_PT))
            elif kind in ("fence", "code_block"):
                self.code(tok.content)
            elif kind == "blockquote_open":
                self.quote += 1
                self.pdf.set_text_color(*GREY)
            elif kind == "blockquote_close":
                self.quote -= 1
                self.pdf.set_text_color(*(GREY if self.quote else (0, 0, 0)))
                self.pdf.set_left_margin(self.indent)
            elif kind == "hr":
                self.rule()
            i += 1


def markdown_to_pdf(
    text: str,
    *,
    title: str,
    footer: str = "",
    compress: bool = True,
    fonts_dir: Path | None = DEJAVU_DIR,
) -> bytes:
    """Return ``text`` (Markdown) rendered as an A4 PDF whose document title is ``title``;
    ``footer`` is printed at the bottom of each page with the page number."""
    pdf = _Pdf(footer)
    pdf.set_compression(compress)
    fonts = load_fonts(pdf, fonts_dir)
    pdf.fonts_used = fonts
    pdf.set_title(title)
    pdf.set_creator("Watchkeeper")
    pdf.add_page()
    _Renderer(pdf, fonts).render(_md.parse(text))
    return pdf_bytes(pdf)
