"""Rendering for every page of the Control Room: the layout's context, and error answers
(JSON under ``/api/``, the error page elsewhere).

Example::

    return render(request, "users.html", users=accounts.list_users(db))
    return error_page(request, 404, "there is no such user", "check the name")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from m365bot.controlroom.server.config import ServerState
from m365bot.controlroom.server.security import csrf_token, current_user

TEMPLATES = Path(__file__).parent / "templates"


def templates() -> Jinja2Templates:
    """The page templates (autoescaped; an undefined name is an error, not an empty string)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return Jinja2Templates(env=env)


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    """Render a page with the layout's context: ``user``, ``csrf_token`` (put
    ``{{ csrf_field() }}`` in every form) and ``request``."""
    st: ServerState = request.app.state.cr
    ctx = {"user": current_user(request), "csrf_token": csrf_token(request)} | context
    return st.templates.TemplateResponse(request, template, ctx, status_code=status)


def error_page(request: Request, status: int, message: str, advice: str = "") -> Response:
    """An error answer: JSON ``{"error", "fix"}`` under ``/api/``, else the error page."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message, "fix": advice}, status_code=status)
    return render(request, "error.html", status=status, status_code=status, message=message,
                  advice=advice)


__all__ = ["error_page", "render", "templates"]
