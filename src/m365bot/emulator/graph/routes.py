"""All Graph routes the emulator mounts: users, mail (messages, actions, folders, delta) and
the calendar, attachment, upload-session and ``$batch`` routes of their own modules.

A module that is missing or broken is logged and skipped, so the rest still serves.

Example::

    app = Starlette(routes=graph_routes(emu))
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from starlette.routing import BaseRoute

log = logging.getLogger(__name__)

# Order matters: fixed segments (delta, $value, actions) before the ``{id}`` catch-alls.
_FACTORIES = (
    "m365bot.emulator.graph.delta:delta_routes",
    "m365bot.emulator.graph.actions:action_routes",
    "m365bot.emulator.graph.attachments:attachment_routes",
    "m365bot.emulator.graph.upload:upload_routes",
    "m365bot.emulator.graph.messages:message_routes",
    "m365bot.emulator.graph.folders:folder_routes",
    "m365bot.emulator.graph.events:event_routes",
    "m365bot.emulator.graph.batch:batch_routes",
    "m365bot.emulator.graph.users:user_routes",
)


def graph_routes(emu: Any) -> list[BaseRoute]:
    """Every Graph route, in matching order (see module docs)."""
    routes: list[BaseRoute] = []
    for target in _FACTORIES:
        module_name, attr = target.split(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            log.warning("%s is not available; its routes are not mounted", target)
            continue
        routes.extend(factory(emu))
    return routes
