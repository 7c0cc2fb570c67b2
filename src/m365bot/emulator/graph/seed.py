"""Seed a mailbox from a scenario's ``mailbox:`` spec: folders, messages with attachments,
and events (handed to the calendar code).

Spec keys::

    folders:  [{name: Projects, parent: inbox, hidden: false, children: [{name: Archive2026}]}]
    folder_names: {inbox: Posteingang, sentitems: Gesendete Elemente}   # a localized mailbox
    messages: [{folder: inbox | <folder name>, subject, from, to: [..], cc: [..],
                body, body_type: text|html, received: 2026-11-20T09:00:00Z, is_read,
                importance, categories: [..], is_draft, flagged,
                attachments: [{name, content_type, content | content_base64}]}]
    events:   [{subject, start, end, time_zone, location, attendees: [..]}]

Example::

    seed_mailbox(state, box, {"messages": [{"subject": "Hi", "from": "bob@contoso.com"}]})
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from typing import Any

from m365bot.emulator.errors import ScenarioError
from m365bot.emulator.graph import msgmodel, store
from m365bot.emulator.graph.queryprops import to_epoch
from m365bot.emulator.state import Attachment, Folder, Mailbox, Message, State

log = logging.getLogger(__name__)

_MESSAGE_KEYS = frozenset({"folder", "subject", "from", "to", "cc", "bcc", "body", "body_type",
                           "received", "is_read", "importance", "categories", "is_draft",
                           "flagged", "attachments"})


def _error(where: str, message: str) -> Exception:
    return ScenarioError(where, message)


def _folder_by_name(box: Mailbox, name: str, where: str) -> Folder:
    key = name.lower()
    if key in store.WELL_KNOWN_NAMES:
        return store.well_known(box, key)
    for f in box.folders.values():
        if f.display_name.lower() == key:
            return f
    raise _error(where, f"no folder named '{name}' (use a well-known name like inbox, or a "
                        "folder declared under folders:)")


def _add_folders(box: Mailbox, specs: Any, parent: Folder | None, where: str) -> None:
    if not isinstance(specs, list):
        raise _error(where, "expected a list of folders")
    for i, spec in enumerate(specs):
        w = f"{where}[{i}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise _error(w, "expected {name: ..., parent: inbox, children: [...]}")
        unknown = set(spec) - {"name", "parent", "children", "hidden"}
        if unknown:
            raise _error(w, f"unknown keys {sorted(unknown)}")
        if parent is not None:
            where_parent = parent
        else:
            where_parent = _folder_by_name(box, str(spec.get("parent") or "msgfolderroot"), w)
        folder = Folder(id=store.new_folder_id(box), display_name=spec["name"],
                        parent_id=where_parent.id, is_hidden=bool(spec.get("hidden", False)))
        box.folders[folder.id] = folder
        if spec.get("children"):
            _add_folders(box, spec["children"], folder, f"{w}.children")


def _localize(box: Mailbox, names: Any, where: str) -> None:
    """Well-known folders under the display names of the mailbox's language, as Exchange
    names them (a German mailbox's Inbox is "Posteingang"; its well-known name stays inbox)."""
    if not isinstance(names, dict):
        raise _error(where, "expected {well-known name: display name}, e.g. {inbox: Posteingang}")
    for key, display in names.items():
        if str(key).lower() not in store.WELL_KNOWN_NAMES or not isinstance(display, str) \
                or not display.strip():
            raise _error(f"{where}.{key}", "expected a well-known folder name (inbox, "
                         "sentitems, ...) and a non-empty display name")
        store.well_known(box, str(key).lower()).display_name = display.strip()


def _addr(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, str) or "@" not in value:
        raise _error(where, f"expected an email address, got {value!r}")
    return {"emailAddress": {"name": value, "address": value}}


def _attachments(specs: Any, where: str, now: float) -> list[Attachment]:
    from m365bot.emulator.graph.attachstore import new_attachment_id

    if not isinstance(specs, list):
        raise _error(where, "expected a list of attachments")
    out = []
    for i, spec in enumerate(specs):
        w = f"{where}[{i}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise _error(w, "expected {name, content_type, content | content_base64}")
        if "content_base64" in spec:
            try:
                data = base64.b64decode(str(spec["content_base64"]), validate=True)
            except (binascii.Error, ValueError):
                raise _error(f"{w}.content_base64", "not valid base64") from None
        else:
            data = str(spec.get("content", "")).encode("utf-8")
        out.append(Attachment(id=new_attachment_id(), props={
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": spec["name"],
            "contentType": str(spec.get("content_type") or "application/octet-stream"),
            "size": len(data),
            "isInline": False,
            "lastModifiedDateTime": store.iso(now),
            "contentId": None,
            "contentLocation": None,
            "contentBytes": base64.b64encode(data).decode("ascii"),
        }))
    return out


def seed_message(state: State, box: Mailbox, spec: dict[str, Any], where: str = "message",
                 now: float | None = None) -> Message:
    """Add one message from a spec (see module docs); callers hold ``state.lock``."""
    now = time.time() if now is None else now
    unknown = set(spec) - _MESSAGE_KEYS
    if unknown:
        raise _error(where, f"unknown keys {sorted(unknown)}; allowed: {sorted(_MESSAGE_KEYS)}")
    folder = _folder_by_name(box, str(spec.get("folder") or "inbox"), f"{where}.folder")
    received = now
    if spec.get("received") is not None:
        stamp = to_epoch(str(spec["received"]))
        if stamp is None:
            raise _error(f"{where}.received", "expected a date like 2026-11-20T09:00:00Z")
        received = stamp
    for key in ("to", "cc", "bcc", "categories", "attachments"):
        if spec.get(key) is not None and not isinstance(spec[key], list):
            raise _error(f"{where}.{key}", "expected a list")
    patch: dict[str, Any] = {
        "subject": str(spec.get("subject") or ""),
        "body": {"contentType": str(spec.get("body_type") or "text").lower(),
                 "content": str(spec.get("body") or "")},
        "toRecipients": [_addr(a, f"{where}.to") for a in spec.get("to") or []],
        "ccRecipients": [_addr(a, f"{where}.cc") for a in spec.get("cc") or []],
        "bccRecipients": [_addr(a, f"{where}.bcc") for a in spec.get("bcc") or []],
        "importance": str(spec.get("importance") or "normal").lower(),
        "categories": [str(c) for c in spec.get("categories") or []],
    }
    if patch["importance"] not in ("low", "normal", "high"):
        raise _error(f"{where}.importance", "expected low, normal or high")
    draft = bool(spec.get("is_draft", False))
    props = msgmodel.new_props(box, patch, now=received, draft=draft)
    sender = _addr(spec["from"], f"{where}.from") if spec.get("from") else msgmodel.who(box)
    props.update({"from": sender, "sender": sender,
                  "isRead": bool(spec.get("is_read", draft))})
    msgmodel.resolve_names(state, props)
    if spec.get("flagged"):
        props["flag"] = {"flagStatus": "flagged"}
    atts = _attachments(spec.get("attachments") or [], f"{where}.attachments", received)
    props["hasAttachments"] = bool(atts)
    mid = store.new_message_id(box)
    msg = Message(id=mid, immutable_id=store.new_immutable_id(box), folder_id=folder.id,
                  props=props, attachments=atts, seq=state.next_seq())
    box.messages[mid] = msg
    return msg


def seed_mailbox(state: State, box: Mailbox, spec: dict[str, Any]) -> None:
    """Create the well-known folders, then the spec's folders, messages and events."""
    with state.lock:
        store.ensure_well_known_folders(box)
        if not spec:
            return
        unknown = set(spec) - {"folders", "folder_names", "messages", "events"}
        if unknown:
            raise _error(f"{box.address}.mailbox", f"unknown keys {sorted(unknown)}")
        if spec.get("folder_names"):
            _localize(box, spec["folder_names"], f"{box.address}.mailbox.folder_names")
        if spec.get("folders"):
            _add_folders(box, spec["folders"], None, f"{box.address}.mailbox.folders")
        now = time.time()
        for i, m in enumerate(spec.get("messages") or []):
            where = f"{box.address}.mailbox.messages[{i}]"
            if not isinstance(m, dict):
                raise _error(where, "expected a mapping")
            seed_message(state, box, m, where, now)
        events = spec.get("events") or []
        if events:
            _seed_events(state, box, events, now)


def _seed_events(state: State, box: Mailbox, events: list[Any], now: float) -> None:
    from m365bot.emulator.graph.errors import GraphHTTPError

    try:
        from m365bot.emulator.graph.meeting import seed_event
    except ImportError:  # pragma: no cover - calendar code not present
        log.warning("calendar code unavailable; events are not seeded")
        return
    for i, e in enumerate(events):
        where = f"{box.address}.mailbox.events[{i}]"
        if not isinstance(e, dict) or "start" not in e or "end" not in e:
            raise _error(where, "expected {subject, start, end, time_zone, ...}")
        try:
            seed_event(state, box, e, now)
        except GraphHTTPError as exc:
            raise _error(where, exc.message) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _error(where, f"not a valid event ({type(exc).__name__}); expected subject, "
                                "start, end, time_zone, location, attendees") from None
