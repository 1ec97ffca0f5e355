"""The TLS configuration of each endpoint the plan monitors (``tls_probe.py`` does the
handshakes): legacy protocol versions, weak cipher suites, the certificate's key size and
the HSTS header."""

from __future__ import annotations

from watchkeeper.security.hardening import tls_probe
from watchkeeper.security.hardening.interface import (
    AuditContext,
    CheckError,
    Endpoint,
    Result,
    check,
    failed,
    passed,
    skipped,
)


def _endpoint(ctx: AuditContext) -> Endpoint:
    if ctx.endpoint is None:
        raise CheckError("no endpoint given")
    return ctx.endpoint


@check(
    "TLS-PROTOCOLS",
    title="Only TLS 1.2 and 1.3 are accepted",
    weight=4,
    scope="endpoint",
    rationale="SSL 3.0 is broken (POODLE); TLS 1.0 and 1.1 have known weaknesses (BEAST, "
    "weak SHA-1/MD5 handshake hashes), were deprecated by RFC 8996, and every maintained "
    "client speaks TLS 1.2; offering them only lets an attacker downgrade connections.",
    remediation="Set the minimum protocol to TLS 1.2 on the server or proxy that terminates "
    "TLS: nginx `ssl_protocols TLSv1.2 TLSv1.3;`, Apache `SSLProtocol -all +TLSv1.2 "
    "+TLSv1.3`, HAProxy `ssl-min-ver TLSv1.2`.",
)
def protocols(ctx: AuditContext) -> Result:
    endpoint = _endpoint(ctx)
    accepted, refused, untested = tls_probe.accepted_protocols(endpoint, ctx.network_timeout)
    note = f"; not tested (this OpenSSL cannot offer it): {', '.join(untested)}" if untested else ""
    legacy = [v for v in accepted if v in tls_probe.LEGACY]
    if not accepted:
        if untested:
            return skipped(f"no version offered was accepted{note}")
        return Result("error", "no TLS handshake succeeded with any version (SSL 3.0 to 1.3)")
    detail = f"accepts {', '.join(accepted)}; refuses {', '.join(refused) or 'none'}{note}"
    return failed(detail) if legacy else passed(detail)


@check(
    "TLS-WEAK-CIPHERS",
    title="No weak cipher suites are accepted",
    weight=4,
    scope="endpoint",
    rationale="NULL suites send data unencrypted, anonymous ones let anyone in the middle "
    "impersonate the server, and EXPORT, RC4, DES and 3DES can be broken or are practically "
    "attackable (FREAK, Logjam, RC4 biases, Sweet32).",
    remediation="Use your TLS library's modern or intermediate cipher list (Mozilla's SSL "
    "configuration generator gives it for nginx, Apache, HAProxy): e.g. nginx "
    "`ssl_ciphers HIGH:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!RC4:!MD5;`.",
)
def weak_ciphers(ctx: AuditContext) -> Result:
    endpoint = _endpoint(ctx)
    accepted, refused = tls_probe.accepted_weak_suites(endpoint, ctx.network_timeout)
    if accepted:
        return failed(f"accepts {'; '.join(accepted)}")
    return passed(f"refuses {', '.join(refused)}")


@check(
    "TLS-KEY-SIZE",
    title="The certificate's key is strong enough",
    weight=3,
    scope="endpoint",
    rationale="RSA keys under 2048 bits and elliptic-curve keys under 256 bits are within "
    "reach of well-funded attackers, and certificate authorities stopped issuing them.",
    remediation="Issue a new certificate with an RSA 2048 (or 3072) bit key or an ECDSA "
    "P-256 key (`openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 ...`, or your ACME "
    "client's `--key-type ecdsa`) and install it on the endpoint.",
)
def key_size(ctx: AuditContext) -> Result:
    endpoint = _endpoint(ctx)
    cert = tls_probe.certificate(endpoint, ctx.network_timeout)
    described, weak = tls_probe.key_strength(cert)
    subject = cert.subject.rfc4514_string() or "(no subject)"
    detail = f"{described} ({subject})"
    return failed(detail) if weak else passed(detail)


@check(
    "TLS-HSTS",
    title="HTTPS responses carry HSTS",
    weight=2,
    scope="endpoint",
    rationale="Strict-Transport-Security tells browsers to use HTTPS only for the site, so "
    "that a link or a typed address with http:// cannot be intercepted (SSL stripping).",
    remediation="Send `Strict-Transport-Security: max-age=31536000` (at least 180 days; add "
    "`includeSubDomains` once every subdomain has HTTPS) on every HTTPS response, e.g. "
    'nginx `add_header Strict-Transport-Security "max-age=31536000" always;`.',
)
def hsts(ctx: AuditContext) -> Result:
    endpoint = _endpoint(ctx)
    if endpoint.url is None:
        return skipped(
            "only tls checks name this endpoint, which need not speak HTTP; an http check "
            "with an https URL on it gets the header checked"
        )
    status, header = tls_probe.hsts(endpoint.url, ctx.network_timeout)
    if header is None:
        return failed(f"no Strict-Transport-Security header on {endpoint.origin} (status {status})")
    age = tls_probe.hsts_max_age(header)
    if age is None or age < tls_probe.HSTS_MIN_AGE:
        return failed(f'Strict-Transport-Security "{header}": max-age under 180 days')
    return passed(f'Strict-Transport-Security "{header}"')
