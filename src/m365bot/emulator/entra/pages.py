"""HTML rendering for the sign-in, consent, account-picker, error and form_post pages.

Example::

    return render("signin.html", status=200, app_name="m365bot-pkce", ...)
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from m365bot.emulator.entra.errors import EntraError, format_timestamp

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)

_HEADERS = {
    "Cache-Control": "no-store, no-cache",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def render(template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def error_page(err: EntraError, *, now: float, correlation_id: str | None) -> HTMLResponse:
    """Shown when the error cannot go back to the app (bad redirect_uri, unknown app/tenant)."""
    return render(
        "error.html",
        status=400,
        code=err.code,
        message=err.message,
        trace_id=str(uuid.uuid4()),
        correlation_id=correlation_id or str(uuid.uuid4()),
        timestamp=format_timestamp(now),
    )


def to_client(redirect_uri: str, response_mode: str, fields: dict[str, str]) -> Response:
    """Deliver ``fields`` to the app: query redirect, fragment redirect, or auto-posted form."""
    if response_mode == "form_post":
        return render("form_post.html", action=redirect_uri, fields=list(fields.items()))
    if response_mode == "fragment":
        base = redirect_uri.split("#", 1)[0]
        return RedirectResponse(f"{base}#{urlencode(fields)}", status_code=302, headers=_HEADERS)
    sep = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(
        f"{redirect_uri}{sep}{urlencode(fields)}", status_code=302, headers=_HEADERS
    )


def error_fields(
    err: EntraError, *, now: float, state: str | None, correlation_id: str | None, login_host: str
) -> dict[str, str]:
    body = err.body(now=now, correlation_id=correlation_id, login_host=login_host)
    fields = {
        "error": err.error,
        "error_description": body["error_description"],
        "error_uri": body["error_uri"],
    }
    if err.suberror:
        fields["error_subcode"] = err.suberror
    if state is not None:
        fields["state"] = state
    return fields
