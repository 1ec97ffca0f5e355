"""TLS contexts for HTTP checks that trust a private CA or present a client certificate."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from watchkeeper.exceptions import WatchkeeperError

_Files = tuple[str | None, str | None, str | None]


class TlsFileError(WatchkeeperError):
    """A CA, certificate or key file cannot be used; the message names the file and why."""


class TlsContexts:
    """One SSL context per set of files, rebuilt when a file changes on disk.

    Building a context reads the system's CA store (milliseconds), and aiohttp pools
    connections per context, so a context made afresh for every run would cost both time and
    keep-alive. Checking the files' modification times each run still picks up a renewed
    certificate without a restart.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[bool, _Files], tuple[tuple[object, ...], ssl.SSLContext]] = {}

    def get(
        self,
        verify: bool,
        ca_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
    ) -> ssl.SSLContext | bool:
        """Return the context for these files, or ``verify`` itself when there are none
        (aiohttp then uses its default context); raise TlsFileError if a file is unusable."""
        if ca_file is None and client_cert is None:
            return verify
        files: _Files = (ca_file, client_cert, client_key)
        stamps = tuple(_modified(path) for path in files)
        cached = self._cache.get((verify, files))
        if cached is not None and cached[0] == stamps:
            return cached[1]
        context = _build(verify, *files)
        self._cache[(verify, files)] = (stamps, context)
        return context


def _modified(path: str | None) -> tuple[int, int, int] | None:
    """Return what changes when a file is rewritten or replaced (mtime, size, inode)."""
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None  # _build reports why
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _build(
    verify: bool, ca_file: str | None, client_cert: str | None, client_key: str | None
) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsFileError(f"cannot load ca_file {ca_file}: {_reason(exc)}") from exc
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        try:
            context.load_cert_chain(client_cert, client_key, password=_no_password)
        except (OSError, ssl.SSLError) as exc:
            raise TlsFileError(
                f"cannot load client_cert: {_diagnose(client_cert, client_key)}"
            ) from exc
    return context


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key's
    # passphrase, blocking the server; an empty answer makes loading fail instead.
    return b""


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).lower().replace("_", " ")
    return exc.strerror or str(exc)


def _diagnose(cert: str, key: str | None) -> str:
    """Say why a certificate and key were refused: OpenSSL's own reason is often just
    "PEM lib", which tells a person nothing."""
    key_file = key or cert
    try:
        cert_pem = Path(cert).read_bytes()
        key_pem = Path(key_file).read_bytes()
    except OSError as exc:
        return f"{exc.filename}: {exc.strerror}"
    try:
        x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return f"{cert} holds no PEM certificate"
    try:
        load_pem_private_key(key_pem, password=None)
    except TypeError:
        return f"the key in {key_file} is encrypted; give an unencrypted key"
    except ValueError:
        hint = "" if key else " (give its key file as client_key)"
        return f"{key_file} holds no PEM private key{hint}"
    return f"the key in {key_file} does not belong to the certificate in {cert}"
