"""Scrape one target: fetch its exposition, label the samples, write them with the report
series (``up``, ``scrape_duration_seconds``, ...) and mark vanished series stale.

Staleness follows Prometheus: a series scraped last time and missing now gets a staleness
marker at this scrape's time; a failed scrape marks every series of the target stale (and
writes ``up`` 0); a target that is removed marks all its series, report series included.
Series exposed with their own timestamp are not tracked, as in Prometheus.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiohttp
from sqlalchemy.exc import SQLAlchemyError

from watchkeeper import __version__
from watchkeeper.checks.http import describe_http_error
from watchkeeper.metrics.config import ScrapeJob
from watchkeeper.metrics.exposition import ParseError, format_of, parse_bytes
from watchkeeper.metrics.labels import METRIC_NAME, STALE_NAN, Labels, make_labels
from watchkeeper.metrics.store import WriteReport
from watchkeeper.plan.types import format_duration
from watchkeeper.telemetry import INGEST_SAMPLES, SCRAPES, STORE_ERRORS

log = logging.getLogger(__name__)

ACCEPT = (
    "application/openmetrics-text;version=1.0.0,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
"""OpenMetrics preferred, then the Prometheus text format: what Prometheus asks for."""
USER_AGENT = f"Watchkeeper/{__version__} (scrape)"
MAX_SCRAPE_BYTES = 64 * 1024 * 1024
REPORT_NAMES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)

Batch = list[tuple[Labels, Sequence[tuple[int, float]]]]


class SampleStore(Protocol):
    def write(self, batch: Batch) -> WriteReport: ...


class ScrapeFailed(Exception):
    """The target could not be scraped; the message says why (never a secret)."""


def _tls_context(job: ScrapeJob) -> ssl.SSLContext:
    tls = job.tls_config
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file and tls.key_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _read_secret(path: str, key: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ScrapeFailed(f"cannot read {key} {path}: {exc.strerror or exc}") from None


class JobClient:
    """The HTTP side of one scrape job: one pooled session, the job's TLS and credentials."""

    def __init__(self, job: ScrapeJob) -> None:
        self.job = job
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._ssl_error = ""
        if job.scheme == "https":
            try:
                self._ssl = _tls_context(job)
            except (OSError, ssl.SSLError) as exc:
                self._ssl_error = f"cannot load the TLS files of job {job.job}: {exc}"

    def _headers(self) -> tuple[dict[str, str], aiohttp.BasicAuth | None]:
        job = self.job
        headers = {
            "Accept": ACCEPT,
            "X-Prometheus-Scrape-Timeout-Seconds": f"{job.timeout.total_seconds():g}",
        }
        auth = None
        if job.basic_auth is not None:
            password = job.basic_auth.password or ""
            if job.basic_auth.password_file:
                password = _read_secret(job.basic_auth.password_file, "password_file")
            auth = aiohttp.BasicAuth(job.basic_auth.username, password)
        token = job.bearer_token
        if job.bearer_token_file:
            token = _read_secret(job.bearer_token_file, "bearer_token_file")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers, auth

    async def fetch(self, url: str) -> tuple[bytes, str]:
        """Return the body and Content-Type of a 200 answer; raise ScrapeFailed otherwise."""
        if self._ssl_error:
            raise ScrapeFailed(self._ssl_error)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=60),
                headers={"User-Agent": USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=None),  # the caller bounds each scrape
            )
        headers, auth = self._headers()
        try:
            async with self._session.get(
                url,
                headers=headers,
                auth=auth,
                ssl=self._ssl if self._ssl is not None else True,
                server_hostname=self.job.tls_config.server_name,
            ) as resp:
                if resp.status != 200:
                    raise ScrapeFailed(f"HTTP {resp.status} (expected 200)")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(1 << 16):
                    body += chunk
                    if len(body) > MAX_SCRAPE_BYTES:
                        raise ScrapeFailed(
                            f"the response is larger than {MAX_SCRAPE_BYTES >> 20} MB"
                        )
                return bytes(body), resp.headers.get("Content-Type", "")
        except aiohttp.ClientError as exc:
            raise ScrapeFailed(describe_http_error(exc)) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def attach_target_labels(sample: Labels, target: dict[str, str], honor: bool) -> Labels:
    """Return ``sample``'s labels with the target's (``job``, ``instance``, the job's
    ``labels``) added. On a clash the target wins and the scraped value is kept as
    ``exported_<name>``; with ``honor`` the scraped value wins, as in Prometheus."""
    merged = dict(sample)
    clashes = []
    for name, value in target.items():
        if not value:  # an empty label is no label, in the target as anywhere
            continue
        scraped = merged.get(name, "")
        if honor:
            if not scraped:
                merged[name] = value
            continue
        if scraped:
            clashes.append((name, scraped))
        merged[name] = value
    for name, scraped in sorted(clashes, key=lambda c: len(c[0])):
        exported = name
        while True:
            exported = "exported_" + exported
            if not merged.get(exported):
                merged[exported] = scraped
                break
    return make_labels(merged)


@dataclass
class ScrapeResult:
    ok: bool
    error: str = ""
    scraped: int = 0
    series_added: int = 0
    parse_errors: list[ParseError] = field(default_factory=list)


class Target:
    """One target of a job: where to scrape, and the series it had at the last scrape."""

    def __init__(self, job: ScrapeJob, address: str, client: JobClient, store: SampleStore):
        self.job = job
        self.address = address
        self.url = f"{job.scheme}://{address}{job.metrics_path}"
        self.labels = {"job": job.job, "instance": address, **job.labels}
        self._client = client
        self._store = store
        self._previous: set[Labels] = set()
        self._report = [make_labels({**self.labels, METRIC_NAME: n}) for n in REPORT_NAMES]
        self.last_error: str | None = None

    async def scrape(self) -> ScrapeResult:
        """Scrape once (bounded by the job's timeout), store the samples, log changes."""
        ts_ms = time.time_ns() // 1_000_000
        start = time.perf_counter()
        body: bytes | None = None
        content_type = error = ""
        try:
            async with asyncio.timeout(self.job.timeout.total_seconds()):
                body, content_type = await self._client.fetch(self.url)
        except ScrapeFailed as exc:
            error = str(exc)
        except TimeoutError:
            error = f"timed out after {format_duration(self.job.timeout)}"
        duration = time.perf_counter() - start
        result = await asyncio.to_thread(self.record, ts_ms, duration, body, content_type, error)
        self._note(result)
        return result

    def record(
        self, ts_ms: int, duration: float, body: bytes | None, content_type: str, error: str
    ) -> ScrapeResult:
        """Label and store one scrape's samples with the report series; blocking."""
        batch: Batch = []
        current: set[Labels] = set()
        result = ScrapeResult(ok=body is not None, error=error)
        if body is not None:
            parsed = parse_bytes(body, format_of(content_type))
            result.parse_errors = parsed.errors
            result.scraped = len(parsed.samples)
            for sample in parsed.samples:
                labels = attach_target_labels(sample.labels, self.labels, self.job.honor_labels)
                if sample.timestamp_ms is not None and self.job.honor_timestamps:
                    batch.append((labels, [(sample.timestamp_ms, sample.value)]))
                else:
                    batch.append((labels, [(ts_ms, sample.value)]))
                    current.add(labels)
        result.series_added = len(current - self._previous)
        batch += [(labels, [(ts_ms, STALE_NAN)]) for labels in self._previous - current]
        self._previous = current
        values = (
            1.0 if result.ok else 0.0,
            duration,
            result.scraped,
            result.scraped,
            result.series_added,
        )
        batch += [
            (labels, [(ts_ms, float(v))]) for labels, v in zip(self._report, values, strict=True)
        ]
        self._write(batch, len(result.parse_errors))
        return result

    def end(self, ts_ms: int) -> None:
        """Mark every series of the target stale (it was removed from the plan); blocking."""
        labels = [*self._previous, *self._report]
        self._previous = set()
        self._write([(series, [(ts_ms, STALE_NAN)]) for series in labels], 0)

    def _write(self, batch: Batch, rejected: int) -> None:
        try:
            report = self._store.write(batch)
        except SQLAlchemyError as exc:
            STORE_ERRORS.labels("metric_scrape").inc()
            log.error(
                "scrape %s %s: cannot store %d series: %s",
                self.job.job,
                self.address,
                len(batch),
                type(exc).__name__,
            )
            return
        INGEST_SAMPLES.labels("scrape", "accepted").inc(report.accepted)
        INGEST_SAMPLES.labels("scrape", "duplicate").inc(report.duplicates)
        INGEST_SAMPLES.labels("scrape", "rejected").inc(rejected)

    def _note(self, result: ScrapeResult) -> None:
        """Count the scrape and log changes of state (not every failure, every interval)."""
        SCRAPES.labels(self.job.job, "ok" if result.ok else "fail").inc()
        where = f"scrape {self.job.job} {self.url}"
        if not result.ok:
            if result.error != self.last_error:
                log.warning("%s failed: %s", where, result.error)
            self.last_error = result.error
            return
        problem = str(result.parse_errors[0]) if result.parse_errors else ""
        if self.last_error and not problem:
            log.info("%s works again", where)
        elif problem and problem != self.last_error:
            log.warning(
                "%s: %d bad line(s) skipped, the first at line %s",
                where,
                len(result.parse_errors),
                problem,
            )
        self.last_error = problem
