"""Getting an OSV dump onto this machine: a file on the server (hashed while it is read) or
a mirror URL (streamed to a temporary file, asked conditionally with the ETag and
Last-Modified the last import kept). Either way the dump's SHA-256 is known, so an
unchanged dump is recognised even when the mirror ignores conditional requests.

The mirror URL is a secret (it may hold a token): it is never logged, never put in an
error message, and is masked in httpx's own request log lines (as ``<source mirror ***>``).

A dump larger than the limit the caller gives (``max_bytes``) is refused: a file by its
size before it is read, a download by its Content-Length or as soon as more arrived.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.logging_setup import MASK, SECRET_URLS

CHUNK = 1 << 20
READ_TIMEOUT = 60.0
"""Longest wait for one piece of the download (the import's own timeout bounds the whole)."""


class DumpError(WatchkeeperError):
    """The dump could not be had or read; the import fails and keeps the data it had."""


@dataclass(frozen=True)
class Fingerprint:
    """What identifies one version of a dump: its SHA-256 and, from a mirror, the ETag and
    Last-Modified headers to ask conditionally with next time."""

    sha256: str = ""
    etag: str = ""
    last_modified: str = ""

    def render(self) -> str:
        """As stored in ``osv_imports.fingerprint`` (at most 255 characters: an ETag too
        long to fit is left out, the SHA-256 still tells an unchanged dump)."""
        data = {"sha256": self.sha256, "etag": self.etag, "last_modified": self.last_modified}
        text = json.dumps({k: v for k, v in data.items() if v}, separators=(",", ":"))
        if len(text) > 255:
            text = json.dumps({"sha256": self.sha256}, separators=(",", ":"))
        return text

    @classmethod
    def parse(cls, text: str) -> Fingerprint:
        """Read a stored fingerprint (an empty or unreadable one is empty)."""
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls(
            str(data.get("sha256", "")),
            str(data.get("etag", "")),
            str(data.get("last_modified", "")),
        )


@dataclass(frozen=True)
class Fetched:
    """The dump to read (None when the mirror answered 304 Not Modified)."""

    path: Path | None
    fingerprint: Fingerprint


@dataclass(frozen=True)
class Budget:
    """How long an import may go on: until ``deadline`` (``time.monotonic()``) and while
    ``stop`` is not set (the server shutting down)."""

    name: str
    deadline: float
    stop: threading.Event | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise DumpError if the import must end now."""
        if self.stop is not None and self.stop.is_set():
            raise DumpError(f"{self.name}: stopped, the server is shutting down")
        if time.monotonic() > self.deadline:
            raise DumpError(f"{self.name}: the import took longer than the source's timeout")


def size_text(size: int) -> str:
    """``size`` bytes for people: ``4 GiB``, ``16 MiB``, ``300 bytes``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):.3g} {unit}"
    return f"{size} bytes"


def _too_large(name: str, max_bytes: int) -> DumpError:
    return DumpError(
        f"{name}: the dump is larger than {size_text(max_bytes)}, more than an import reads"
    )


def hash_file(path: Path, budget: Budget, max_bytes: int) -> Fingerprint:
    """The SHA-256 of the dump at ``path``; raise DumpError if it cannot be read or is
    larger than ``max_bytes``."""
    name = budget.name
    digest = hashlib.sha256()
    try:
        if path.stat().st_size > max_bytes:
            raise _too_large(name, max_bytes)
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                budget.check()
    except OSError as exc:
        raise DumpError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    return Fingerprint(sha256=digest.hexdigest())


def download(
    url: str,
    into: Path,
    previous: Fingerprint,
    budget: Budget,
    max_bytes: int,
    *,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """Download the dump at ``url`` into the file ``into``, asking conditionally with
    ``previous``; raise DumpError (naming the source, never the URL) if the mirror cannot
    be reached or does not answer 200 or 304, when the dump is larger than ``max_bytes``,
    or when the budget runs out."""
    name = budget.name
    headers = {"User-Agent": "Watchkeeper"}
    if previous.etag:
        headers["If-None-Match"] = previous.etag
    if previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    SECRET_URLS.add(url, f"<{name} mirror {MASK}>")
    digest = hashlib.sha256()
    try:
        timeout = httpx.Timeout(min(READ_TIMEOUT, max(1.0, budget.remaining())))
        with (
            httpx.Client(timeout=timeout, transport=transport, follow_redirects=True) as http,
            http.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code == 304:
                return Fetched(None, previous)
            if response.status_code != 200:
                raise DumpError(f"{name}: the mirror answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(name, max_bytes)
            received = 0
            with into.open("wb") as out:
                for chunk in response.iter_bytes(CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise _too_large(name, max_bytes)
                    out.write(chunk)
                    digest.update(chunk)
                    budget.check()
            return Fetched(
                into,
                Fingerprint(
                    sha256=digest.hexdigest(),
                    etag=response.headers.get("etag", ""),
                    last_modified=response.headers.get("last-modified", ""),
                ),
            )
    except httpx.HTTPError as exc:
        reason = SECRET_URLS.mask(str(exc)).replace(url, MASK) or type(exc).__name__
        raise DumpError(f"{name}: cannot download the dump from the mirror: {reason}") from None
    except OSError as exc:
        raise DumpError(f"{name}: cannot write the download: {exc.strerror or exc}") from None
    finally:
        SECRET_URLS.remove(url)
