"""The Control Room web app: :func:`create_app` builds the Starlette application from the
route lists of its modules, with sessions, CSRF, security headers and error pages.

Each part of the server is a module exporting ``routes: list[BaseRoute]``; this file only
collects them (:data:`ROUTE_MODULES`). Route handlers are plain ``def`` functions (Starlette
runs them in its thread pool), so they may use the database directly.

Every error becomes a page (or, under ``/api/``, JSON) with a status and a message that
says what to fix: 400 bad input, 401 signed out, 403 not allowed, 404, 409, 429 locked
out; an unexpected failure is a bare 500 page with no detail.

Example::

    from m365bot.controlroom.server.app import create_app
    from m365bot.controlroom.server.config import ServerConfig
    app = create_app(ServerConfig(db="/tmp/cr.db"))   # then: uvicorn.run(app, ...)
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from m365bot.controlroom.db import Database
from m365bot.controlroom.errors import status_of
from m365bot.controlroom.server.config import ServerConfig
from m365bot.controlroom.server.security import (
    SecurityHeadersMiddleware,
    SessionMiddleware,
    csrf_token,
    current_user,
)
from m365bot.errors import M365BotError

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
# The modules whose ``routes`` make the app, in order. The OAuth part (Manage > OAuth
# connections, My settings > OAuth connections, the token broker) fills in its own.
ROUTE_MODULES = (
    "m365bot.controlroom.server.pages_auth",
    "m365bot.controlroom.server.pages_admin",
    "m365bot.controlroom.server.pages_vault",
    "m365bot.controlroom.server.vault_api",
    "m365bot.controlroom.server.oauth_pages",
    "m365bot.controlroom.server.broker_api",
)


@dataclass
class ServerState:
    """What every request handler shares: ``request.app.state.cr``.

    ``extras`` is free for a part of the server to keep its own shared objects (keyed by
    its module name); nothing kept there may be per-user state, since several server
    processes serve one user.
    """

    config: ServerConfig
    db: Database
    templates: Jinja2Templates
    vault: Any = None  # m365bot.vault.Vault, unlocked, or None (see pages_vault)
    extras: dict[str, Any] = field(default_factory=dict)


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    """Render a page with the layout's context: ``user``, ``csrf_token`` (put
    ``{{ csrf_field() }}`` in every form) and ``request``.

    Example::

        return render(request, "users.html", users=accounts.list_users(db))
    """
    st: ServerState = request.app.state.cr
    ctx = {"user": current_user(request), "csrf_token": csrf_token(request)} | context
    return st.templates.TemplateResponse(request, template, ctx, status_code=status)


def error_page(request: Request, status: int, message: str, advice: str = "") -> Response:
    """An error answer: JSON ``{"error", "fix"}`` under ``/api/``, else the error page."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message, "fix": advice}, status_code=status)
    return render(request, "error.html", status=status, status_code=status, message=message,
                  advice=advice)


def _on_error(request: Request, exc: Exception) -> Response:
    from m365bot.controlroom.server.security import SignInNeeded

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


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return Jinja2Templates(env=env)


def collect_routes() -> list[BaseRoute]:
    """The routes of every module in :data:`ROUTE_MODULES`, then ``/static``."""
    routes: list[BaseRoute] = []
    for name in ROUTE_MODULES:
        routes.extend(importlib.import_module(name).routes)
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
    state = ServerState(config=config, db=database, templates=_templates())
    if config.vault_key is not None:
        from m365bot.controlroom.server.pages_vault import open_server_vault

        state.vault = open_server_vault(config)

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


__all__ = ["ROUTE_MODULES", "ServerState", "collect_routes", "create_app", "error_page",
           "render"]
