"""Fake GitHub, GitLab and Jira Cloud REST APIs and a webhook receiver, served by a real
uvicorn on loopback (``with FakeTrackers() as fake: fake.url``).

Each speaks the documented endpoints the trackers use, checks authentication and request
bodies as the real service does, and answers in its shape: GitHub 201 with ``number``,
``html_url``, ``state``; GitLab 201 with ``iid``, ``web_url``, ``state``; Jira 201 with ``id``,
``key``, ``self``. Tests read ``seen`` (every request), change issues in ``github``,
``gitlab`` and ``jira`` (closing one as a person would), and can make every answer a canned
one (``answer``), hang (``hang``) or echo the credentials it got in its errors
(``echo_credentials``, to prove they are masked).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.conftest import remember_secret
from tests.helpers import LiveServer

GITHUB_TOKEN = remember_secret("ghp_FakeGitHubToken0123456789abcdef")
GITLAB_TOKEN = remember_secret("glpat-FakeGitLabToken-0123456789")
JIRA_USER = "ops-bot@example.com"
JIRA_TOKEN = remember_secret("ATATT3xFakeJiraApiToken0123456789")
WEBHOOK_SECRET = remember_secret("whk-7f3a9c2e5b1d4e6f8a0b")
JIRA_ISSUE_TYPES = ("Bug", "Task", "Incident")
JIRA_PROJECT = "OPS"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # decoded
    raw_path: str  # as sent (percent-encoding kept), without the query
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _no_hook_paths(record: logging.LogRecord) -> bool:
    return WEBHOOK_SECRET not in record.getMessage()


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


class FakeTrackers:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.github: dict[int, dict[str, Any]] = {}
        self.gitlab: dict[int, dict[str, Any]] = {}
        self.jira: dict[str, dict[str, Any]] = {}
        self.answer: tuple[int, Any] | None = None
        self.hang = False
        self.echo_credentials = False
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.app = self._build()
        self._server = LiveServer(self.app)
        self.url = ""

    def __enter__(self) -> FakeTrackers:
        # uvicorn's access log would print the webhook's path, which is its key.
        logging.getLogger("uvicorn.access").addFilter(_no_hook_paths)
        self._server.__enter__()
        self.url = self._server.url
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        self._server.__exit__(exc_type, exc, tb)
        logging.getLogger("uvicorn.access").removeFilter(_no_hook_paths)

    def requests_to(self, prefix: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(prefix)]

    # -- plumbing shared by the endpoints --------------------------------------------------

    async def _record(self, request: Request) -> Seen:
        raw = request.scope.get("raw_path") or request.url.path.encode()
        seen = Seen(
            method=request.method,
            path=request.url.path,
            raw_path=raw.decode().split("?", 1)[0],
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        with self._lock:
            self.seen.append(seen)
        return seen

    async def _canned(self) -> Response | None:
        if self.hang:
            deadline = time.monotonic() + 30
            while not self._release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return _json({"message": "too late"}, 504)
        if self.answer is not None:
            status, body = self.answer
            return _json(body, status)
        return None

    def _refused(self, data: dict[str, Any], given: str, status: int = 401) -> JSONResponse:
        if self.echo_credentials:  # a careless service repeating what it was sent
            data = {**data, "message": f"{data.get('message', '')} (got {given!r})"}
            data.setdefault("errorMessages", []).append(f"credentials {given!r} refused")
        return _json(data, status)

    # -- the services -----------------------------------------------------------------------

    def _build(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        self._github(app)
        self._gitlab(app)
        self._jira(app)
        self._webhook(app)
        return app

    def _github(self, app: FastAPI) -> None:
        def denied(seen: Seen) -> Response | None:
            given = seen.headers.get("authorization", "")
            if given != f"Bearer {GITHUB_TOKEN}":
                return self._refused(
                    {
                        "message": "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest",
                        "status": "401",
                    },
                    given,
                )
            if seen.headers.get("accept") != "application/vnd.github+json":
                return _json({"message": "Unsupported Accept header"}, 415)
            if seen.headers.get("x-github-api-version") != "2022-11-28":
                return _json({"message": "Unsupported API version"}, 400)
            return None

        @app.post("/repos/{owner}/{repo}/issues")
        async def create(owner: str, repo: str, request: Request) -> Response:
            seen = await self._record(request)
            refused = await self._canned() or denied(seen)
            if refused:
                return refused
            body = seen.json()
            if not isinstance(body.get("title"), str) or not body["title"]:
                return _json(
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {"resource": "Issue", "code": "missing_field", "field": "title"}
                        ],
                        "documentation_url": "https://docs.github.com/rest/issues",
                        "status": "422",
                    },
                    422,
                )
            if owner != "acme" or repo != "shop":
                return _json({"message": "Not Found", "status": "404"}, 404)
            with self._lock:
                number = len(self.github) + 1
                issue = {
                    "id": 9000 + number,
                    "number": number,
                    "html_url": f"https://github.com/{owner}/{repo}/issues/{number}",
                    "url": f"{self.url}/repos/{owner}/{repo}/issues/{number}",
                    "state": "open",
                    "title": body["title"],
                    "body": body.get("body"),
                    "labels": [{"name": n} for n in body.get("labels", [])],
                }
                self.github[number] = issue
            return _json(issue, 201)

        @app.get("/repos/{owner}/{repo}/issues/{number}")
        async def read(owner: str, repo: str, number: int, request: Request) -> Response:
            seen = await self._record(request)
            refused = await self._canned() or denied(seen)
            if refused:
                return refused
            issue = self.github.get(number)
            if issue is None:
                return _json({"message": "Not Found", "status": "404"}, 404)
            return _json(issue)

    def _gitlab(self, app: FastAPI) -> None:
        def denied(seen: Seen) -> Response | None:
            given = seen.headers.get("private-token", "")
            if given != GITLAB_TOKEN:
                return self._refused({"message": "401 Unauthorized"}, given)
            return None

        @app.post("/api/v4/projects/{project:path}/issues")
        async def create(project: str, request: Request) -> Response:
            seen = await self._record(request)
            refused = await self._canned() or denied(seen)
            if refused:
                return refused
            if project not in ("platform/api", "42"):
                return _json({"message": "404 Project Not Found"}, 404)
            body = seen.json()
            if not body.get("title"):
                return _json({"error": "title is missing"}, 400)
            with self._lock:
                iid = len(self.gitlab) + 1
                issue = {
                    "id": 500 + iid,
                    "iid": iid,
                    "project_id": 42,
                    "title": body["title"],
                    "description": body.get("description"),
                    "state": "opened",
                    "labels": [x for x in str(body.get("labels", "")).split(",") if x],
                    "web_url": f"https://gitlab.example.com/platform/api/-/issues/{iid}",
                }
                self.gitlab[iid] = issue
            return _json(issue, 201)

        @app.get("/api/v4/projects/{project:path}/issues/{iid}")
        async def read(project: str, iid: int, request: Request) -> Response:
            seen = await self._record(request)
            refused = await self._canned() or denied(seen)
            if refused:
                return refused
            issue = self.gitlab.get(iid)
            if issue is None or project not in ("platform/api", "42"):
                return _json({"message": "404 Not found"}, 404)
            return _json(issue)

    def _jira(self, app: FastAPI) -> None:
        expected = "Basic " + base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}".encode()).decode()

        def denied(seen: Seen) -> Response | None:
            given = seen.headers.get("authorization", "")
            if given != expected:
                return self._refused(
                    {
                        "errorMessages": [
                            "You are not authenticated. Authentication required to perform "
                            "this operation."
                        ],
                        "errors": {},
                    },
                    given,
                )
            return None

        def invalid(fields: Any) -> dict[str, str]:
            problems: dict[str, str] = {}
            if not isinstance(fields, dict):
                return {"fields": "fields are required"}
            if (fields.get("project") or {}).get("key") != JIRA_PROJECT:
                problems["project"] = "Specify a valid project ID or key"
            if not fields.get("summary"):
                problems["summary"] = "You must specify a summary of the issue."
            if (fields.get("issuetype") or {}).get("name") not in JIRA_ISSUE_TYPES:
                problems["issuetype"] = "Specify a valid issue type"
            doc = fields.get("description")
            if doc is not None and not (
                isinstance(doc, dict)
                and doc.get("type") == "doc"
                and doc.get("version") == 1
                and isinstance(doc.get("content"), list)
            ):
                problems["description"] = "Operation value must be an Atlassian Document."
            for name in fields.get("labels", []):
                if " " in name:
                    problems["labels"] = f"The label '{name}' contains spaces which is invalid."
            return problems

        @app.post("/rest/api/3/issue")
        async def create(request: Request) -> Response:
            seen = await self._record(request)
            refused = await self._canned() or denied(seen)
            if refused:
                return refused
            fields = seen.json().get("fields")
            problems = invalid(fields)
            if problems:
                return _json({"errorMessages": [], "errors": problems}, 400)
            with self._lock:
                number = len(self.jira) + 1
                key = f"{JIRA_PROJECT}-{number}"
                issue_id = str(10000 + number)
                self.jira[key] = {"id": issue_id, "fields": fields, "status": "To Do"}
            return _json(
                {"id": issue_id, "key": key, "self": f"{self.url}/rest/api/3/issue/{issue_id}"},
                201,
            )

        @app.get("/rest/api/3/issue/{key}")
        async def read(key: str, request: Request) -> Response:
            seen = await self._record(request)
            refused = await self._canned() or denied(seen)
            if refused:
                return refused
            issue = self.jira.get(key)
            if issue is None:
                return _json(
                    {
                        "errorMessages": [
                            "Issue does not exist or you do not have permission to see it."
                        ],
                        "errors": {},
                    },
                    404,
                )
            fields: dict[str, Any] = {}
            if "status" in seen.query.get("fields", "").split(","):
                done = issue["status"] == "Done"
                fields["status"] = {
                    "name": issue["status"],
                    "statusCategory": {"key": "done" if done else "new"},
                }
            return _json(
                {
                    "id": issue["id"],
                    "key": key,
                    "self": f"{self.url}/rest/api/3/issue/{issue['id']}",
                    "fields": fields,
                }
            )

    def _webhook(self, app: FastAPI) -> None:
        @app.post("/hooks/{secret}")
        async def receive(secret: str, request: Request) -> Response:
            seen = await self._record(request)
            refused = await self._canned()
            if refused:
                return refused
            if secret != WEBHOOK_SECRET:
                return _json({"error": "unknown hook"}, 404)
            if seen.headers.get("content-type") != "application/json":
                return _json({"error": "send JSON"}, 415)
            number = len(self.requests_to("/hooks/"))
            return _json(
                {
                    "id": f"T-{number}",
                    "url": f"https://tickets.example.com/T-{number}",
                    "status": "new",
                },
                201,
            )

        @app.post("/quiet-hook")
        async def quiet(request: Request) -> Response:
            await self._record(request)
            return Response(status_code=204)
