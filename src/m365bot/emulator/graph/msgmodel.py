"""Message properties from client JSON: validation with Graph's 400s and the full Graph shape
of a new message.

Writable properties are checked by name (case-sensitive, like OData) and by type; enum values
are accepted in any case and stored lowercase, as Graph returns them.

Example::

    patch = validate_message(body, where="message")        # 400 RequestBodyRead on bad input
    props = new_props(box, patch, now=emu.clock.now(), draft=True)
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from typing import Any

from m365bot.emulator.graph import store
from m365bot.emulator.graph.errors import GraphHTTPError
from m365bot.emulator.state import Mailbox

_RECIPIENT_LISTS = ("toRecipients", "ccRecipients", "bccRecipients", "replyTo")
_SINGLE = ("from", "sender")
WRITABLE = frozenset({
    "subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "from",
    "sender", "importance", "isRead", "isDeliveryReceiptRequested", "isReadReceiptRequested",
    "categories", "flag", "internetMessageHeaders", "inferenceClassification", "attachments",
    "singleValueExtendedProperties", "multiValueExtendedProperties", "@odata.type",
    "internetMessageId", "uniqueBody",
})
_ENUMS = {
    "importance": ("low", "normal", "high"),
    "inferenceClassification": ("focused", "other"),
}
_BOOLS = ("isRead", "isDeliveryReceiptRequested", "isReadReceiptRequested")
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+$")
_FLAGS = ("notflagged", "complete", "flagged")


def body_error(message: str) -> GraphHTTPError:
    return GraphHTTPError(400, "RequestBodyRead", message)


def _recipient(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise body_error(f"Invalid recipient in '{where}': expected "
                         '{"emailAddress": {"address": "..."}}.')
    email = value.get("emailAddress")
    if not isinstance(email, dict) or set(value) - {"emailAddress"}:
        raise body_error(f"Invalid recipient in '{where}': expected "
                         '{"emailAddress": {"address": "...", "name": "..."}}.')
    address = email.get("address")
    name = email.get("name")
    if set(email) - {"address", "name"} or not isinstance(address, str) or \
            (name is not None and not isinstance(name, str)):
        raise body_error(f"Invalid recipient in '{where}': emailAddress takes 'address' "
                         "(a string) and an optional 'name'.")
    return {"emailAddress": {"name": name if name else address, "address": address}}


def validate_message(body: Any, *, where: str = "message") -> dict[str, Any]:
    """Checked, normalised message properties from a request body (partial)."""
    if not isinstance(body, dict):
        raise body_error(f"The '{where}' value must be a JSON object.")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key not in WRITABLE:
            raise body_error(f"The property '{key}' does not exist on type "
                             "'microsoft.graph.message'. Make sure to only use property names "
                             "that are defined by the type.")
        if key == "@odata.type":
            if str(value).lstrip("#").lower() != "microsoft.graph.message":
                raise body_error(f"'{value}' is not a message type.")
            continue
        if key == "subject":
            if value is not None and not isinstance(value, str):
                raise body_error("'subject' must be a string.")
            out[key] = value or ""
        elif key in ("body", "uniqueBody"):
            if not isinstance(value, dict) or set(value) - {"contentType", "content"}:
                raise body_error(f"'{key}' must be {{\"contentType\": \"text|html\", "
                                 "\"content\": \"...\"}.")
            kind = str(value.get("contentType") or "text").lower()
            if kind not in ("text", "html"):
                raise body_error(f"Cannot convert the literal '{value.get('contentType')}' to "
                                 "the expected type 'microsoft.graph.bodyType'.")
            content = value.get("content") or ""
            if not isinstance(content, str):
                raise body_error(f"'{key}.content' must be a string.")
            out[key] = {"contentType": kind, "content": content}
        elif key in _RECIPIENT_LISTS:
            if value is None:
                value = []
            if not isinstance(value, list):
                raise body_error(f"'{key}' must be an array of recipients.")
            out[key] = [_recipient(v, key) for v in value]
        elif key in _SINGLE:
            out[key] = None if value is None else _recipient(value, key)
        elif key in _ENUMS:
            text = str(value).lower() if isinstance(value, str) else ""
            if text not in _ENUMS[key]:
                raise body_error(f"Cannot convert the literal '{value}' to the expected type "
                                 f"'microsoft.graph.{key}'.")
            out[key] = text
        elif key in _BOOLS:
            if not isinstance(value, bool) and value is not None:
                raise body_error(f"'{key}' must be true or false.")
            out[key] = value
        elif key == "categories":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise body_error("'categories' must be an array of strings.")
            out[key] = list(value)
        elif key == "flag":
            out[key] = _flag(value)
        elif key == "internetMessageHeaders":
            if not isinstance(value, list) or not all(
                    isinstance(h, dict) and isinstance(h.get("name"), str)
                    and isinstance(h.get("value"), str) for h in value):
                raise body_error("'internetMessageHeaders' must be an array of "
                                 '{"name": "...", "value": "..."}.')
            for h in value:
                if not h["name"].lower().startswith("x-"):
                    raise GraphHTTPError(400, "InvalidInternetMessageHeader",
                                         f"The internet message header name '{h['name']}' "
                                         "should start with 'x-' or 'X-'.")
            out[key] = [{"name": h["name"], "value": h["value"]} for h in value]
        elif key == "attachments":
            if not isinstance(value, list):
                raise body_error("'attachments' must be an array.")
            out[key] = value
        elif key == "internetMessageId":
            if not isinstance(value, str):
                raise body_error("'internetMessageId' must be a string.")
            out[key] = value
        else:
            out[key] = value
    return out


def _flag(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise body_error("'flag' must be an object like {\"flagStatus\": \"flagged\"}.")
    allowed = {"flagStatus", "startDateTime", "dueDateTime", "completedDateTime"}
    if set(value) - allowed:
        raise body_error(f"'flag' takes only {sorted(allowed)}.")
    out = dict(value)
    status = str(value.get("flagStatus", "notFlagged"))
    if status.lower() not in _FLAGS:
        raise body_error(f"Cannot convert the literal '{status}' to the expected type "
                         "'microsoft.graph.followupFlagStatus'.")
    out["flagStatus"] = {"notflagged": "notFlagged", "complete": "complete",
                         "flagged": "flagged"}[status.lower()]
    return out


def who(box: Mailbox) -> dict[str, Any]:
    return {"emailAddress": {"name": box.display_name, "address": box.address}}


def resolve_names(state: Any, props: dict[str, Any]) -> None:
    """Give every sender and recipient in the directory its display name, as Exchange does
    when it resolves a message on send; unknown addresses keep the name they were given
    (the address itself when none was)."""
    for key in ("from", "sender", *_RECIPIENT_LISTS):
        value = props.get(key)
        for recipient in value if isinstance(value, list) else [value] if value else []:
            email = recipient["emailAddress"]
            if email.get("name") not in (None, "", email.get("address")):
                continue
            address = str(email.get("address") or "")
            found = state.user_by_upn(address) or state.mailbox(address)
            if found is not None:
                email["name"] = found.display_name


_FILETIME_EPOCH = 11644473600  # seconds from 1601-01-01 to 1970-01-01


def _filetime(now: float) -> int:
    return int((now + _FILETIME_EPOCH) * 10_000_000)


def new_conversation(box: Mailbox, now: float) -> dict[str, str]:
    """``conversationId`` and ``conversationIndex`` of a new thread, formed as Exchange forms
    them (MS-OXOMSG PidTagConversationIndex): the index is standard base64 of a 22-byte header
    (the 6 high bytes of the FILETIME, then the conversation GUID), the id is URL-safe base64
    naming the mailbox and the same GUID. Real pair (learn.microsoft.com/graph/api/message-get):
    ``AdHGUGl6hj/7Ze4dRROcLj0hVzbH1w==`` and ``AAQkAGNjYjZl…AAQAIY-_2XuHUUTnC49IVc2x9c=``."""
    guid = uuid.uuid4().bytes
    header = struct.pack(">Q", _filetime(now))[:6] + guid
    owner = (box.id or str(uuid.uuid4())).encode("ascii", "replace")[:36].ljust(36, b"0")
    raw_id = b"\x00\x04\x24\x00" + owner + b"\x00\x10\x00" + guid
    return {"conversationId": base64.urlsafe_b64encode(raw_id).decode("ascii"),
            "conversationIndex": base64.b64encode(header).decode("ascii")}


def reply_index(parent: Any, now: float) -> str:
    """The ``conversationIndex`` of a reply or forward: the parent's plus a 5-byte child block
    (time since the header in 2**18 FILETIME units, MS-OXOMSG 2.2.1.3)."""
    try:
        raw = base64.b64decode(str(parent), validate=True)
    except ValueError:
        raw = b""
    if len(raw) < 22:
        return str(parent)
    start = int.from_bytes(raw[:6] + b"\x00\x00", "big")
    delta = max(0, _filetime(now) - start) >> 18
    block = ((delta & 0x7FFFFFFF) << 8 | uuid.uuid4().bytes[0] & 0xF0).to_bytes(5, "big")
    return base64.b64encode(raw + block).decode("ascii")


def all_recipients(props: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key in ("toRecipients", "ccRecipients", "bccRecipients"):
        for r in props.get(key) or []:
            out.append(str(r["emailAddress"]["address"]))
    return out


def check_recipients(props: dict[str, Any]) -> None:
    """ErrorInvalidRecipients unless there is at least one recipient and all look valid."""
    addresses = all_recipients(props)
    if not addresses:
        raise GraphHTTPError(400, "ErrorInvalidRecipients",
                             "At least one recipient is not valid., A message can't be sent "
                             "because it contains no recipients.", inner=False)
    for a in addresses:
        if not _ADDRESS.match(a):
            raise GraphHTTPError(400, "ErrorInvalidRecipients",
                                 f"At least one recipient is not valid., Recipient '{a}' is not "
                                 "resolved. All recipients must be resolved before a message "
                                 "can be submitted.", inner=False)


def new_props(box: Mailbox, patch: dict[str, Any], *, now: float, draft: bool) -> dict[str, Any]:
    """A complete Graph message shape from validated ``patch`` (attachments excluded)."""
    stamp = store.iso(now)
    body = patch.get("body") or {"contentType": "text", "content": ""}
    props: dict[str, Any] = {
        "createdDateTime": stamp,
        "lastModifiedDateTime": stamp,
        "changeKey": store.new_change_key(),
        "categories": patch.get("categories", []),
        "receivedDateTime": stamp,
        "sentDateTime": None if draft else stamp,
        "hasAttachments": False,
        "internetMessageId": patch.get("internetMessageId")
        or f"<{uuid.uuid4().hex.upper()}@{box.address.split('@')[-1]}>",
        "subject": patch.get("subject", ""),
        "bodyPreview": store.preview(body),
        "importance": patch.get("importance", "normal"),
        **new_conversation(box, now),
        "isDeliveryReceiptRequested": patch.get("isDeliveryReceiptRequested", False),
        "isReadReceiptRequested": patch.get("isReadReceiptRequested", False),
        "isRead": patch.get("isRead", True),
        "isDraft": draft,
        "webLink": "",
        "inferenceClassification": patch.get("inferenceClassification", "focused"),
        "body": body,
        "sender": patch.get("sender") or (None if draft else who(box)),
        "from": patch.get("from") or (None if draft else who(box)),
        "toRecipients": patch.get("toRecipients", []),
        "ccRecipients": patch.get("ccRecipients", []),
        "bccRecipients": patch.get("bccRecipients", []),
        "replyTo": patch.get("replyTo", []),
        "flag": patch.get("flag", {"flagStatus": "notFlagged"}),
    }
    if patch.get("internetMessageHeaders"):
        props["internetMessageHeaders"] = patch["internetMessageHeaders"]
    for ext in ("singleValueExtendedProperties", "multiValueExtendedProperties"):
        if ext in patch:
            props[ext] = patch[ext]
    return props


def apply_patch(props: dict[str, Any], patch: dict[str, Any]) -> None:
    """Merge validated properties into ``props`` (attachments are not patchable)."""
    if "attachments" in patch:
        raise body_error("'attachments' cannot be changed with PATCH; use the attachments "
                         "endpoints.")
    props.update(patch)
    if "body" in patch:
        props["bodyPreview"] = store.preview(patch["body"])
