"""Attachment data for the Graph emulator: ids, validation of new attachments, their Graph
shape, and the raw bytes ``$value`` returns.

No I/O and no routing: ``attachments.py`` and ``upload.py`` use these.

Example::

    att = new_file_attachment(message, name="a.pdf", data=b"%PDF", content_type="application/pdf",
                              now=emu.clock.now())
    shape(att)          # {"@odata.type": "#microsoft.graph.fileAttachment", "id": ..., ...}
    raw_value(att)      # (b"%PDF", "application/pdf")
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import time
import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.state import Attachment, Message

FILE = "#microsoft.graph.fileAttachment"
ITEM = "#microsoft.graph.itemAttachment"
REFERENCE = "#microsoft.graph.referenceAttachment"
INLINE_LIMIT = 3 * 1024 * 1024  # POST .../attachments takes attachments under 3 MB
_ID_RE = re.compile(r"^[A-Za-z0-9+/=_-]{8,400}$")
_ALLOWED = {
    FILE: {"@odata.type", "name", "contentType", "contentBytes", "contentId", "contentLocation",
           "isInline", "size", "lastModifiedDateTime", "id"},
    ITEM: {"@odata.type", "name", "contentType", "item", "isInline", "size",
           "lastModifiedDateTime", "id"},
}


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def new_attachment_id() -> str:
    """An Outlook-looking attachment id (base64 of 'AAMkA' + random bytes)."""
    raw = b"\x00\x03\x2e\x00" + uuid.uuid4().bytes + uuid.uuid4().bytes
    return "AAMkA" + base64.b64encode(raw).decode().replace("/", "-").replace("+", "_")


def check_id(value: str) -> None:
    """ErrorInvalidIdMalformed for ids that cannot be Outlook ids."""
    if not _ID_RE.match(value or ""):
        raise GraphHTTPError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def find(message: Message, attachment_id: str) -> Attachment:
    check_id(attachment_id)
    for att in message.attachments:
        if att.id == attachment_id:
            return att
    raise GraphHTTPError(404, "ErrorItemNotFound",
                         "The specified object was not found in the store.")


def shape(att: Attachment, *, include_bytes: bool = True) -> dict[str, Any]:
    """The attachment as Graph returns it (``contentBytes`` omitted in lists if asked)."""
    out: dict[str, Any] = {"@odata.type": att.props.get("@odata.type", FILE), "id": att.id}
    for key, value in att.props.items():
        if key == "@odata.type" or (key == "contentBytes" and not include_bytes):
            continue
        out[key] = value
    return out


def sync_has_attachments(message: Message) -> None:
    """hasAttachments is true when any non-inline attachment exists (Outlook's rule)."""
    message.props["hasAttachments"] = any(
        not a.props.get("isInline") for a in message.attachments
    )


def _lower_keys(body: dict[str, Any]) -> dict[str, Any]:
    return {k if k.startswith("@") else k[:1].lower() + k[1:]: v for k, v in body.items()}


def _str(body: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"The property '{name}' is required to create an attachment.")
        return None
    if not isinstance(value, str):
        raise bad_request(f"The property '{name}' must be a string.")
    return value


def parse_new(body: Any, now: float) -> dict[str, Any]:
    """Validate a ``POST .../attachments`` body; returns the props to store.

    File attachments need ``name`` and ``contentBytes`` (base64, under 3 MB); item
    attachments need ``item`` with an embedded message.

    Example::

        parse_new({"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt",
                   "contentBytes": "aGk="}, now)
    """
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object describing an attachment.")
    body = _lower_keys(body)
    kind = body.get("@odata.type")
    if not isinstance(kind, str):
        raise bad_request("The property '@odata.type' is required: "
                          "#microsoft.graph.fileAttachment or #microsoft.graph.itemAttachment.")
    kind = "#" + kind.lstrip("#")
    if kind.lower() == FILE.lower():
        kind = FILE
    elif kind.lower() == ITEM.lower():
        kind = ITEM
    elif kind.lower() == REFERENCE.lower():
        raise bad_request("referenceAttachment is not supported by this emulator.")
    else:
        raise bad_request(f"Unknown attachment type '{kind}'; use "
                          "#microsoft.graph.fileAttachment or #microsoft.graph.itemAttachment.")
    unknown = sorted(set(body) - _ALLOWED[kind])
    if unknown:
        raise bad_request(f"The property '{unknown[0]}' does not exist on type "
                          f"'{kind.lstrip('#')}'. Make sure to only use property names "
                          "that are defined by the type.")
    inline = body.get("isInline", False)
    if not isinstance(inline, bool):
        raise bad_request("The property 'isInline' must be true or false.")
    props: dict[str, Any] = {"@odata.type": kind, "lastModifiedDateTime": iso(now),
                             "isInline": inline}
    if kind == FILE:
        name = _str(body, "name", required=True)
        b64 = _str(body, "contentBytes", required=True) or ""
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad_request("The property 'contentBytes' is not valid base64.") from exc
        if len(data) >= INLINE_LIMIT:
            raise GraphHTTPError(
                413, "ErrorRequestEntityTooLarge",
                "The attachment is too large for this request; attachments of 3 MB or more "
                "need an upload session (attachments/createUploadSession).")
        props.update(name=name, contentType=_str(body, "contentType") or guess_type(name or ""),
                     size=len(data), contentBytes=base64.b64encode(data).decode(),
                     contentId=_str(body, "contentId"),
                     contentLocation=_str(body, "contentLocation"))
        return props
    item = body.get("item")
    if not isinstance(item, dict):
        raise bad_request("An itemAttachment needs 'item': the embedded message "
                          "(with \"@odata.type\": \"#microsoft.graph.message\").")
    item = _lower_keys(item)
    itype = str(item.get("@odata.type", "#microsoft.graph.message")).lstrip("#").lower()
    if itype not in ("microsoft.graph.message", "microsoft.graph.event"):
        raise bad_request("The embedded 'item' must be a #microsoft.graph.message or event.")
    item["@odata.type"] = "#" + ("microsoft.graph.message" if itype.endswith("message")
                                 else "microsoft.graph.event")
    name = _str(body, "name") or str(item.get("subject") or "Untitled")
    props.update(name=name, contentType=_str(body, "contentType") or "message/rfc822",
                 item=item)
    props["size"] = len(item_mime(props).encode())
    return props


def new_file_attachment(name: str, data: bytes, content_type: str | None, is_inline: bool,
                        now: float) -> Attachment:
    """A file attachment built from uploaded bytes (upload sessions)."""
    return Attachment(id=new_attachment_id(), props={
        "@odata.type": FILE, "lastModifiedDateTime": iso(now), "name": name,
        "contentType": content_type or guess_type(name), "size": len(data),
        "isInline": is_inline, "contentId": None, "contentLocation": None,
        "contentBytes": base64.b64encode(data).decode(),
    })


def guess_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _addr(value: Any) -> str:
    if isinstance(value, dict):
        ea = value.get("emailAddress") if "emailAddress" in value else value
        if isinstance(ea, dict):
            address, name = str(ea.get("address") or ""), str(ea.get("name") or "")
            return f'"{name}" <{address}>' if name else address
    return ""


def item_mime(props: dict[str, Any]) -> str:
    """RFC 822 text of an item attachment's embedded message (its ``$value``)."""
    item = props.get("item") or {}
    msg = EmailMessage()
    msg["Subject"] = str(item.get("subject") or "")
    sender = _addr(item.get("from") or item.get("sender"))
    if sender:
        msg["From"] = sender
    for header, key in (("To", "toRecipients"), ("Cc", "ccRecipients")):
        rcpts = [a for a in (_addr(r) for r in item.get(key) or []) if a]
        if rcpts:
            msg[header] = ", ".join(rcpts)
    sent = item.get("sentDateTime") or item.get("receivedDateTime")
    if isinstance(sent, str):
        with contextlib.suppress(ValueError):
            msg["Date"] = format_datetime(datetime.fromisoformat(sent.replace("Z", "+00:00")))
    msg["MIME-Version"] = "1.0"
    raw_body = item.get("body")
    body: dict[str, Any] = raw_body if isinstance(raw_body, dict) else {}
    content = str(body.get("content") or "")
    subtype = "html" if str(body.get("contentType", "text")).lower() == "html" else "plain"
    msg.set_content(content, subtype=subtype)
    return msg.as_string()


def raw_value(att: Attachment) -> tuple[bytes, str]:
    """(bytes, media type) of ``GET .../attachments/{id}/$value``."""
    if att.props.get("@odata.type") == ITEM:
        return item_mime(att.props).encode(), "message/rfc822"
    data = base64.b64decode(att.props.get("contentBytes") or "")
    return data, str(att.props.get("contentType") or "application/octet-stream")

