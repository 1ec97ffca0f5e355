"""A self-contained HTML page around a rendered document: its CSS inline (light and dark,
print-friendly), no script, no external resource; readable from a USB stick with any
browser while the server is down.

The body is HTML from the safe Markdown renderer (raw HTML escaped); only the title and
the navigation are put in here, escaped.
"""

from __future__ import annotations

from markupsafe import Markup, escape

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""For a page served by the API: its inline CSS, its images, nothing else."""

CSS = """
:root{--bg:#fff;--text:#1b2330;--muted:#5d6b7e;--border:#d8dee7;--code:#eef1f5;--accent:#2563eb}
@media (prefers-color-scheme:dark){:root{--bg:#0f141b;--text:#e4e9f0;--muted:#93a1b3;
--border:#2b3644;--code:#1e2733;--accent:#60a5fa}}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--text);
font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
body{margin:0 auto;padding:1.2rem 1.5rem 3rem;max-width:1180px}
nav{display:flex;gap:1rem;flex-wrap:wrap;padding:.4rem 0 .8rem;
border-bottom:1px solid var(--border);margin-bottom:1.2rem;font-size:.92rem}
a{color:var(--accent)}
h1{font-size:1.6rem;margin:.4rem 0 .6rem}h2{font-size:1.2rem;margin:1.8rem 0 .6rem}
h3{font-size:1.05rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;margin:.6rem 0;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid var(--border);padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:var(--code);font-size:.85rem}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:.9em}
code{background:var(--code);padding:.05em .3em;border-radius:4px}
pre{background:var(--code);padding:.8rem 1rem;border-radius:6px;overflow-x:auto}
pre code{background:none;padding:0}
img{max-width:100%;height:auto}
hr{border:none;border-top:2px solid var(--border);margin:2.4rem 0}
.meta,footer{color:var(--muted);font-size:.85rem}
footer{margin-top:3rem;border-top:1px solid var(--border);padding-top:.6rem}
ul.docs li{margin:.4rem 0}
@media print{nav{display:none}body{max-width:none;padding:0}
pre,table{page-break-inside:avoid}a{color:inherit}}
"""


def html_page(
    title: str,
    body: Markup | str,
    *,
    nav: list[tuple[str, str]] | None = None,
    footer: str = "",
) -> str:
    """Return a whole HTML document: ``body`` (safe HTML) under ``nav`` links (label, href),
    ``footer`` as text."""
    links = "".join(f'<a href="{escape(href)}">{escape(label)}</a>' for label, href in nav or [])
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + (f"<nav>{links}</nav>\n" if links else "")
        + f"<main>\n{body}\n</main>\n"
        + (f"<footer>{escape(footer)}</footer>\n" if footer else "")
        + "</body>\n</html>\n"
    )
