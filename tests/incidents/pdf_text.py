"""Read the text back out of an uncompressed PDF that fpdf2 wrote: the strings shown by
``Tj``/``TJ``, decoded through each embedded font's ToUnicode map (DejaVu, 2-byte codes) or
as Latin-1 (the core fonts)."""

from __future__ import annotations

import re

_OBJECT = re.compile(rb"(\d+) 0 obj(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_LITERAL = rb"\((?:\\.|[^\\)])*\)"
_SHOW = re.compile(rb"/(F\d+)\s+[\d.]+\s+Tf|(" + _LITERAL + rb")\s*Tj|\[(.*?)\]\s*TJ", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape(literal: bytes) -> bytes:
    out, i, raw = bytearray(), 0, literal[1:-1]
    while i < len(raw):
        if raw[i : i + 1] != b"\\":
            out += raw[i : i + 1]
            i += 1
            continue
        octal = re.match(rb"[0-7]{1,3}", raw[i + 1 :])
        if octal:
            out.append(int(octal.group(), 8) & 0xFF)
            i += 1 + len(octal.group())
        else:
            nxt = raw[i + 1 : i + 2]
            out += _ESCAPES.get(nxt, nxt)
            i += 2
    return bytes(out)


def _stream(body: bytes) -> bytes:
    found = _STREAM.search(body)
    return found.group(1) if found else b""


def _unicode_maps(data: bytes, objects: dict[int, bytes]) -> dict[bytes, dict[int, str] | None]:
    maps: dict[bytes, dict[int, str] | None] = {}
    for ref in re.finditer(rb"/(F\d+) (\d+) 0 R", data):
        font = objects[int(ref.group(2))]
        to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", font)
        if to_unicode is None:
            maps[ref.group(1)] = None
            continue
        cmap = _stream(objects[int(to_unicode.group(1))]).split(b"beginbfchar", 1)[-1]
        maps[ref.group(1)] = {
            int(src, 16): bytes.fromhex(dst.decode()).decode("utf-16-be")
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", cmap)
        }
    return maps


def pdf_text(data: bytes) -> list[str]:
    """Every string the pages show, in order (one per text-showing operator)."""
    objects = {int(m.group(1)): m.group(2) for m in _OBJECT.finditer(data)}
    maps = _unicode_maps(data, objects)
    shown: list[str] = []
    font: dict[int, str] | None = None
    pages = [int(n) for n in re.findall(rb"/Contents (\d+) 0 R", data)]
    for number in pages:
        content = _stream(objects[number])
        for op in _SHOW.finditer(content):
            if op.group(1):
                font = maps.get(op.group(1))
                continue
            parts = [op.group(2)] if op.group(2) else re.findall(_LITERAL, op.group(3))
            raw = b"".join(_unescape(p) for p in parts)
            if font is None:
                shown.append(raw.decode("latin-1"))
            else:
                codes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw) - 1, 2)]
                shown.append("".join(font.get(c, "\ufffd") for c in codes))
    return shown
