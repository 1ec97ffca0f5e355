"""The plan's ``metrics`` section: retention of stored samples and the targets to scrape.

Scrape jobs follow Prometheus's ``scrape_configs`` (same key names where they exist), so a
Prometheus configuration translates line by line.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from watchkeeper.metrics.labels import LABEL_RE
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Duration, Secret

RESERVED_LABELS = frozenset({"job", "instance"})


class RetentionConfig(PlanModel):
    """How long stored samples are kept, raw and rolled up."""

    raw: Duration = Field(timedelta(days=15), description="Raw samples.")
    rollup_5m: Duration = Field(timedelta(days=90), description="5-minute rollups.")
    rollup_1h: Duration = Field(timedelta(days=730), description="1-hour rollups.")


class BasicAuth(PlanModel):
    username: str = Field(min_length=1, description="User name.")
    password: Secret | None = Field(None, description="Password (or use `password_file`).")
    password_file: str | None = Field(None, description="File holding the password.")

    @model_validator(mode="after")
    def _one_password(self) -> BasicAuth:
        if self.password is not None and self.password_file is not None:
            raise PydanticCustomError("auth", "give password or password_file, not both")
        return self


class TlsConfig(PlanModel):
    ca_file: str | None = Field(None, description="PEM file of the CA that signed the targets.")
    cert_file: str | None = Field(None, description="Client certificate (PEM).")
    key_file: str | None = Field(None, description="Key of the client certificate (PEM).")
    server_name: str | None = Field(None, description="Name to send (SNI) and verify.")
    insecure_skip_verify: bool = Field(False, description="Do not verify certificates.")

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise PydanticCustomError("tls", "cert_file and key_file go together")
        return self


class ScrapeJob(PlanModel):
    """Targets scraped alike; each sample gets ``job`` and ``instance`` (the target)."""

    job: str = Field(min_length=1, max_length=200, description="Job name (the `job` label).")
    targets: list[str] = Field(
        min_length=1, description="`host:port` of each target (the `instance` label)."
    )
    interval: Duration = Field(timedelta(minutes=1), description="Time between two scrapes.")
    timeout: Duration = Field(
        timedelta(seconds=10),
        description="Give up on a scrape after this long; at most the interval, which is "
        "also the default when shorter than 10s.",
    )
    metrics_path: str = Field("/metrics", description="HTTP path to scrape.")
    scheme: Literal["http", "https"] = Field("http", description="`http` or `https`.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels added to every sample of the job."
    )
    honor_labels: bool = Field(
        False,
        description="On a clash with a target label keep the scraped value (otherwise the "
        "scraped one is renamed `exported_<name>`).",
    )
    honor_timestamps: bool = Field(True, description="Keep timestamps the target exposes.")
    basic_auth: BasicAuth | None = Field(None, description="HTTP basic authentication.")
    bearer_token: Secret | None = Field(None, description="Bearer token to send.")
    bearer_token_file: str | None = Field(None, description="File holding the bearer token.")
    tls_config: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings.")

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for target in value:
            if not _is_host_port(target):
                raise PydanticCustomError(
                    "target",
                    '"{target}" is not host:port (write the address only, e.g. '
                    "127.0.0.1:9100; the scheme and path are separate keys)",
                    {"target": target},
                )
        if len(set(value)) != len(value):
            raise PydanticCustomError("target", "a target is listed twice")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise PydanticCustomError("duration", "must be at least 1s")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise PydanticCustomError("duration", "must be more than 0s")
        return value

    @field_validator("metrics_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise PydanticCustomError("path", 'must start with "/"')
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if LABEL_RE.match(name) is None or name.startswith("__"):
                raise PydanticCustomError(
                    "label",
                    '"{name}" is not a label name (letters, digits and "_", not starting '
                    'with a digit or "__")',
                    {"name": name},
                )
            if name in RESERVED_LABELS:
                raise PydanticCustomError("label", '"{name}" is set by the scraper', {"name": name})
        return value

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> ScrapeJob:
        if self.timeout > self.interval:
            if "timeout" in self.model_fields_set:
                raise PydanticCustomError(
                    "duration", "timeout must not be longer than the interval"
                )
            self.timeout = self.interval  # the default, as in Prometheus
        return self

    @model_validator(mode="after")
    def _one_credential(self) -> ScrapeJob:
        given = [k for k in ("basic_auth", "bearer_token", "bearer_token_file") if getattr(self, k)]
        if len(given) > 1:
            raise PydanticCustomError(
                "auth", "use one of {given}, not several", {"given": ", ".join(given)}
            )
        return self


def _is_host_port(target: str) -> bool:
    if not target or any(c.isspace() or c in "/?#@" for c in target):
        return False
    try:
        parts = urlsplit(f"//{target}")
        port = parts.port
    except ValueError:
        return False
    return bool(parts.hostname) and (port is None or port > 0)


class MetricsSection(PlanModel):
    """Metric ingest and storage: targets to scrape, and how long samples are kept."""

    retention: RetentionConfig = Field(
        default_factory=RetentionConfig,
        description="How long samples are kept: `raw` (15d), `rollup_5m` (90d), "
        "`rollup_1h` (730d).",
    )
    scrape: list[ScrapeJob] = Field(
        default_factory=list,
        description="Scrape jobs, as Prometheus's `scrape_configs`. Keys: `job` and `targets` "
        "(`host:port` list), required; `interval` (1m); `timeout` (10s, at most the "
        "interval); `metrics_path` (`/metrics`); `scheme` (`http` or `https`); `labels` "
        "(added to every sample); `honor_labels` (false); `honor_timestamps` (true); "
        "`basic_auth` (`username`, and `password` or `password_file`), or `bearer_token`, "
        "or `bearer_token_file`; `tls_config` (`ca_file`, `cert_file`, `key_file`, "
        "`server_name`, `insecure_skip_verify`). Prometheus remote-write and OTLP need no "
        "configuration (see Metrics ingest in docs/operations.md).",
    )

    @field_validator("scrape")
    @classmethod
    def _unique_jobs(cls, value: list[ScrapeJob]) -> list[ScrapeJob]:
        seen: set[str] = set()
        for job in value:
            if job.job in seen:
                raise PydanticCustomError(
                    "job", 'the job name "{job}" is used twice', {"job": job.job}
                )
            seen.add(job.job)
        return value
