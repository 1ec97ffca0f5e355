"""Build the FastAPI application: API routers, web pages, static assets, error handling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from watchkeeper import __version__
from watchkeeper.api import access_review as access_review_api
from watchkeeper.api import accounts as accounts_api
from watchkeeper.api import agent as agent_api
from watchkeeper.api import agent_packages as agent_packages_api
from watchkeeper.api import alerts as alerts_api
from watchkeeper.api import audit as audit_api
from watchkeeper.api import backups as backups_api
from watchkeeper.api import calendar as calendar_api
from watchkeeper.api import capacity as capacity_api
from watchkeeper.api import checks as checks_api
from watchkeeper.api import compliance as compliance_api
from watchkeeper.api import databases as databases_api
from watchkeeper.api import dora as dora_api
from watchkeeper.api import errors as errors_api
from watchkeeper.api import errors_ingest as errors_ingest_api
from watchkeeper.api import hardening as hardening_api
from watchkeeper.api import incident_figures as incident_figures_api
from watchkeeper.api import incidents as incidents_api
from watchkeeper.api import ingest as ingest_api
from watchkeeper.api import knowledge as knowledge_api
from watchkeeper.api import log_anomalies as log_anomalies_api
from watchkeeper.api import logs as logs_api
from watchkeeper.api import logs_ingest as logs_ingest_api
from watchkeeper.api import logs_tail as logs_tail_api
from watchkeeper.api import notifications as notifications_api
from watchkeeper.api import oncall as oncall_api
from watchkeeper.api import pings as pings_api
from watchkeeper.api import plan_status as plan_status_api
from watchkeeper.api import postmortems as postmortems_api
from watchkeeper.api import query as query_api
from watchkeeper.api import releases as releases_api
from watchkeeper.api import runbooks as runbooks_api
from watchkeeper.api import security as security_api
from watchkeeper.api import security_db as security_db_api
from watchkeeper.api import security_inventories as security_inventories_api
from watchkeeper.api import silences as silences_api
from watchkeeper.api import status, system, users
from watchkeeper.api import status_pages as status_pages_api
from watchkeeper.api import tasks as tasks_api
from watchkeeper.api import teams as teams_api
from watchkeeper.api import tokens as tokens_api
from watchkeeper.api import trackers as trackers_api
from watchkeeper.api import training as training_api
from watchkeeper.api.deps import LoginRequired
from watchkeeper.api.problems import HtmlErrorRenderer, install_problem_handlers
from watchkeeper.runtime.context import AppContext
from watchkeeper.runtime.middleware import ObservabilityMiddleware
from watchkeeper.web import access as access_web
from watchkeeper.web import access_review as access_review_web
from watchkeeper.web import account as account_web
from watchkeeper.web import alerts as alerts_web
from watchkeeper.web import audit as audit_web
from watchkeeper.web import backups as backups_web
from watchkeeper.web import calendar as calendar_web
from watchkeeper.web import capacity as capacity_web
from watchkeeper.web import checks as checks_web
from watchkeeper.web import compliance as compliance_web
from watchkeeper.web import databases as databases_web
from watchkeeper.web import directory as directory_web
from watchkeeper.web import dora as dora_web
from watchkeeper.web import editor, mfa, pages
from watchkeeper.web import errors as errors_web
from watchkeeper.web import escalation_policies as escalation_policies_web
from watchkeeper.web import hardening as hardening_web
from watchkeeper.web import hosts as hosts_web
from watchkeeper.web import incident_figures as incident_figures_web
from watchkeeper.web import incidents as incidents_web
from watchkeeper.web import knowledge as knowledge_web
from watchkeeper.web import log_anomalies as log_anomalies_web
from watchkeeper.web import logs as logs_web
from watchkeeper.web import notifications as notifications_web
from watchkeeper.web import onboarding as onboarding_web
from watchkeeper.web import oncall as oncall_web
from watchkeeper.web import postmortems as postmortems_web
from watchkeeper.web import query as query_web
from watchkeeper.web import releases as releases_web
from watchkeeper.web import runbooks as runbooks_web
from watchkeeper.web import security as security_web
from watchkeeper.web import status_admin as status_admin_web
from watchkeeper.web import status_page as status_page_web
from watchkeeper.web import tasks as tasks_web
from watchkeeper.web import training as training_web

log = logging.getLogger(__name__)


class Service(Protocol):
    """A long-running part of the process (scheduler, check runner): run until stopped."""

    async def run(self) -> None: ...

    async def stop(self) -> None: ...


def create_app(ctx: AppContext, *, services: Sequence[Service] = ()) -> FastAPI:
    """Return the ASGI app for ``ctx``; ``services`` run for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(s.run(), name=type(s).__name__) for s in services]
        try:
            yield
        finally:
            for service in services:
                await service.stop()
            await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(
        title="Watchkeeper",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        description="Watchkeeper's HTTP API. Errors are RFC 9457 problem+json documents.",
    )
    app.state.ctx = ctx
    app.add_middleware(errors_ingest_api.IngestShortcut)  # inside: its requests are counted
    app.add_middleware(ObservabilityMiddleware)
    install_problem_handlers(app)
    HtmlErrorRenderer.render = pages.render_error

    async def login_required(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = getattr(exc, "location", "") or f"/login?next={quote(target)}"
        return RedirectResponse(location, status_code=303)

    app.add_exception_handler(LoginRequired, login_required)
    # First: SDKs send many small requests, matched here before the other routes.
    app.include_router(errors_ingest_api.router)  # public: Sentry SDKs, the DSN key
    app.include_router(system.router)
    app.include_router(status.router)
    app.include_router(plan_status_api.router)
    app.include_router(users.router)
    app.include_router(accounts_api.router)
    app.include_router(tokens_api.router)
    app.include_router(teams_api.router)
    app.include_router(audit_api.router)
    app.include_router(checks_api.router)
    app.include_router(ingest_api.router)
    app.include_router(logs_ingest_api.router)
    app.include_router(errors_api.router)
    app.include_router(pings_api.router)
    app.include_router(agent_api.router)
    app.include_router(agent_packages_api.router)
    app.include_router(security_inventories_api.router)
    app.include_router(query_api.router)
    app.include_router(log_anomalies_api.router)  # before logs: /logs/anomalies
    app.include_router(logs_api.router)
    app.include_router(logs_tail_api.router)
    app.include_router(alerts_api.router)
    app.include_router(silences_api.router)
    app.include_router(notifications_api.router)
    app.include_router(oncall_api.router)
    app.include_router(oncall_api.calendar_router)  # public: signed iCal subscriptions
    app.include_router(trackers_api.router)
    app.include_router(status_pages_api.router)
    app.include_router(incident_figures_api.router)  # before incidents: /incidents/{id}
    app.include_router(postmortems_api.router)
    app.include_router(incidents_api.router)
    app.include_router(backups_api.router)
    app.include_router(databases_api.router)
    app.include_router(compliance_api.router)
    app.include_router(security_api.router)
    app.include_router(security_db_api.router)
    app.include_router(hardening_api.router)
    app.include_router(runbooks_api.router)
    app.include_router(tasks_api.router)
    app.include_router(calendar_api.router)
    app.include_router(calendar_api.feed_router)  # public: signed iCal subscriptions
    app.include_router(access_review_api.router)
    app.include_router(training_api.router)
    app.include_router(knowledge_api.router)
    app.include_router(dora_api.router)
    app.include_router(releases_api.router)
    app.include_router(capacity_api.router)
    app.mount("/static", StaticFiles(directory=str(pages.STATIC_DIR)), name="static")
    app.include_router(status_page_web.router)  # public: /status/{name}[.json], no sign-in
    app.include_router(status_admin_web.router)  # before /incidents/{id} and pages
    app.include_router(editor.router)
    app.include_router(checks_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(hosts_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(query_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(log_anomalies_web.router)  # before logs and pages
    app.include_router(logs_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(audit_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(backups_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(databases_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(compliance_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(hardening_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(knowledge_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(onboarding_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(dora_web.router)  # before pages and /releases/{name}
    app.include_router(releases_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(capacity_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(errors_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(security_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(mfa.router)  # before pages: its /{slug} catches the rest
    app.include_router(account_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(access_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(alerts_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(postmortems_web.router)  # before /incidents/{id}: /incidents/actions
    app.include_router(incident_figures_web.router)  # before /incidents/{id} and pages
    app.include_router(directory_web.router)  # before /incidents/{id} and pages
    app.include_router(escalation_policies_web.router)  # before /incidents/{id} and pages
    app.include_router(notifications_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(oncall_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(incidents_web.router)  # after the fixed /incidents/... pages
    app.include_router(runbooks_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(tasks_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(calendar_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(access_review_web.router)  # before pages: /{slug} catches the rest
    app.include_router(training_web.router)  # before pages: its /{slug} catches the rest
    app.include_router(pages.router)
    _declare_security(app)
    return app


def _declare_security(app: FastAPI) -> None:
    """Tell OpenAPI clients how to authenticate: a bearer token or the session cookie."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "API token (`wk_…`), from the account page or "
                "`watchkeeper token create`.",
            },
            "session": {
                "type": "apiKey",
                "in": "cookie",
                "name": "wk_session",
                "description": "Signed-in browser session; unsafe methods also "
                "need the X-CSRF-Token header.",
            },
        }
        schema["security"] = [{"bearer": []}, {"session": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
