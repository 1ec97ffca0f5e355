"""Probe a TLS endpoint's server-side configuration: which protocol versions and which weak
cipher suites it accepts, its certificate's key, and its HSTS header.

Each probe offers one thing only and sees whether the server takes it. The legacy versions
(SSL 3.0, TLS 1.0, 1.1) and the weak suites are offered with a hand-built ClientHello
(``client_hello.py``), so that the verdict does not depend on what the local OpenSSL can
still speak (OpenSSL 3 has no RC4, DES, 3DES or EXPORT suites, and often no TLS 1.0); TLS
1.2 and 1.3 and the certificate come from real handshakes. Certificates are not verified
here: the health checks judge trust; this audits configuration.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from watchkeeper.security.hardening import client_hello
from watchkeeper.security.hardening.interface import CheckError, Endpoint

MODERN: tuple[tuple[str, ssl.TLSVersion], ...] = (
    ("TLS 1.2", ssl.TLSVersion.TLSv1_2),
    ("TLS 1.3", ssl.TLSVersion.TLSv1_3),
)
LEGACY_VERSIONS: tuple[tuple[str, int], ...] = (
    ("SSL 3.0", client_hello.SSL3),
    ("TLS 1.0", client_hello.TLS10),
    ("TLS 1.1", client_hello.TLS11),
)
LEGACY = frozenset(label for label, _ in LEGACY_VERSIONS)
WEAK_SUITES: tuple[tuple[str, dict[int, str]], ...] = (
    (
        "NULL (no encryption)",
        {
            0x0001: "RSA_WITH_NULL_MD5",
            0x0002: "RSA_WITH_NULL_SHA",
            0x003B: "RSA_WITH_NULL_SHA256",
            0xC001: "ECDH_ECDSA_WITH_NULL_SHA",
            0xC006: "ECDHE_ECDSA_WITH_NULL_SHA",
            0xC00B: "ECDH_RSA_WITH_NULL_SHA",
            0xC010: "ECDHE_RSA_WITH_NULL_SHA",
            0xC015: "ECDH_anon_WITH_NULL_SHA",
        },
    ),
    (
        "anonymous (no authentication)",
        {
            0x0018: "DH_anon_WITH_RC4_128_MD5",
            0x001A: "DH_anon_WITH_DES_CBC_SHA",
            0x001B: "DH_anon_WITH_3DES_EDE_CBC_SHA",
            0x0034: "DH_anon_WITH_AES_128_CBC_SHA",
            0x003A: "DH_anon_WITH_AES_256_CBC_SHA",
            0x0046: "DH_anon_WITH_CAMELLIA_128_CBC_SHA",
            0x006C: "DH_anon_WITH_AES_128_CBC_SHA256",
            0x006D: "DH_anon_WITH_AES_256_CBC_SHA256",
            0x0089: "DH_anon_WITH_CAMELLIA_256_CBC_SHA",
            0x00A6: "DH_anon_WITH_AES_128_GCM_SHA256",
            0x00A7: "DH_anon_WITH_AES_256_GCM_SHA384",
            0xC016: "ECDH_anon_WITH_RC4_128_SHA",
            0xC017: "ECDH_anon_WITH_3DES_EDE_CBC_SHA",
            0xC018: "ECDH_anon_WITH_AES_128_CBC_SHA",
            0xC019: "ECDH_anon_WITH_AES_256_CBC_SHA",
        },
    ),
    (
        "EXPORT",
        {
            0x0003: "RSA_EXPORT_WITH_RC4_40_MD5",
            0x0006: "RSA_EXPORT_WITH_RC2_CBC_40_MD5",
            0x0008: "RSA_EXPORT_WITH_DES40_CBC_SHA",
            0x000B: "DH_DSS_EXPORT_WITH_DES40_CBC_SHA",
            0x000E: "DH_RSA_EXPORT_WITH_DES40_CBC_SHA",
            0x0011: "DHE_DSS_EXPORT_WITH_DES40_CBC_SHA",
            0x0014: "DHE_RSA_EXPORT_WITH_DES40_CBC_SHA",
            0x0017: "DH_anon_EXPORT_WITH_RC4_40_MD5",
            0x0019: "DH_anon_EXPORT_WITH_DES40_CBC_SHA",
            0x0062: "RSA_EXPORT1024_WITH_DES_CBC_SHA",
            0x0064: "RSA_EXPORT1024_WITH_RC4_56_SHA",
        },
    ),
    (
        "RC4",
        {
            0x0004: "RSA_WITH_RC4_128_MD5",
            0x0005: "RSA_WITH_RC4_128_SHA",
            0x0066: "DHE_DSS_WITH_RC4_128_SHA",
            0xC002: "ECDH_ECDSA_WITH_RC4_128_SHA",
            0xC007: "ECDHE_ECDSA_WITH_RC4_128_SHA",
            0xC00C: "ECDH_RSA_WITH_RC4_128_SHA",
            0xC011: "ECDHE_RSA_WITH_RC4_128_SHA",
        },
    ),
    (
        "DES",
        {
            0x0009: "RSA_WITH_DES_CBC_SHA",
            0x000C: "DH_DSS_WITH_DES_CBC_SHA",
            0x000F: "DH_RSA_WITH_DES_CBC_SHA",
            0x0012: "DHE_DSS_WITH_DES_CBC_SHA",
            0x0015: "DHE_RSA_WITH_DES_CBC_SHA",
        },
    ),
    (
        "3DES",
        {
            0x000A: "RSA_WITH_3DES_EDE_CBC_SHA",
            0x000D: "DH_DSS_WITH_3DES_EDE_CBC_SHA",
            0x0010: "DH_RSA_WITH_3DES_EDE_CBC_SHA",
            0x0013: "DHE_DSS_WITH_3DES_EDE_CBC_SHA",
            0x0016: "DHE_RSA_WITH_3DES_EDE_CBC_SHA",
            0xC003: "ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA",
            0xC008: "ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
            0xC00D: "ECDH_RSA_WITH_3DES_EDE_CBC_SHA",
            0xC012: "ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        },
    ),
)
"""Weak classes of TLS ≤ 1.2 suites: their IANA ids and names (without ``TLS_``)."""
LEGACY_OFFER: tuple[int, ...] = (
    0xC02B, 0xC02F, 0xC02C, 0xC030, 0x009E, 0x009F, 0x009C, 0x009D,  # GCM (a 1.2 server)
    0xC009, 0xC00A, 0xC013, 0xC014, 0x0032, 0x0033, 0x0038, 0x0039,  # (EC)DHE AES-CBC
    0x002F, 0x0035, 0x0041, 0x0045, 0x0084, 0x0088, 0x0096, 0x009A,  # RSA, Camellia, SEED
    *(suite for _, suites in WEAK_SUITES for suite in suites),
)  # fmt: skip
"""Every suite a TLS 1.0/1.1 or SSL 3.0 server might take, weak ones included: asked about
a version, the server must not refuse for want of a suite."""
HSTS_MIN_AGE = 180 * 86400
_LOCAL_LIMITS = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "UNSUPPORTED_PROTOCOL")


class Untestable(Exception):
    """The local TLS library cannot offer what the probe needs."""


@dataclass(frozen=True)
class Handshake:
    version: str
    cipher: str
    certificate: bytes | None


def _context(ciphers: str | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        context.set_ciphers(f"{ciphers or 'ALL:!aNULL:!eNULL'}:@SECLEVEL=0")
    except ssl.SSLError:
        raise Untestable(ciphers or "ALL") from None
    return context


def handshake(
    endpoint: Endpoint,
    timeout: float,
    *,
    low: ssl.TLSVersion | None = None,
    high: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
) -> Handshake | None:
    """Connect offering only versions ``low``..``high`` and the suites ``ciphers``; return
    what was agreed, or None when the server refused. Raise Untestable when the local
    library cannot offer that, CheckError when the endpoint cannot be reached."""
    return _connect(endpoint, timeout, _context(ciphers), low, high)


def _connect(
    endpoint: Endpoint,
    timeout: float,
    context: ssl.SSLContext,
    low: ssl.TLSVersion | None,
    high: ssl.TLSVersion | None,
) -> Handshake | None:
    try:
        if low is not None:
            context.minimum_version = low
        if high is not None:
            context.maximum_version = high
    except (ValueError, ssl.SSLError):
        raise Untestable(str(low or high)) from None
    try:
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise CheckError(f"cannot connect to {endpoint.host}:{endpoint.port}: {reason}") from None
    try:
        with context.wrap_socket(raw, server_hostname=endpoint.sni) as tls:
            cipher = tls.cipher()
            return Handshake(
                tls.version() or "", cipher[0] if cipher else "", tls.getpeercert(binary_form=True)
            )
    except ssl.SSLError as exc:
        if any(limit in str(exc) for limit in _LOCAL_LIMITS) and "alert" not in str(exc):
            raise Untestable(str(exc)) from None
        return None  # the server refused (an alert, or no shared suite)
    except TimeoutError:
        raise CheckError(
            f"{endpoint.host}:{endpoint.port} did not complete a handshake in {timeout:g} s"
        ) from None
    except OSError:
        return None  # reset or closed mid-handshake: what servers do with what they refuse
    finally:
        raw.close()


def accepted_protocols(
    endpoint: Endpoint, timeout: float
) -> tuple[list[str], list[str], list[str]]:
    """Return (versions the server accepts, versions it refuses, versions that could not be
    offered from here), oldest first. The legacy ones are offered on the wire; TLS 1.2 and
    1.3 by the local library."""
    accepted: list[str] = []
    refused: list[str] = []
    untested: list[str] = []
    for label, wire in LEGACY_VERSIONS:
        answer = client_hello.offer(endpoint, timeout, wire, LEGACY_OFFER)
        (accepted if answer is not None and answer[0] == wire else refused).append(label)
    for label, version in MODERN:
        try:
            agreed = handshake(endpoint, timeout, low=version, high=version)
        except Untestable:
            untested.append(label)
            continue
        (accepted if agreed is not None else refused).append(label)
    return accepted, refused, untested


def accepted_weak_suites(endpoint: Endpoint, timeout: float) -> tuple[list[str], list[str]]:
    """Return (weak classes accepted, with the suite the server picked; classes refused):
    each class offered alone, on the wire, up to TLS 1.2."""
    accepted: list[str] = []
    refused: list[str] = []
    for label, suites in WEAK_SUITES:
        answer = client_hello.offer(endpoint, timeout, client_hello.TLS12, tuple(suites))
        if answer is None:
            refused.append(label)
        elif answer[1] in suites:
            accepted.append(f"{label}: TLS_{suites[answer[1]]}")
        else:
            raise CheckError(
                f"{endpoint.host}:{endpoint.port} picked suite 0x{answer[1]:04X}, which was "
                "not offered"
            )
    return accepted, refused


def certificate(endpoint: Endpoint, timeout: float) -> x509.Certificate:
    """The certificate the endpoint presents; raise CheckError when it presents none."""
    agreed = handshake(endpoint, timeout)
    if agreed is None or not agreed.certificate:
        raise CheckError(f"{endpoint.host}:{endpoint.port} presented no certificate")
    return x509.load_der_x509_certificate(agreed.certificate)


def key_strength(cert: x509.Certificate) -> tuple[str, bool]:
    """Return (the key, e.g. "RSA 2048 bits", and whether it is too weak: RSA or DSA under
    2048 bits, elliptic curves under 256)."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size} bits", key.key_size < 2048
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name} ({key.curve.key_size} bits)", key.curve.key_size < 256
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size} bits", key.key_size < 2048
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", False
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", False
    raise CheckError(f"unknown key type {type(key).__name__}")


def hsts(url: str, timeout: float) -> tuple[int, str | None]:
    """GET ``url`` (credentials left out, redirects not followed); return the status and
    its ``Strict-Transport-Security`` header. Raise CheckError when it cannot be fetched (the
    message names the origin only: a path can hold a secret)."""
    target = httpx.URL(url).copy_with(username=None, password=None)
    try:
        with httpx.Client(verify=False, timeout=timeout, follow_redirects=False) as client:
            response = client.get(target, headers={"User-Agent": "Watchkeeper hardening audit"})
    except httpx.HTTPError as exc:
        origin = f"{target.scheme}://{target.netloc.decode()}"
        raise CheckError(f"cannot fetch {origin}: {type(exc).__name__}: {exc}") from None
    return response.status_code, response.headers.get("strict-transport-security")


def hsts_max_age(header: str) -> int | None:
    found = re.search(r"(?i)max-age\s*=\s*\"?(\d+)", header)
    return int(found.group(1)) if found else None
