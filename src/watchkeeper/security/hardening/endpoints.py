"""The TLS endpoints audited: the ones the plan monitors (the ``http`` checks with an https URL
and the ``tls`` checks, one endpoint per host and port: several checks of one site make one
endpoint; the first server name given is the one sent) and, when it serves TLS itself,
Watchkeeper's own listener — its real protocols, suites, key and HSTS, not only its
certificate files. Each is audited and stored as the pseudo-host ``tls://host:port``."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.security.hardening.interface import Endpoint
from watchkeeper.security.hardening.posture import HEADERS_PATH, listener_url
from watchkeeper.settings import Settings
from watchkeeper.store.tables import StoredObject


def _from_spec(name: str, spec: dict[str, object]) -> Endpoint | None:
    if spec.get("type") == "tls":
        host = str(spec.get("host") or "")
        port = spec.get("port", 443)
        sni = spec.get("server_name")
        if not host or not isinstance(port, int):
            return None
        return Endpoint(host, port, str(sni) if sni else None, None, (name,))
    if spec.get("type") == "http":
        url = str(spec.get("url") or "")
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            return None
        try:
            port = parts.port or 443
        except ValueError:
            return None
        # Without credentials and query (tokens live there); the path is requested, never
        # shown (a ping URL's path can be its secret).
        clean = f"https://{parts.netloc.rpartition('@')[2]}{parts.path or '/'}"
        return Endpoint(parts.hostname, port, None, clean, (name,))
    return None


def plan_endpoints(db: Session) -> list[Endpoint]:
    """The monitored TLS endpoints, by pseudo-host name; an http check's URL (for HSTS) is
    the first one in name order."""
    merged: dict[tuple[str, int], Endpoint] = {}
    for name, spec in db.execute(
        select(StoredObject.name, StoredObject.spec)
        .where(StoredObject.kind == "checks")
        .order_by(StoredObject.name)
        .execution_options(yield_per=500)  # ten thousand decoded specs at once weigh MBs
    ):
        found = _from_spec(name, spec)
        if found is None:
            continue
        key = (found.host.lower(), found.port)
        known = merged.get(key)
        if known is None:
            merged[key] = found
        else:
            merged[key] = Endpoint(
                known.host,
                known.port,
                known.server_name or found.server_name,
                known.url or found.url,
                (*known.checks, *found.checks),
            )
    return sorted(merged.values(), key=lambda e: e.name)


def own_endpoint(settings: Settings) -> Endpoint | None:
    """This server's listener as an endpoint (reached as ``posture.listener_url`` does); None
    when it does not serve TLS itself (WK-TLS judges that)."""
    if not settings.uses_tls:
        return None
    parts = urlsplit(listener_url(settings))
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    return Endpoint(host, port, None, listener_url(settings) + HEADERS_PATH)


def audited_endpoints(db: Session, settings: Settings | None) -> list[Endpoint]:
    """The plan's endpoints and this server's own listener (``settings``; unless a plan
    check names the same host and port), by pseudo-host name."""
    return with_own_endpoint(plan_endpoints(db), settings)


def with_own_endpoint(planned: list[Endpoint], settings: Settings | None) -> list[Endpoint]:
    """``planned`` (from :func:`plan_endpoints`) and this server's own listener, unless a
    plan check names the same host and port, by pseudo-host name."""
    found = {e.name: e for e in planned}
    own = own_endpoint(settings) if settings is not None else None
    if own is not None and own.name not in found:  # a plan check of it: audited already
        found[own.name] = own
    return sorted(found.values(), key=lambda e: e.name)
