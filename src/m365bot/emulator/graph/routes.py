"""All Graph routes the emulator mounts: users, mail (messages, actions, folders, delta) and
the calendar, attachment, upload-session and ``$batch`` routes of their own modules.

Every module is imported explicitly: a broken one fails the emulator's start, loudly.

Example::

    app = Starlette(routes=graph_routes(emu))
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from m365bot.emulator.graph.actions import action_routes
from m365bot.emulator.graph.attachments import attachment_routes
from m365bot.emulator.graph.batch import batch_routes
from m365bot.emulator.graph.delta import delta_routes
from m365bot.emulator.graph.events import event_routes
from m365bot.emulator.graph.folders import folder_routes
from m365bot.emulator.graph.messages import message_routes
from m365bot.emulator.graph.upload import upload_routes
from m365bot.emulator.graph.users import user_routes

# Order matters: fixed segments (delta, $value, actions) before the ``{id}`` catch-alls.
_FACTORIES = (
    delta_routes,
    action_routes,
    attachment_routes,
    upload_routes,
    message_routes,
    folder_routes,
    event_routes,
    batch_routes,
    user_routes,
)


def graph_routes(emu: Any) -> list[BaseRoute]:
    """Every Graph route, in matching order (see module docs)."""
    return [route for factory in _FACTORIES for route in factory(emu)]
