"""The plan's ``errors`` section: the projects applications report their errors to over the
Sentry protocol, and how long what they report is kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Duration, Size

PublicKey = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{32}$",
        description="The DSN's public key (32 lower-case hex digits). Leave it out to have one "
        "generated and kept; set it to keep a DSN that SDKs already use.",
    ),
]


class ErrorProject(PlanObject):
    """An application (or one part of one) that reports errors through a Sentry SDK.

    Each project gets a numeric id and a DSN public key; its DSN
    (``http(s)://<public_key>@<host:port>/<id>``) is shown by `GET /api/v1/errors/projects`
    and goes into the SDK's configuration."""

    team: str = Field("", description="Team that owns the project's errors (its issues' team).")
    platform: str = Field(
        "", description="What the project is written in (python, javascript, ...); shown only."
    )
    rate_limit: int = Field(
        6000,
        ge=0,
        description="Events accepted per minute (all replicas together); more are refused "
        "with 429 and the SDK waits (Retry-After, X-Sentry-Rate-Limits). 0: no limit.",
    )
    max_event_size: Size = Field(
        1024 * 1024,
        ge=1024,
        description="Largest event accepted (bytes, decompressed); a larger one is refused "
        "with 413, as Sentry does.",
    )
    scrub_fields: list[str] = Field(
        default_factory=list,
        description="More keys whose values are removed before storage (matched "
        "case-insensitively, ignoring `-` and `_`), besides the built-in ones (passwords, "
        "secrets, tokens, API keys, cookies, authorization, card numbers).",
    )
    environments: list[str] = Field(
        default_factory=list,
        description="Environments whose events are kept (others are accepted and dropped); "
        "empty: all.",
    )
    public_key: PublicKey | None = None


class LogErrorSource(PlanModel):
    """Log streams whose stack traces become error events of a project (docs/errors.md,
    "Exceptions from logs")."""

    selector: str = Field(
        description='Stream selector of the log lines read, e.g. `{app="api"}`.',
        min_length=2,
    )
    project: str = Field(description="Name of the project (in `errors.projects`) they go to.")

    @model_validator(mode="after")
    def _selector_valid(self) -> LogErrorSource:
        from watchkeeper.logs.selector import QuerySyntaxError, parse_selector

        try:
            parse_selector(self.selector)
        except QuerySyntaxError as exc:
            raise PydanticCustomError(
                "selector",
                'selector "{selector}": {reason}',
                {"selector": self.selector, "reason": str(exc)},
            ) from None
        return self


class ErrorsSection(PlanModel):
    """Error tracking over the Sentry protocol: projects, and how long events are kept."""

    projects: list[ErrorProject] = Field(
        default_factory=list, description="Projects that report errors."
    )
    events_per_issue: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Latest events kept per issue (older ones are removed each time "
        "a tenth of this number more has arrived).",
    )
    event_retention: Duration = Field(
        timedelta(days=30), description="Events older than this are removed."
    )
    issue_retention: Duration = Field(
        timedelta(days=90),
        description="Issues not seen for this long are removed with their events.",
    )
    from_logs: list[LogErrorSource] = Field(
        default_factory=list,
        description="Log streams whose Python and Java stack traces (and OTLP records with "
        "`exception.*` attributes) become events of a project.",
    )
    max_envelope_size: Size = Field(
        20 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest request body (compressed, and again decompressed) an SDK may "
        "send; a larger one is refused with 413.",
    )

    @model_validator(mode="after")
    def _keys_unique(self) -> ErrorsSection:
        seen: dict[str, str] = {}
        for project in self.projects:
            key = project.public_key
            if key is None:
                continue
            if key in seen:
                raise PydanticCustomError(
                    "public_key",
                    'project "{name}" has the public key of project "{other}"; each project '
                    "needs its own",
                    {"name": project.name, "other": seen[key]},
                )
            seen[key] = project.name
        return self


def from_logs_references(section: ErrorsSection) -> list[tuple[tuple[str | int, ...], str]]:
    """Return (path, message) for each ``from_logs`` mapping naming no project (checked
    with the plan's other references: the stored section holds no projects)."""
    names = {project.name for project in section.projects}
    return [
        (("errors", "from_logs", i, "project"), f'no error project is named "{source.project}"')
        for i, source in enumerate(section.from_logs)
        if source.project not in names
    ]


def section_settings(data: dict[str, Any]) -> ErrorsSection:
    """Return the section read back from the store (see ``plan.stored.stored_section``);
    objects that no longer validate are left out rather than failing ingest."""
    projects = data.get("projects", [])
    valid: list[ErrorProject] = []
    for spec in projects:
        try:
            valid.append(ErrorProject.model_validate(spec))
        except ValueError:
            continue
    rest = {k: v for k, v in data.items() if k != "projects"}
    try:
        section = ErrorsSection.model_validate(rest)
    except ValueError:
        section = ErrorsSection()
    section.projects = valid
    return section
