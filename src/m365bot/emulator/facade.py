"""What the HTTP side (app.py, the control API, the route factories) needs of an emulator.

The runtime builds the app; the app only sees this face of it, so the imports run one way:
runtime -> app -> control, never back.

Example::

    def create_app(emu: EmulatorFacade) -> EmulatorApp: ...
"""

from __future__ import annotations

from typing import Any, Protocol

from m365bot.emulator.clock import Clock
from m365bot.emulator.control.core import Control
from m365bot.emulator.control.settings import EmulatorSettings
from m365bot.emulator.state import State
from m365bot.emulator.tokens import Tokens


class EmulatorFacade(Protocol):
    """The emulator as its app sees it (:class:`m365bot.emulator.runtime.Emulator`)."""

    state: State
    clock: Clock
    tokens: Tokens
    settings: EmulatorSettings
    control: Control

    @property
    def info(self) -> dict[str, Any]:
        """Ports, URLs, CA bundle and the seeded identities."""
        ...

    def reset(self) -> None:
        """Back to the scenario's initial world."""
        ...

    def state_changed(self) -> None:
        """A write was applied (schedules a save under ``--state``)."""
        ...
