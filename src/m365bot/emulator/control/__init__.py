"""Realism knobs and inspection: faults, throttling, latency settings, request records.

``emu.control`` is a :class:`Control`; its REST form lives under ``/_emulator/`` (api.py).

Example::

    emu.control.add_fault(op="sendMail", kind="apply_then_status", status=504, nth=1)
    emu.control.count("sendMail")
"""

from m365bot.emulator.control.core import ConnectionDropped, Control, DropConnection
from m365bot.emulator.control.settings import EmulatorSettings, SettingsError, ThrottleSettings

__all__ = [
    "ConnectionDropped",
    "Control",
    "DropConnection",
    "EmulatorSettings",
    "SettingsError",
    "ThrottleSettings",
]
