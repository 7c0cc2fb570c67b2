"""Sign-in, sign-out and the home page.

* ``GET /signin``: the form; ``POST /signin``: name + password (+ ``next``, a local path);
  a good password starts a new session (rotated id) and redirects with 303; a bad one
  answers 401 with the same message for an unknown user; a locked account 429 with
  ``Retry-After``.
* ``POST /signout``: ends the session (CSRF-checked like every form).
* ``GET/POST /settings/password``: My settings > Password (current, new, new again); every
  session of the user ends, so they sign in again.
* ``GET /``: the home page with the sections the user may open.
* ``GET /api/v1/health``: ``{"status": "ok"}`` for load balancers (no sign-in).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from m365bot.controlroom import accounts
from m365bot.controlroom.errors import BadInput, SignInRefused, status_of
from m365bot.controlroom.server.pages import render
from m365bot.controlroom.server.security import (
    clear_session_cookie,
    client_ip,
    current_user,
    end_session,
    form_of,
    require_user,
    set_session_cookie,
    start_session,
    state,
)
from m365bot.errors import M365BotError
from m365bot.values import Secret


def _local_next(target: str) -> str:
    # Only a path on this server: never an open redirect to another site.
    if target.startswith("/") and not target.startswith(("//", "/\\")) and len(target) < 500:
        return target
    return "/"


def signin_form(request: Request) -> Response:
    """The sign-in page (a signed-in user goes home)."""
    if current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    return render(request, "signin.html", next=_local_next(request.query_params.get("next", "/")),
                  name="", error="")


def signin(request: Request) -> Response:
    """Check the name and password; on success a new session and a 303 to ``next``."""
    form = form_of(request)
    name, password = form.get("name", ""), form.get("password", "")
    target = _local_next(form.get("next", "/"))
    if not name.strip() or not password:
        return render(request, "signin.html", status=400, next=target, name=name[:100],
                      error="Enter your user name and your password.")
    try:
        user = accounts.authenticate(state(request).db, name, password,
                                     ip=client_ip(request), lockout=state(request).config.lockout)
    except SignInRefused as exc:
        response = render(request, "signin.html", status=exc.status, next=target,
                          name=name[:100], error=f"{exc.message}. {exc.advice}")
        if exc.retry_after:
            response.headers["retry-after"] = str(exc.retry_after)
        return response
    session_id = start_session(request, user)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, session_id)
    return response


def signout(request: Request) -> Response:
    """End the session and go to the sign-in page."""
    user = current_user(request)
    end_session(request)
    if user is not None:
        from m365bot.controlroom import audit

        audit.record(state(request).db, action="signout", actor=user.name,
                     ip=client_ip(request))
    response = RedirectResponse("/signin", status_code=303)
    clear_session_cookie(response, request)
    return response


def home(request: Request) -> Response:
    """The home page: the sections this user may open."""
    require_user(request)
    return render(request, "home.html")


def password_page(request: Request, *, error: str = "", flash: str = "",
                  status: int = 200) -> Response:
    """My settings > Password."""
    require_user(request)
    return render(request, "password.html", status=status, error=error, flash=flash)


def change_password(request: Request) -> Response:
    """Change my own password (current, new, new again); then sign in again."""
    user = require_user(request)
    form = form_of(request)
    new = form.get("password", "")
    try:
        if new != form.get("password2", ""):
            raise BadInput("the two new passwords differ", field="password2",
                           advice="type the same new password twice")
        accounts.change_own_password(state(request).db, user.name,
                                     form.get("current_password", ""), Secret(new),
                                     ip=client_ip(request))
    except M365BotError as exc:
        if status_of(exc) >= 500:
            raise
        return password_page(request, error=str(exc), status=status_of(exc))
    response = RedirectResponse("/signin", status_code=303)
    clear_session_cookie(response, request)
    return response


def health(request: Request) -> Response:
    """Liveness for load balancers: no sign-in, no detail."""
    return JSONResponse({"status": "ok"})


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/signin", signin_form, methods=["GET"]),
    Route("/signin", signin, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
    Route("/settings/password", password_page, methods=["GET"]),
    Route("/settings/password", change_password, methods=["POST"]),
    Route("/api/v1/health", health, methods=["GET"]),
]
