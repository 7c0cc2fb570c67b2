"""An offline emulator of Entra ID v2.0 and Microsoft Graph v1.0 (mail and calendar).

Example::

    from m365bot.emulator import Emulator

    with Emulator.start(scenario="demo") as emu:
        info = emu.info     # ports, proxy URL, CA bundle, tenants, apps, users

Heavy parts (Hypercorn, cryptography) load only when :class:`Emulator` is first used; without
the ``m365bot[emulator]`` extra that first use raises one ConfigError saying how to install it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from m365bot.emulator.runtime import Emulator

__all__ = ["Emulator"]


def __getattr__(name: str) -> Any:
    if name == "Emulator":
        from m365bot.extras import require_extra

        require_extra("emulator", "m365bot.emulator.Emulator")
        from m365bot.emulator.runtime import Emulator

        return Emulator
    raise AttributeError(name)
