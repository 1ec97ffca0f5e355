"""The plan's ``logs`` section: listeners, ingest queue, pipelines, retention, forwarding and
the files the agents tail."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Duration, Regex, Secret, Size, TimeZone

Listen = Annotated[str, Field(pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):\d{1,5}$")]


def _check_selector(value: str) -> str:
    from watchkeeper.logs.selector import QuerySyntaxError, parse_selector

    try:
        parse_selector(value)
    except QuerySyntaxError as exc:
        raise PydanticCustomError(
            "selector", "not a stream selector: {reason}", {"reason": str(exc)}
        ) from None
    return value


Selector = Annotated[
    str,
    Field(
        description='A stream selector such as `{app="api", level=~"error|warn"}` '
        "(`{}` for every stream)."
    ),
]
CheckedSelector = Annotated[Selector, AfterValidator(_check_selector)]
"""A selector checked when the plan is loaded (a bad one is a file:line error)."""


class TlsListener(PlanModel):
    """Syslog over TLS (RFC 5425 framing: octet counting, newline framing accepted)."""

    listen: Listen = Field(description="Address and port, e.g. `127.0.0.1:6514`.")
    cert_file: str = Field(description="PEM certificate (chain) of this server.")
    key_file: str = Field(description="PEM private key of the certificate.")
    client_ca_file: str | None = Field(
        None, description="When set, clients must present a certificate signed by this CA."
    )


class SyslogConfig(PlanModel):
    """Syslog receivers (RFC 5424 and RFC 3164, detected per message)."""

    udp: Listen | None = Field(None, description="UDP address, e.g. `127.0.0.1:5514`.")
    tcp: Listen | None = Field(
        None, description="TCP address (octet-counted and newline framing, detected)."
    )
    tls: TlsListener | None = Field(None, description="TCP+TLS listener.")
    max_message_bytes: Size = Field(
        64 * 1024, description="Longer messages are cut to this size and counted."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels added to every line received by syslog."
    )


class QueueConfig(PlanModel):
    """The bounded queue between the receivers and the store."""

    size: int = Field(200_000, ge=1000, description="Lines held before back-pressure.")
    overflow: Literal["block", "drop"] = Field(
        "block",
        description="`block`: receivers wait (TCP and HTTP senders slow down, nothing is "
        "lost; UDP cannot wait and drops); `drop`: new lines are dropped and counted.",
    )


class TimestampStage(PlanModel):
    field: str = Field(description="Field holding the time.")
    format: str = Field(
        "rfc3339",
        description="`rfc3339`, `unix`, `unix_ms`, `unix_us`, `unix_ns`, or a strptime "
        "format such as `%d/%b/%Y:%H:%M:%S %z`.",
    )
    timezone: TimeZone = Field("UTC", description="Zone of times that carry none.")


class LevelStage(PlanModel):
    field: str = Field("level", description="Field holding the level.")
    map: dict[str, str] = Field(
        default_factory=dict,
        description="Value -> level, e.g. `{W: warn, E: error}`; unmapped values are "
        "lower-cased and common spellings normalised (`warning` -> `warn`).",
    )


class FilterStage(PlanModel):
    """A drop or keep filter: lines whose field (or message) matches `regex`, or whose field
    equals `value`."""

    field: str | None = Field(None, description="Field to test (default: the message).")
    regex: Regex | None = Field(None, description="Regular expression searched for.")
    value: str | None = Field(None, description="Exact value the field must have.")

    @model_validator(mode="after")
    def _one_test(self) -> FilterStage:
        if (self.regex is None) == (self.value is None):
            raise ValueError("give exactly one of `regex` or `value`")
        return self


class MaskStage(PlanModel):
    """Replace personal data or secrets before the line is stored."""

    pattern: Regex = Field(
        description="A built-in pattern (`email`, `card_number`, `ipv4`, `bearer_token`, "
        "`password_field`, `iban`) or a regular expression."
    )
    replace: str = Field(
        "[masked]", description="Replacement text (a built-in's default is its own, `[email]`)."
    )
    fields: list[str] = Field(
        default_factory=list,
        description="Fields to mask too, `*` for all (the message always is).",
    )


class RegexStage(PlanModel):
    expression: Regex = Field(description="Regular expression with named groups -> fields.")
    source: str | None = Field(None, description="Field to match (default: the message).")


class Stage(PlanModel):
    """One step of a pipeline; give exactly one key."""

    regex: RegexStage | None = None
    json_: str | None = Field(
        None,
        alias="json",
        description="Parse the message (`message`) or a field as JSON into fields.",
    )
    logfmt: str | None = Field(None, description="Parse the message or a field as logfmt.")
    timestamp: TimestampStage | None = None
    level: LevelStage | None = None
    drop: FilterStage | None = None
    keep: FilterStage | None = None
    rename: dict[str, str] | None = Field(None, description="Field renames, old: new.")
    labels: list[str] | None = Field(
        None, description="Fields promoted to stream labels (keep their values few)."
    )
    mask: MaskStage | None = None
    message: str | None = Field(None, description="Replace the message with this field.")

    @model_validator(mode="after")
    def _one_key(self) -> Stage:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of regex, json, logfmt, timestamp, level, drop, keep, "
                "rename, labels, mask, message"
            )
        return self


class Pipeline(PlanObject):
    """Parsing steps applied to the lines of matching streams, in plan order."""

    match: CheckedSelector = Field("{}", description="Streams this pipeline applies to.")
    stages: list[Stage] = Field(default_factory=list)


class RetentionRule(PlanObject):
    """How long the lines of matching streams are kept (first matching rule wins)."""

    match: CheckedSelector = Field(description="Streams the rule applies to.")
    keep: Duration = Field(description="Age after which whole chunks are deleted.")
    max_size: Size | None = Field(
        None, description="Size cap per stream; the oldest chunks go first past it."
    )


class Forwarder(PlanObject):
    """Send a copy of matching lines to another log system."""

    type: Literal["loki", "elasticsearch", "otlp"] = Field(
        description="`loki` (push API), `elasticsearch` (`_bulk`, also OpenSearch), `otlp` "
        "(OTLP/HTTP logs, JSON)."
    )
    url: str = Field(description="Endpoint base URL, e.g. `http://loki:3100`.")
    match: CheckedSelector = Field("{}", description="Streams to forward.")
    index: str = Field("watchkeeper-logs", description="Elasticsearch/OpenSearch index.")
    headers: dict[str, Secret] = Field(
        default_factory=dict, description="Extra request headers (e.g. `X-Scope-OrgID`)."
    )
    username: str | None = Field(None, description="Basic-auth user.")
    password: Secret | None = Field(None, description="Basic-auth password.")
    bearer_token: Secret | None = Field(None, description="Sent as `Authorization: Bearer`.")
    batch_lines: int = Field(1000, ge=1, le=100_000, description="Lines per request at most.")
    flush_interval: Duration = Field(
        timedelta(seconds=1), description="Send a partial batch after this long."
    )
    buffer_lines: int = Field(
        100_000, ge=1000, description="Lines held while the target is away; older are dropped."
    )


class Multiline(PlanModel):
    """Join continuation lines (stack traces) to the line that starts an event."""

    start: Regex = Field(description="A line matching this starts a new event.")
    max_lines: int = Field(500, ge=1)
    timeout: Duration = Field(timedelta(seconds=2), description="Flush a pending event after.")


class FileSource(PlanObject):
    """Files the agents tail."""

    hosts: list[str] = Field(
        default_factory=lambda: ["*"], description="Host name patterns of the agents."
    )
    paths: list[str] = Field(description="Glob patterns, e.g. `/var/log/nginx/*.log`.")
    exclude: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    multiline: Multiline | None = None
    encoding: str = Field("utf-8")
    start_at: Literal["beginning", "end"] = Field(
        "end", description="Where to start in a file seen for the first time."
    )


class JournaldSource(PlanObject):
    """The systemd journal, read by the agents."""

    hosts: list[str] = Field(default_factory=lambda: ["*"])
    units: list[str] = Field(default_factory=list, description="Only these units (all if empty).")
    labels: dict[str, str] = Field(default_factory=dict)


MaskName = Literal["email", "card_number", "iban", "ipv4", "bearer_token", "password_field"]


class LogsSection(PlanModel):
    """Log receivers, parsing pipelines, retention, forwarding and agent sources."""

    syslog: SyslogConfig = Field(
        default_factory=SyslogConfig, description="Syslog listeners (none by default)."
    )
    queue: QueueConfig = Field(
        default_factory=QueueConfig, description="The bounded queue in front of the store."
    )
    default_retention: Duration = Field(
        timedelta(days=30), description="Retention of streams no rule matches."
    )
    mask: list[MaskName] = Field(
        default_factory=list,
        description="Built-in masks applied to every line before storage "
        "(`email`, `card_number`, `bearer_token`, `password_field`, `iban`, `ipv4`).",
    )
    pipelines: list[Pipeline] = Field(
        default_factory=list, description="Parsing pipelines, applied in plan order."
    )
    retention: list[RetentionRule] = Field(
        default_factory=list, description="Retention per stream (first matching rule wins)."
    )
    forward: list[Forwarder] = Field(
        default_factory=list, description="Copies of matching lines sent to other systems."
    )
    files: list[FileSource] = Field(default_factory=list, description="Files agents tail.")
    journald: list[JournaldSource] = Field(
        default_factory=list, description="Journals agents read."
    )
