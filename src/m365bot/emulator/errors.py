"""The root of the emulator's own errors: catch :class:`EmulatorError` to catch any of them.

Example::

    try:
        Emulator.start(scenario="broken.yaml")
    except EmulatorError as exc:
        print(f"Error: {exc}")
"""

from __future__ import annotations


class EmulatorError(Exception):
    """The emulator cannot do what was asked; the message says why and how to fix it."""


class ScenarioError(EmulatorError, ValueError):
    """A scenario that cannot be used; ``field`` is a path like ``tenants[0].apps[1].cloud``.

    (Here rather than in :mod:`m365bot.emulator.scenario`, so the Graph seeding that the
    scenario loader calls can raise it without importing the loader back.)
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"scenario field {field}: {message}")
        self.field = field
        self.message = message
