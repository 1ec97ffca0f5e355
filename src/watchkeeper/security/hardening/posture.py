"""Watchkeeper's own posture, checked on the server like any host: TLS on its listener (or a
listener on loopback only), the security headers of its responses, the audit trail's hash
chain, and the secrets sealed in the store. The last two are judged by the very functions
of the compliance evidence (``audit_trail_intact``, ``secrets_encrypted``), so that the
hardening page and a compliance report cannot disagree. The listener's real protocols,
suites, key and HSTS are audited as an endpoint (``endpoints.own_endpoint``)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

import httpx

from watchkeeper.exceptions import ConfigError
from watchkeeper.runtime.tls import check_files
from watchkeeper.security.compliance.evidence.encryption import secrets_encrypted
from watchkeeper.security.compliance.evidence.interface import Evidence, NoParams
from watchkeeper.security.compliance.evidence.logs import audit_trail_intact
from watchkeeper.security.hardening.interface import (
    AuditContext,
    CheckError,
    Result,
    Status,
    check,
    failed,
    passed,
    skipped,
)
from watchkeeper.security.hardening.tls_probe import key_strength
from watchkeeper.settings import Settings
from watchkeeper.store.tables import utcnow

HEADERS_PATH = "/login"
"""A page every server answers without a session (the headers are the same on all)."""


def on_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listener_url(settings: Settings) -> str:
    """The URL of this server's own listener (not ``public_url``: a proxy in front may not
    be reachable from here)."""
    host = settings.listen_host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if settings.uses_tls else 'http'}://{host}:{settings.listen_port}"


def _settings(ctx: AuditContext) -> Settings:
    if ctx.settings is None:
        raise CheckError("no server settings given")
    return ctx.settings


def _sessions(ctx: AuditContext) -> Any:
    if ctx.sessions is None:
        raise CheckError("no store to look at")
    return ctx.sessions


@check(
    "WK-TLS",
    title="Watchkeeper's listener uses TLS (or loopback only)",
    weight=3,
    scope="server",
    rationale="Passwords, session cookies, API tokens and agent pushes cross the network "
    "to Watchkeeper; without TLS anyone on the path can read and replay them. A listener "
    "on loopback only is reachable through a local proxy alone, which then holds the TLS.",
    remediation="Set WATCHKEEPER_TLS_CERT_FILE and WATCHKEEPER_TLS_KEY_FILE (a certificate "
    "from your CA or Let's Encrypt, or `watchkeeper tls self-signed`) and restart; or put "
    "a TLS reverse proxy on the same host and listen on 127.0.0.1 only "
    "(WATCHKEEPER_LISTEN=127.0.0.1:8470).",
)
def own_tls(ctx: AuditContext) -> Result:
    settings = _settings(ctx)
    where = f"{settings.listen_host}:{settings.listen_port}"
    if settings.tls_certfile and settings.tls_keyfile:
        try:
            info = check_files(settings.tls_certfile, settings.tls_keyfile)
        except ConfigError as exc:
            return failed(str(exc))
        described, weak = key_strength(info.certificate)
        days = (info.not_after - datetime.now(UTC)).days
        own = " (self-signed)" if info.certificate.issuer == info.certificate.subject else ""
        detail = (
            f"HTTPS on {where} with {info.path}{own}: {described}, expires "
            f"{info.not_after:%Y-%m-%d}"
        )
        if days < 0:
            return failed(f"{detail}: the certificate has expired")
        if weak:
            return failed(f"{detail}: the key is too weak")
        return passed(detail)
    if on_loopback(settings.listen_host):
        proxy = f"; public URL {settings.public_url}" if settings.public_url else ""
        return passed(f"plain HTTP on {where}, reachable from this host only{proxy}")
    proxy = (
        f" (the proxy in front, {settings.public_url}, uses TLS, but the hop to this listener "
        "does not)"
        if settings.public_url and settings.public_url.startswith("https://")
        else ""
    )
    return failed(f"plain HTTP on {where}, reachable from the network{proxy}")


@check(
    "WK-HEADERS",
    title="Watchkeeper's responses carry security headers",
    weight=2,
    scope="server",
    rationale="The headers stop browsers from guessing content types (nosniff), from "
    "showing the UI in another site's frame (clickjacking), from leaking URLs to other "
    "sites (Referrer-Policy), from running injected scripts (CSP), and — over TLS — from "
    "ever using plain HTTP again (HSTS).",
    remediation="Watchkeeper sends them itself; when one is missing, a reverse proxy in "
    "front is removing or replacing it: let the proxy pass them through.",
)
def own_headers(ctx: AuditContext) -> Result:
    settings = _settings(ctx)
    url = listener_url(settings) + HEADERS_PATH
    try:
        with httpx.Client(verify=False, timeout=ctx.network_timeout) as client:
            response = client.get(url, headers={"User-Agent": "Watchkeeper hardening audit"})
    except httpx.HTTPError as exc:
        return skipped(
            f"the server at {url} does not answer ({type(exc).__name__}); it is "
            "checked while Watchkeeper runs"
        )
    headers = response.headers
    missing = []
    if headers.get("x-content-type-options", "").lower() != "nosniff":
        missing.append("X-Content-Type-Options: nosniff")
    csp = headers.get("content-security-policy", "")
    if not csp:
        missing.append("Content-Security-Policy")
    if "frame-ancestors" not in csp and not headers.get("x-frame-options"):
        missing.append("X-Frame-Options or CSP frame-ancestors")
    if not headers.get("referrer-policy"):
        missing.append("Referrer-Policy")
    if settings.uses_tls and not headers.get("strict-transport-security"):
        missing.append("Strict-Transport-Security")
    if missing:
        return failed(f"{url} lacks {', '.join(missing)}")
    sent = ["X-Content-Type-Options", "CSP", "frame protection", "Referrer-Policy"]
    if settings.uses_tls:
        sent.append("HSTS")
    return passed(f"{url} sends {', '.join(sent)}")


@check(
    "WK-AUDIT-CHAIN",
    title="The audit trail's hash chain is intact",
    weight=3,
    scope="server",
    rationale="Every change in Watchkeeper is recorded in a hash-chained audit trail; a "
    "broken chain means entries were edited or removed in the store, bypassing "
    "Watchkeeper — exactly what an intruder covering tracks would do.",
    remediation="Find out who had write access to the store (the database's own logs, "
    "backups to compare with: `watchkeeper audit verify` names the first bad entry); "
    "restore the trail from a backup if it was tampered with.",
)
def audit_chain(ctx: AuditContext) -> Result:
    with _sessions(ctx)() as db:
        return from_evidence(audit_trail_intact(db, NoParams(query="audit_trail_intact"), utcnow()))


def from_evidence(evidence: Evidence) -> Result:
    """A compliance verdict as a check's: its summary and failing facts (the first five);
    unknown (it cannot be judged) is a skip."""
    status: dict[str, Status] = {"pass": "pass", "fail": "fail", "unknown": "skip"}
    bad = [f"{f.subject}: {f.detail}" for f in evidence.facts if f.status == "fail"]
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    detail = f"{evidence.summary} {'; '.join(bad[:5])}{more}" if bad else evidence.summary
    return Result(status[evidence.status], detail)


@check(
    "WK-SECRETS-SEALED",
    title="The secrets are encrypted in the store",
    weight=3,
    scope="server",
    rationale="Passwords, tokens and credentials in the plan, and the users' TOTP secrets, "
    "are sealed with a key derived from the server's secret key, so that a copy of the store "
    "(a backup, a dump) does not give them away; a value in clear has escaped that.",
    remediation="Run `watchkeeper secrets reseal` (it seals every value with the current "
    "key); keep the secret key out of the store's backups.",
)
def secrets_sealed(ctx: AuditContext) -> Result:
    with _sessions(ctx)() as db:
        return from_evidence(secrets_encrypted(db, NoParams(query="secrets_encrypted"), utcnow()))
