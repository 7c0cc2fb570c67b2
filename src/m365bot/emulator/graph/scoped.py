"""The per-request pipeline the attachment, upload-session, calendar and ``$batch`` handlers
share with the mail handlers: authenticate → resolve the mailbox (``/me`` or
``/users/{id|upn}``) → authorize → ``emu.control.run``.

A thin seam over ``common.py`` (owned with the mail code) so these modules name one place.

Example::

    async def list_events(request):
        return await guarded(emu, request, op="events.list", need="calendar.read",
                             call=lambda ctx: render_list(ctx))
"""

from __future__ import annotations

from typing import Any

from m365bot.emulator.graph.common import (
    Ctx,
    by_method,
    endpoint,
    json_body,
    json_response,
    resolve_mailbox,
)
from m365bot.emulator.graph.common import handle as guarded
from m365bot.emulator.graph.store import find_message

__all__ = ["Ctx", "by_method", "endpoint", "find_message", "guarded", "json_body",
           "json_response", "principal_app_id", "resolve_mailbox"]


def principal_app_id(principal: Any) -> str | None:
    """The caller's client id (``appid``), or None."""
    value = getattr(principal, "app_id", None)
    return str(value) if value else None
