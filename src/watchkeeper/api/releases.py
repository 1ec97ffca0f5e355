"""Releases: deploys recorded from CI/CD (an API token with the operator role), listed and
changed; each service's changelog; the services with their current versions; the release
calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.releases import calendar, changelog, deploys
from watchkeeper.releases.config import ReleasesSection
from watchkeeper.releases.section import find_service, load_section
from watchkeeper.releases.views import deploy_url, service_rows, service_url
from watchkeeper.store.tables import Deploy, utcnow

router = APIRouter(prefix="/api/v1", tags=["releases"])
Viewer = Annotated[SessionInfo, require("viewer")]
Operator = Annotated[SessionInfo, require("operator")]
DeployId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The deploy's id.")]
Status = Literal["started", "succeeded", "failed", "rolled_back"]
Gate = Literal["pending", "healthy", "regressed", "unaccepted", "skipped"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeployIn(_In):
    service: str = Field(max_length=128, description="A service declared in the plan.")
    version: str = Field(
        max_length=128, description="Checked against the service's versioning (SemVer/CalVer)."
    )
    environment: str = Field(
        "", max_length=128, description="One of the service's environments (default: its first)."
    )
    commit_sha: str = Field("", max_length=64, description="The commit deployed.")
    commit_times: list[datetime] = Field(
        default_factory=list,
        max_length=deploys.MAX_COMMITS,
        description="Times of the commits this deploy brings (lead time for changes).",
    )
    first_commit_at: datetime | None = Field(
        None, description="Time of the oldest commit brought (default: the first commit_times)."
    )
    author: str = Field("", max_length=128, description="Who deployed.")
    link: str = Field("", max_length=1000, description="The CI/CD run or release page.")
    changes: str = Field(
        "", max_length=deploys.MAX_CHANGES, description="What changed (Markdown, changelog)."
    )
    hosts: list[str] = Field(
        default_factory=list, max_length=deploys.MAX_HOSTS, description="Hosts deployed to."
    )
    status: Status = "succeeded"
    deployed_at: datetime | None = Field(None, description="When (UTC); default: now.")


class DeployPatch(_In):
    status: Status | None = None
    incident_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="The incident this deploy caused; null unlinks."
    )
    link: str | None = Field(None, max_length=1000)
    changes: str | None = Field(None, max_length=deploys.MAX_CHANGES)


class DeployOut(BaseModel):
    id: int
    service: str
    version: str
    environment: str
    previous_version: str
    commit_sha: str
    previous_commit: str
    commit_times: list[str]
    first_commit_at: datetime | None
    author: str
    link: str
    changes: str
    hosts: list[str]
    status: str
    gate: str = Field(description="pending, healthy, regressed or skipped.")
    gate_detail: dict[str, object] = Field(
        description="The gate's reason and, per metric, before/after/change/verdict."
    )
    gate_checked_at: datetime | None
    in_freeze: str = Field(description="The freeze period the deploy fell in (else empty).")
    incident_id: int | None
    deployed_at: datetime
    recorded_at: datetime
    recorded_by: str
    diff_url: str = Field(description="The repository's compare view, else the deploy's link.")
    url: str = Field(description="The deploy on its service's page.")


class DeployListOut(BaseModel):
    total: int
    deploys: list[DeployOut]


class ChangelogEntryOut(BaseModel):
    deploy_id: int
    version: str
    previous_version: str
    deployed_at: datetime
    author: str
    changes: str
    commit_sha: str
    diff_url: str
    status: str
    gate: str


class ChangelogOut(BaseModel):
    service: str
    environment: str
    entries: list[ChangelogEntryOut]


class CurrentOut(BaseModel):
    version: str
    deployed_at: datetime
    deploy_id: int


class ServiceOut(BaseModel):
    name: str
    team: str
    versioning: str
    repository: str
    environments: list[str]
    depends_on: list[str]
    gate: bool = Field(description="Whether deploys pass a release gate.")
    current: dict[str, CurrentOut] = Field(description="Newest successful deploy per environment.")
    last_deploy: DeployOut | None
    in_freeze: str = Field(description="The freeze period covering the service now (or empty).")
    url: str


class EventOut(BaseModel):
    kind: str = Field(description="release, freeze, maintenance or patch_window.")
    title: str
    start: datetime
    end: datetime
    link: str


class CalendarOut(BaseModel):
    start: datetime
    end: datetime
    events: list[EventOut]


def deploy_out(section: ReleasesSection, d: Deploy) -> DeployOut:
    service = next((s for s in section.services if s.name == d.service), None)
    return DeployOut(
        id=d.id,
        service=d.service,
        version=d.version,
        environment=d.environment,
        previous_version=d.previous_version,
        commit_sha=d.commit_sha,
        previous_commit=d.previous_commit,
        commit_times=list(d.commit_times or []),
        first_commit_at=d.first_commit_at,
        author=d.author,
        link=d.link,
        changes=d.changes,
        hosts=list(d.hosts or []),
        status=d.status,
        gate=d.gate,
        gate_detail=dict(d.gate_detail or {}),
        gate_checked_at=d.gate_checked_at,
        in_freeze=d.in_freeze,
        incident_id=d.incident_id,
        deployed_at=d.deployed_at,
        recorded_at=d.recorded_at,
        recorded_by=d.recorded_by,
        diff_url=deploys.diff_url(service, d),
        url=deploy_url(d),
    )


@router.post(
    "/deploys",
    response_model=DeployOut,
    status_code=201,
    summary="Record a deploy (from CI/CD: an API token with the operator role)",
)
def record_deploy(body: DeployIn, request: Request, db: Db, user: Operator) -> DeployOut:
    section = load_section(db)
    deploy = deploys.record(
        db,
        section,
        deploys.DeployInput(
            service=body.service,
            version=body.version,
            environment=body.environment,
            commit_sha=body.commit_sha,
            commit_times=body.commit_times,
            first_commit_at=body.first_commit_at,
            author=body.author,
            link=body.link,
            changes=body.changes,
            hosts=body.hosts,
            status=body.status,
            deployed_at=body.deployed_at,
        ),
        request_actor(request, user),
        utcnow(),
    )
    db.commit()
    return deploy_out(section, deploy)


@router.get("/deploys", response_model=DeployListOut, summary="Deploys, newest first")
def list_deploys(
    db: Db,
    _: Viewer,
    service: Annotated[
        list[str] | None,
        Query(
            description="Repeat to give several; with `host`, deploys of these services "
            "or to those hosts."
        ),
    ] = None,
    host: Annotated[
        list[str] | None,
        Query(description="Deploys to this host (repeatable; `web-1:9100` counts as web-1)."),
    ] = None,
    environment: str = "",
    start: Annotated[datetime | None, Query(description="deployed_at from (UTC).")] = None,
    end: Annotated[datetime | None, Query(description="deployed_at before (UTC).")] = None,
    status: Annotated[list[Status] | None, Query()] = None,
    gate: Annotated[list[Gate] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeployListOut:
    section = load_section(db)
    rows, total = deploys.list_deploys(
        db,
        section,
        services=service or (),
        hosts=host or (),
        environment=environment,
        start=start,
        end=end,
        status=status or (),
        gate=gate or (),
        limit=limit,
        offset=offset,
    )
    return DeployListOut(total=total, deploys=[deploy_out(section, d) for d in rows])


@router.get("/deploys/{deploy_id}", response_model=DeployOut, summary="One deploy")
def get_deploy(deploy_id: DeployId, db: Db, _: Viewer) -> DeployOut:
    return deploy_out(load_section(db), deploys.get(db, deploy_id))


@router.patch(
    "/deploys/{deploy_id}",
    response_model=DeployOut,
    summary="Change a deploy's status (e.g. rolled_back), incident link, link or changes",
)
def patch_deploy(
    deploy_id: DeployId, body: DeployPatch, request: Request, db: Db, user: Operator
) -> DeployOut:
    given = body.model_fields_set
    change = deploys.DeployChange(
        status=body.status,
        incident_id=body.incident_id,
        unlink_incident="incident_id" in given and body.incident_id is None,
        link=body.link,
        changes=body.changes,
    )
    deploy = deploys.update(db, deploy_id, change, request_actor(request, user))
    db.commit()
    return deploy_out(load_section(db), deploy)


@router.get(
    "/services",
    response_model=list[ServiceOut],
    summary="The plan's services with their current version per environment",
)
def list_services(db: Db, _: Viewer) -> list[ServiceOut]:
    section = load_section(db)
    return [
        ServiceOut(
            name=row.service.name,
            team=row.service.team,
            versioning=row.service.versioning,
            repository=row.service.repository,
            environments=list(row.service.environments),
            depends_on=list(row.service.depends_on),
            gate=row.service.gate is not None,
            current={
                env: CurrentOut(version=d.version, deployed_at=d.deployed_at, deploy_id=d.id)
                for env, d in row.current.items()
            },
            last_deploy=deploy_out(section, row.last) if row.last else None,
            in_freeze=row.freeze.name if row.freeze else "",
            url=service_url(row.service.name),
        )
        for row in service_rows(db, section, utcnow())
    ]


@router.get(
    "/services/{name}/changelog",
    response_model=ChangelogOut,
    summary="A service's changelog from its deploys (`?format=markdown` for Markdown)",
    responses={200: {"content": {"text/markdown": {}}}},
)
def get_changelog(
    name: str,
    db: Db,
    _: Viewer,
    environment: str = "",
    format: Annotated[Literal["json", "markdown"], Query()] = "json",  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=changelog.MAX_ENTRIES)] = changelog.MAX_ENTRIES,
) -> ChangelogOut | Response:
    service = find_service(load_section(db), name)
    environment = environment or service.environments[0]
    items = changelog.entries(db, service, environment, limit)
    if format == "markdown":
        return PlainTextResponse(
            changelog.markdown(service, environment, items),
            media_type="text/markdown; charset=utf-8",
        )
    return ChangelogOut(
        service=service.name,
        environment=environment,
        entries=[ChangelogEntryOut(**vars(e)) for e in items],
    )


@router.get(
    "/releases/calendar",
    response_model=CalendarOut,
    summary="Planned releases, freeze periods and maintenance/patch windows in a range",
)
def get_calendar(
    db: Db,
    _: Viewer,
    start: Annotated[datetime, Query(description="From (UTC).")],
    end: Annotated[datetime, Query(description="To, excluded (UTC); at most 400 days on.")],
) -> CalendarOut:
    begins, ends = calendar.check_range(start, end)
    found = calendar.events(db, load_section(db), begins, ends)
    return CalendarOut(
        start=begins,
        end=ends,
        events=[
            EventOut(kind=e.kind, title=e.title, start=e.start, end=e.end, link=e.link)
            for e in found
        ],
    )
