"""Helpers for the send tests: what a recipient's mailbox holds (by the message's
internetMessageId), and the attachments that arrived, read from the emulator's state."""

from __future__ import annotations

import base64
from typing import Any

ALICE = "alice@contoso.onmicrosoft.com"
BOB = "bob@contoso.onmicrosoft.com"
OUTSIDE = "carol@fabrikam.example"


def copies(emulator: Any, address: str, marker: str, folder: str | None = None) -> list[Any]:
    """The messages in ``address``'s mailbox (in ``folder``, a well-known name) that carry
    ``marker`` as internetMessageId."""
    from m365bot.emulator.graph import store

    with emulator.state.lock:
        box = emulator.state.mailbox(address)
        wanted = store.well_known(box, folder).id if folder else None
        return [m for m in box.messages.values()
                if m.props.get("internetMessageId") == marker
                and (wanted is None or m.folder_id == wanted)]


def received(emulator: Any, address: str, marker: str) -> list[Any]:
    """What ``address`` got in its Inbox."""
    return copies(emulator, address, marker, "inbox")


def attachment_bytes(message: Any) -> dict[str, bytes]:
    return {a.props["name"]: base64.b64decode(a.props["contentBytes"])
            for a in message.attachments}
