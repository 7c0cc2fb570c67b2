"""Form handling shared by the pages: run a form's action, answer the page with a note or
with the error (and its status); read fields and checkboxes with clear errors.

Example::

    def create_role(request):
        form = form_of(request)
        return answer(request, roles_page, lambda: f"Role {make(form)} created.")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from m365bot.controlroom.errors import BadInput, status_of
from m365bot.errors import M365BotError
from m365bot.values import Secret


def answer(request: Request, page: Callable[..., Response],
           action: Callable[[], str | tuple[str, Secret]], **page_kw: Any) -> Response:
    """Run a form's action and answer ``page`` with its note (``flash``), or, when the
    action refuses (a 4xx error), with the error and its status: nothing was changed. An
    action may return ``(note, secret)`` to show a secret once (``new_key``, status 201)."""
    try:
        done = action()
    except M365BotError as exc:
        status = status_of(exc)
        if status >= 500:
            raise
        return page(request, error=str(exc), status=status, **page_kw)
    if isinstance(done, tuple):
        return page(request, flash=done[0], new_key=done[1].reveal(), status=201, **page_kw)
    return page(request, flash=done, **page_kw)


def checkbox(form: dict[str, str], name: str) -> bool:
    """A checkbox: ticked (``on``) or absent; anything else is bad input."""
    value = form.get(name, "")
    if value not in ("", "on"):
        raise BadInput(f"the field {name} must be a checkbox (on or absent)", field=name,
                       advice="tick or untick the box")
    return value == "on"


def required(form: dict[str, str], name: str, what: str) -> str:
    """A required text field, stripped; BadInput naming it when empty."""
    value = form.get(name, "")
    if not value.strip():
        raise BadInput(f"the {what} is missing", field=name, advice=f"fill in the {what}")
    return value.strip()


__all__ = ["answer", "checkbox", "required"]
