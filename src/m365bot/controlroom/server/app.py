"""The Control Room web app: :func:`create_app` builds the Starlette application from the
route lists of its modules, with sessions, CSRF, security headers and error pages.

Each part of the server is a module exporting ``routes: list[BaseRoute]``; this file only
collects them (:func:`collect_routes`); pages render through :mod:`.pages`. Route handlers
are plain ``def`` functions (Starlette runs them in its thread pool), so they may use the
database directly.

Every error becomes a page (or, under ``/api/``, JSON) with a status and a message that
says what to fix: 400 bad input, 401 signed out, 403 not allowed, 404, 409, 429 locked
out; an unexpected failure is a bare 500 page with no detail.

Example::

    from m365bot.controlroom.server.app import create_app
    from m365bot.controlroom.server.config import ServerConfig
    app = create_app(ServerConfig(db="/tmp/cr.db"))   # then: uvicorn.run(app, ...)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from m365bot.controlroom.db import Database
from m365bot.controlroom.errors import status_of
from m365bot.controlroom.server import (
    broker_api,
    oauth_pages,
    pages_admin,
    pages_auth,
    pages_vault,
    vault_api,
)
from m365bot.controlroom.server.config import ServerConfig, ServerState
from m365bot.controlroom.server.pages import error_page, templates
from m365bot.controlroom.server.security import (
    SecurityHeadersMiddleware,
    SessionMiddleware,
    SignInNeeded,
)
from m365bot.errors import M365BotError

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent


def _on_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInNeeded) and request.method == "GET" \
            and not request.url.path.startswith("/api/"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
    if isinstance(exc, M365BotError):
        response = error_page(request, status_of(exc), exc.message, exc.advice)
        retry = getattr(exc, "retry_after", 0)
        if retry:
            response.headers["retry-after"] = str(retry)
        return response
    if isinstance(exc, HTTPException):
        messages = {404: ("there is no such page", "check the address"),
                    405: ("this page does not take that method", "use the page's form")}
        message, advice = messages.get(exc.status_code, (str(exc.detail), ""))
        return error_page(request, exc.status_code, message, advice)
    log.error("controlroom: unexpected %s on %s %s", type(exc).__name__, request.method,
              request.url.path)
    return error_page(request, 500, "the Control Room failed unexpectedly",
                      "try again; if it keeps failing, tell the administrator the time")


class FailSafeMiddleware:
    """An unexpected failure, or a refusal raised before the routes (the session lookup
    meeting a broken database), becomes an error page inside the security headers
    (Starlette's own last-resort handler sits outside every middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            request = Request(scope, receive)
            response = await run_in_threadpool(_on_error, request, exc)
            await response(scope, receive, send)


def collect_routes() -> list[BaseRoute]:
    """The routes of every part of the server, in order, then ``/static``."""
    routes: list[BaseRoute] = []
    for part in (pages_auth, pages_admin, pages_vault, vault_api, oauth_pages, broker_api):
        routes.extend(part.routes)
    routes.append(Mount("/static", app=StaticFiles(directory=_HERE / "static"),
                        name="static"))
    return routes


def create_app(config: ServerConfig, *, db: Database | None = None) -> Starlette:
    """The Control Room app for ``config``. Opens (and migrates) the database unless one
    is given; opens and unlocks the Credential Vault in the same database when
    ``config.vault_key`` is set.

    Example::

        app = create_app(ServerConfig(db="postgresql+psycopg://cr@127.0.0.1/cr"))
    """
    database = db or Database.open(config.db)
    state = ServerState(config=config, db=database, templates=templates())
    if config.vault_key is not None:
        state.vault = pages_vault.open_server_vault(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if state.vault is not None:
            state.vault.close()
        if db is None:
            database.dispose()

    app = Starlette(
        routes=collect_routes(),
        middleware=[Middleware(SecurityHeadersMiddleware), Middleware(FailSafeMiddleware),
                    Middleware(SessionMiddleware)],
        exception_handlers={HTTPException: _on_error, M365BotError: _on_error},
        lifespan=lifespan,
    )
    app.state.cr = state
    return app


__all__ = ["collect_routes", "create_app"]
