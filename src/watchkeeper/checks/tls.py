"""TLS check: the certificate is trusted, matches the host name, and is not about to expire."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from datetime import UTC, datetime
from typing import ClassVar, Literal

from cryptography import x509
from pydantic import Field

from watchkeeper.checks.interface import CheckConfig, Outcome


class TlsCheckConfig(CheckConfig):
    type: Literal["tls"] = Field(description="`tls`.")
    host: str = Field(min_length=1, description="Host name to connect to and to verify.")
    port: int = Field(443, ge=1, le=65535, description="TCP port.")
    server_name: str | None = Field(
        None, description="Name to send (SNI) and verify, when it differs from `host`."
    )
    min_days: int = Field(
        14,
        ge=0,
        le=3650,
        description="Down when the certificate expires in fewer days than this.",
    )
    ca_file: str | None = Field(
        None, description="PEM file of a private CA to trust (besides the system's)."
    )
    tls_verify: bool = Field(
        True, description="Verify chain and host name; off checks only the expiry date."
    )


def _context(config: TlsCheckConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.ca_file:
        context.load_verify_locations(cafile=config.ca_file)
    if not config.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class TlsCheck:
    name = "tls"
    description = "Connect with TLS; check the chain, the host name and the days until expiry."
    config_model: ClassVar[type[CheckConfig]] = TlsCheckConfig

    async def run(self, config: TlsCheckConfig) -> Outcome:
        name = config.server_name or config.host
        try:
            context = _context(config)
        except (OSError, ssl.SSLError) as exc:
            return Outcome(False, f"cannot load ca_file {config.ca_file}: {exc}")
        start = time.perf_counter()
        try:
            _, writer = await asyncio.open_connection(
                config.host, config.port, ssl=context, server_hostname=name
            )
        except ssl.SSLCertVerificationError as exc:
            return Outcome(False, f"certificate not valid for {name}: {exc.verify_message}")
        except ssl.SSLError as exc:
            return Outcome(False, f"TLS handshake failed: {exc.reason or exc}")
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            return Outcome(False, f"cannot connect to {config.host}:{config.port}: {reason}")
        elapsed = (time.perf_counter() - start) * 1000
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
        if not der:
            return Outcome(False, "the server sent no certificate", elapsed)
        expires = x509.load_der_x509_certificate(der).not_valid_after_utc
        days = (expires - datetime.now(UTC)).total_seconds() / 86400
        when = expires.strftime("%Y-%m-%d")
        if days < 0:
            return Outcome(False, f"certificate expired on {when}", elapsed, expires)
        if days < config.min_days:
            return Outcome(
                False,
                f"certificate expires in {int(days)} days ({when}); "
                f"renew it (min_days: {config.min_days})",
                elapsed,
                expires,
            )
        return Outcome(
            True, f"certificate valid for {int(days)} more days ({when})", elapsed, expires
        )
