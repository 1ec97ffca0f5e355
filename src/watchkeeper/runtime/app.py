"""Build the FastAPI application: API routers, web pages, static assets, error handling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from watchkeeper import __version__
from watchkeeper.api import status, system, users
from watchkeeper.api.deps import LoginRequired
from watchkeeper.api.problems import HtmlErrorRenderer, install_problem_handlers
from watchkeeper.runtime.context import AppContext
from watchkeeper.runtime.middleware import ObservabilityMiddleware
from watchkeeper.runtime.scheduler import Scheduler
from watchkeeper.web import editor, pages

log = logging.getLogger(__name__)


def create_app(ctx: AppContext, *, scheduler: Scheduler | None = None) -> FastAPI:
    """Return the ASGI app for ``ctx``; ``scheduler`` (if given) runs for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(scheduler.run(), name="scheduler") if scheduler else None
        try:
            yield
        finally:
            if scheduler and task:
                await scheduler.stop()
                await task

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
    app.add_middleware(ObservabilityMiddleware)
    install_problem_handlers(app)
    HtmlErrorRenderer.render = pages.render_error

    async def login_required(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    app.add_exception_handler(LoginRequired, login_required)
    app.include_router(system.router)
    app.include_router(status.router)
    app.include_router(users.router)
    app.mount("/static", StaticFiles(directory=str(pages.STATIC_DIR)), name="static")
    app.include_router(editor.router)
    app.include_router(pages.router)
    return app
