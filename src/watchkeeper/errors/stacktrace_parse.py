"""Read Python and Java stack traces out of log text into Sentry-shaped exceptions.

:func:`parse_stacktrace` returns the exceptions of a trace in Sentry's order (the oldest
cause first, the raised one last), each with its frames in Sentry's order (the outermost
call first): ``{"type", "value", "module", "stacktrace": {"frames": [...]}}``, a frame being
``{"module", "function", "filename", "abs_path", "lineno", "context_line", "in_app"}``.

- Python: ``Traceback (most recent call last):`` blocks, chained by "During handling of the
  above exception ..." / "The above exception was the direct cause ..."; a frame's module is
  the dotted path under ``site-packages``/``dist-packages`` (library code, not in-app), and
  for application code the file path without ``.py`` from its last ``src``/``app`` folder
  (or the file name), so the same code groups alike whatever directory it is deployed in.
- Java (and Kotlin/Scala on the JVM): the ``pkg.Type: message`` line before the first
  ``\\tat`` line, ``Caused by:`` chains, ``... N more`` ignored; a frame's module is the
  class, its function the method; ``java.``/``javax.``/``jdk.``/``sun.``/``kotlin.``/``scala.``
  and common framework packages are not in-app.

Nothing here raises on odd text: what cannot be read is left out (no trace: an empty list).
"""

from __future__ import annotations

import re
from typing import Any

PYTHON_START = "Traceback (most recent call last):"
JAVA_START = "Exception in thread "
JAVA_FRAME = "\tat "
MAX_FRAMES = 250

_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
_PY_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<value>.*))?$")
_PY_CHAIN = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_PY_LIBRARY = re.compile(r"[/\\](?:site|dist)-packages[/\\]")
_PY_STDLIB = re.compile(r"[/\\]lib[/\\]python\d[\d.]*[/\\]")
_PY_APP_ROOT = re.compile(r"^(?:.*[/\\])?(?:src|app|lib)[/\\]")
_JAVA_FRAME = re.compile(
    r"^\s*at (?:[\w.$-]+/)*(?P<where>[\w.$<>]+)\.(?P<method>[\w$<>-]+)"
    r"\((?P<file>[^:()]*)(?::(?P<line>\d+))?\)"
)
_JAVA_EXCEPTION = re.compile(
    r"^(?:Caused by: |Exception in thread \"[^\"]*\" )?"
    r"(?P<type>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+)(?::\s?(?P<value>.*))?$"
)
_JAVA_LIBRARY = (
    "java.",
    "javax.",
    "jakarta.",
    "jdk.",
    "sun.",
    "com.sun.",
    "kotlin.",
    "kotlinx.",
    "scala.",
    "org.springframework.",
    "org.apache.",
    "org.eclipse.jetty.",
    "io.netty.",
    "org.hibernate.",
    "reactor.",
)


def looks_like_trace(text: str) -> bool:
    """Return whether ``text`` may hold a trace (a cheap test before :func:`parse_stacktrace`)."""
    return PYTHON_START in text or JAVA_FRAME in text or JAVA_START in text


def parse_stacktrace(text: str) -> list[dict[str, Any]]:
    """Return the exceptions of the Python or Java trace in ``text`` (see the module)."""
    if PYTHON_START in text:
        return _python(text.splitlines())
    if JAVA_FRAME in text or JAVA_START in text:
        return _java(text.splitlines())
    return []


def first_line_before(text: str, marker: str) -> str:
    """Return the text before ``marker`` (its last non-empty line), e.g. the log message
    that announced the trace; "" when there is none."""
    head = text.split(marker, 1)[0]
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- Python ---------------------------------------------------------------------------------


def _python(lines: list[str]) -> list[dict[str, Any]]:
    exceptions: list[dict[str, Any]] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != PYTHON_START:
            index += 1
            continue
        exc, index = _python_block(lines, index + 1)
        if exc is not None:
            exceptions.append(exc)
    return exceptions


def _python_block(lines: list[str], index: int) -> tuple[dict[str, Any] | None, int]:
    frames: list[dict[str, Any]] = []
    while index < len(lines):
        line = lines[index]
        match = _PY_FRAME.match(line)
        if match:
            frames.append(_python_frame(match))
            index += 1
            # The source line shown under the frame, then 3.11's ^^^^ markers.
            if (
                index < len(lines)
                and lines[index].startswith("    ")
                and not _PY_FRAME.match(lines[index])
            ):
                frames[-1]["context_line"] = lines[index].strip()
                index += 1
            while (
                index < len(lines)
                and set(lines[index].strip()) <= set("^~ ")
                and lines[index].strip()
            ):
                index += 1
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith(("[Previous line repeated", "...")):
            index += 1
            continue
        if line.startswith(" "):  # a continuation we do not read (e.g. a notes line)
            index += 1
            continue
        match = _PY_EXCEPTION.match(stripped)
        if not match:
            return None, index + 1
        value = match.group("value") or ""
        index += 1
        # A multi-line message runs until a blank line, a chain sentence or another trace.
        while index < len(lines):
            more = lines[index]
            if not more.strip() or more.strip() in _PY_CHAIN or more.strip() == PYTHON_START:
                break
            value += "\n" + more
            index += 1
        return _exception(match.group("type"), value, frames[-MAX_FRAMES:]), index
    return None, index


def _python_frame(match: re.Match[str]) -> dict[str, Any]:
    path = match.group("path")
    library = bool(_PY_LIBRARY.search(path) or _PY_STDLIB.search(path))
    frame: dict[str, Any] = {
        "filename": path.replace("\\", "/").rsplit("/", 1)[-1],
        "abs_path": path,
        "function": (match.group("func") or "").strip() or "<module>",
        "lineno": int(match.group("line")),
        "in_app": not library and not path.startswith("<"),
    }
    module = _python_module(path)
    if module:
        frame["module"] = module
    return frame


def _python_module(path: str) -> str:
    if path.startswith("<"):
        return ""
    for pattern in (_PY_LIBRARY, _PY_STDLIB):
        parts = pattern.split(path)
        if len(parts) > 1:
            return _dotted(parts[-1])
    return _dotted(_PY_APP_ROOT.sub("", path))


def _dotted(relative: str) -> str:
    relative = relative.replace("\\", "/").lstrip("/")
    if relative.endswith(".py"):
        relative = relative[:-3]
    if relative.endswith("/__init__"):
        relative = relative[: -len("/__init__")]
    return relative.replace("/", ".")


# --- Java -----------------------------------------------------------------------------------


def _java(lines: list[str]) -> list[dict[str, Any]]:
    # Each exception of the chain: its header line, then its frames (innermost first).
    chain: list[tuple[str, str, list[dict[str, Any]]]] = []
    current: tuple[str, str, list[dict[str, Any]]] | None = None
    previous = ""
    for line in lines:
        stripped = line.strip()
        frame = _JAVA_FRAME.match(line) if stripped.startswith("at ") else None
        if frame:
            if current is None:
                header = _JAVA_EXCEPTION.match(previous)
                if header is None:
                    current = ("Exception", previous, [])
                else:
                    current = (header.group("type"), header.group("value") or "", [])
                chain.append(current)
            current[2].append(_java_frame(frame))
        elif stripped.startswith("Caused by: ") or stripped.startswith("Exception in thread "):
            header = _JAVA_EXCEPTION.match(stripped)
            current = None
            if header is not None:
                current = (header.group("type"), header.group("value") or "", [])
                chain.append(current)
        elif stripped.startswith("...") and stripped.endswith("more"):
            continue
        elif stripped.startswith("Suppressed: "):
            current = None  # suppressed exceptions are not part of the cause chain
            previous = ""
            continue
        previous = stripped
    # Java prints the raised exception first and its causes after; Sentry wants the
    # oldest cause first, and each stack outermost call first.
    return [
        _exception(kind, value, list(reversed(frames))[-MAX_FRAMES:])
        for kind, value, frames in reversed(chain)
    ]


def _java_frame(match: re.Match[str]) -> dict[str, Any]:
    where = match.group("where")
    frame: dict[str, Any] = {
        "module": where,
        "function": match.group("method"),
        "filename": match.group("file") or "",
        "in_app": not where.startswith(_JAVA_LIBRARY),
    }
    if match.group("line"):
        frame["lineno"] = int(match.group("line"))
    return frame


def _exception(kind: str, value: str, frames: list[dict[str, Any]]) -> dict[str, Any]:
    module, _, name = kind.rpartition(".")
    exc: dict[str, Any] = {"type": name or kind, "value": value.strip()}
    if module:
        exc["module"] = module
    if frames:
        exc["stacktrace"] = {"frames": frames}
    return exc
