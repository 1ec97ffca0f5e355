"""TLS for Watchkeeper's own listener: check the configured certificate and key
(``WATCHKEEPER_TLS_CERT_FILE``, ``WATCHKEEPER_TLS_KEY_FILE``) before serving, and make a
self-signed pair on request (``watchkeeper tls self-signed``) for a first start or a
private network.

A self-signed certificate encrypts the traffic but proves nothing about the server: browsers
warn until it is trusted on each client. Behind a reverse proxy, or with a certificate from
the organisation's CA or Let's Encrypt, point the two variables at those files instead.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from watchkeeper.exceptions import ConfigError

TLS_DIR = "tls"
CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
MAX_DAYS = 3650


@dataclass(frozen=True)
class CertificateInfo:
    """What is shown about a certificate: its names, expiry and SHA-256 fingerprint."""

    path: Path
    names: tuple[str, ...]
    not_after: datetime
    fingerprint: str
    certificate: x509.Certificate


def describe(path: Path, cert: x509.Certificate) -> CertificateInfo:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(
            [str(n) for n in san.get_values_for_type(x509.DNSName)]
            + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        )
    except x509.ExtensionNotFound:
        names = tuple(
            str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        )
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    return CertificateInfo(path, names, cert.not_valid_after_utc, fingerprint, cert)


def check_files(certfile: str, keyfile: str) -> CertificateInfo:
    """Return the certificate's description when the pair can be served; raise ConfigError
    naming the variable and file otherwise (missing, unreadable, not PEM, not a pair)."""
    for variable, name in (
        ("WATCHKEEPER_TLS_CERT_FILE", certfile),
        ("WATCHKEEPER_TLS_KEY_FILE", keyfile),
    ):
        try:
            with open(name, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(f"{variable}: cannot read {name}: {exc.strerror or exc}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        if "KEY_TOO_SMALL" in reason.upper():
            raise ConfigError(
                f"cannot use the certificate {certfile}: the key is too small for this "
                "system's TLS library"
            ) from None
        if "MISMATCH" in reason.upper():
            raise ConfigError(
                f"WATCHKEEPER_TLS_KEY_FILE: {keyfile} is not the key of the certificate "
                f"in {certfile}"
            ) from None
        raise ConfigError(
            f"cannot use the certificate {certfile} with the key {keyfile}: {reason} "
            "(both must be PEM; the key unencrypted)"
        ) from None
    cert = x509.load_pem_x509_certificate(Path(certfile).read_bytes())
    return describe(Path(certfile), cert)


def default_names() -> list[str]:
    """The names a certificate for this machine answers to by default."""
    names = ["localhost", "127.0.0.1", "::1"]
    hostname = socket.gethostname()
    if hostname and hostname not in names:
        names.insert(1, hostname)
    return names


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _check_name(name: str) -> None:
    try:
        ipaddress.ip_address(name)
        return
    except ValueError:
        pass
    labels = name.removeprefix("*.").split(".")
    if (
        not name
        or len(name) > 253
        or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels
        )
    ):
        raise ConfigError(f'--host "{name}" is not a DNS name or an IP address')


def write_self_signed(
    directory: Path, names: list[str], days: int, *, force: bool = False
) -> CertificateInfo:
    """Write a self-signed certificate for ``names`` (an EC P-256 key, valid ``days``) to
    ``directory``/cert.pem and its key to key.pem (mode 0600, the directory 0700); return
    its description. Raise ConfigError for a bad name or day count, or when the files exist
    and ``force`` is not given."""
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"--days {days} is out of range 1-{MAX_DAYS}")
    if not names:
        raise ConfigError("give at least one --host")
    for name in names:
        _check_name(name)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if not force and (cert_path.exists() or key_path.exists()):
        raise ConfigError(f"{cert_path} or {key_path} exists already; give --force to replace them")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    # The data directory too, when this makes it: mkdir's parents get the umask's mode.
    directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    _write(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return describe(cert_path, cert)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a new file created with ``mode`` (never readable by others, not even
    for a moment), then move it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)  # the umask may have taken bits away
    os.replace(tmp, path)
