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
