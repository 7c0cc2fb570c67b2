"""Seeding and inspection for the move/copy/delete, bulk and attachment tests: messages put
straight into the emulator's state, and where each one is now (by internetMessageId)."""

from __future__ import annotations

from typing import Any

from outlook_support import HANS


def seed(emulator: Any, n: int, *, folder: str = "inbox", box: str = HANS,
         attachments: list[dict[str, Any]] | None = None, prefix: str = "Mail") -> list[str]:
    """``n`` messages in ``folder``; their internetMessageIds, oldest first."""
    from m365bot.emulator.graph.seed import seed_message

    mailbox = emulator.state.mailbox(box)
    out = []
    with emulator.state.lock:
        for i in range(n):
            msg = seed_message(emulator.state, mailbox, {
                "folder": folder, "subject": f"{prefix} {i}", "from": "shop@kunde.example",
                "to": [box], "body": f"Body {i}", "is_read": False,
                "received": f"2026-11-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "attachments": list(attachments or [])})
            out.append(msg.props["internetMessageId"])
    return out


def folder_id(emulator: Any, name: str, box: str = HANS) -> str:
    """The id of a well-known folder or of a folder by display name."""
    from m365bot.emulator.graph import store

    mailbox = emulator.state.mailbox(box)
    with emulator.state.lock:
        if name.lower() in store.WELL_KNOWN_NAMES:
            return str(store.well_known(mailbox, name.lower()).id)
        return next(f.id for f in mailbox.folders.values() if f.display_name == name)


def placement(emulator: Any, imids: list[str], box: str = HANS) -> dict[str, list[str]]:
    """internetMessageId -> the folder ids of every message carrying it (copies included)."""
    mailbox = emulator.state.mailbox(box)
    wanted = set(imids)
    out: dict[str, list[str]] = {i: [] for i in imids}
    with emulator.state.lock:
        for m in mailbox.messages.values():
            imid = m.props.get("internetMessageId")
            if imid in wanted:
                out[imid].append(m.folder_id)
    return out


def message(emulator: Any, imid: str, box: str = HANS) -> Any:
    mailbox = emulator.state.mailbox(box)
    with emulator.state.lock:
        return next(m for m in mailbox.messages.values()
                    if m.props.get("internetMessageId") == imid)


def attach(emulator: Any, imid: str, kind: str, name: str, data: bytes = b"",
           box: str = HANS) -> str:
    """Add a file, item (an attached email) or reference attachment; its id."""
    import time

    from m365bot.emulator.graph import attachstore as store
    from m365bot.emulator.state import Attachment

    with emulator.state.lock:
        msg = message(emulator, imid, box)
        if kind == "file":
            att = store.new_file_attachment(name, data, None, False, time.time())
        elif kind == "item":
            att = Attachment(id=store.new_attachment_id(), props={
                "@odata.type": store.ITEM, "name": name, "contentType": "message/rfc822",
                "size": 100, "isInline": False, "lastModifiedDateTime": store.iso(time.time()),
                "item": {"@odata.type": "#microsoft.graph.message", "subject": name,
                         "body": {"contentType": "text", "content": "inner body"},
                         "from": {"emailAddress": {"address": "inner@kunde.example"}}}})
        else:
            att = Attachment(id=store.new_attachment_id(), props={
                "@odata.type": store.REFERENCE, "name": name, "size": 0, "isInline": False,
                "contentType": None, "lastModifiedDateTime": store.iso(time.time())})
        msg.attachments.append(att)
        store.sync_has_attachments(msg)
        return att.id
