"""RFC 822 for messages: generate ``$value`` and parse the MIME form of ``sendMail``.

Uses the standard library's :mod:`email` package only.

Example::

    raw = to_mime(message)                       # bytes, CRLF line ends
    props, attachments = parse_mime(raw)         # Graph-shaped props + attachment props
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from typing import Any

from m365bot.emulator.graph import store
from m365bot.emulator.graph.errors import GraphHTTPError
from m365bot.emulator.graph.queryprops import to_epoch
from m365bot.emulator.state import Message

MIME_INVALID = GraphHTTPError(400, "ErrorMimeContentInvalidBase64String",
                              "Invalid base64 string for MIME content.")


def _format(recipients: Any) -> str:
    out: list[str] = []
    items = recipients if isinstance(recipients, list) else [recipients] if recipients else []
    for r in items:
        email = (r or {}).get("emailAddress") or {}
        address = str(email.get("address") or "")
        name = str(email.get("name") or "")
        if not address:
            continue
        try:
            user, _, domain = address.partition("@")
            out.append(str(Address(display_name=name if name != address else "",
                                   username=user, domain=domain)))
        except (ValueError, IndexError, TypeError):
            out.append(address)
    return ", ".join(out)


def _set(em: EmailMessage, name: str, value: str) -> None:
    """Set a header; CR/LF never reach the wire (no header injection), odd values are kept
    as plain text rather than failing the whole message."""
    clean = " ".join(str(value).splitlines())
    try:
        em[name] = clean
    except (ValueError, TypeError, IndexError):
        with contextlib.suppress(ValueError, TypeError, IndexError):
            em[name] = clean.encode("ascii", "replace").decode("ascii")


def to_mime(msg: Message) -> bytes:
    """The message as RFC 822 bytes (with its file attachments)."""
    if msg.mime:
        try:
            return base64.b64decode(msg.mime)
        except (binascii.Error, ValueError):
            pass
    props = msg.props
    em = EmailMessage(policy=policy.SMTP)
    for header, key in (("From", "from"), ("Sender", "sender"), ("To", "toRecipients"),
                        ("Cc", "ccRecipients"), ("Reply-To", "replyTo")):
        value = _format(props.get(key))
        if value and not (header == "Sender" and value == _format(props.get("from"))):
            _set(em, header, value)
    _set(em, "Subject", str(props.get("subject") or ""))
    stamp = to_epoch(str(props.get("sentDateTime") or props.get("receivedDateTime") or ""))
    if stamp is not None:
        from datetime import UTC, datetime

        em["Date"] = format_datetime(datetime.fromtimestamp(stamp, UTC))
    if props.get("internetMessageId"):
        _set(em, "Message-ID", str(props["internetMessageId"]))
    importance = str(props.get("importance") or "normal")
    if importance != "normal":
        _set(em, "Importance", importance)
    for h in props.get("internetMessageHeaders") or []:
        _set(em, str(h.get("name") or "X-Empty"), str(h.get("value") or ""))
    body = props.get("body") or {}
    content = str(body.get("content") or "")
    if str(body.get("contentType", "text")).lower() == "html":
        em.set_content(store.html_to_text(content))
        em.add_alternative(content, subtype="html")
    else:
        em.set_content(content)
    for att in msg.attachments:
        data_b64 = att.props.get("contentBytes")
        if not isinstance(data_b64, str):
            continue
        try:
            data = base64.b64decode(data_b64)
        except (binascii.Error, ValueError):
            continue
        ctype = str(att.props.get("contentType") or "application/octet-stream")
        maintype, _, subtype = ctype.partition("/")
        em.add_attachment(data, maintype=maintype or "application",
                          subtype=subtype or "octet-stream",
                          filename=str(att.props.get("name") or "attachment"))
    return em.as_bytes()


def decode_base64_mime(raw: bytes) -> bytes:
    """The MIME bytes of a ``sendMail`` MIME body (base64 text), or 400 for bad base64."""
    text = b"".join(raw.split())
    if not text:
        raise MIME_INVALID
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MIME_INVALID from None


def _recipients(values: list[str]) -> list[dict[str, Any]]:
    out = []
    for name, address in getaddresses(values):
        if address:
            out.append({"emailAddress": {"name": name or address, "address": address}})
    return out


def parse_mime(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(message props, attachment props) from RFC 822 bytes; 400 if it is not a message."""
    try:
        return _parse(data)
    except GraphHTTPError:
        raise
    except Exception:  # the email package raises many types on malformed input
        raise GraphHTTPError(400, "ErrorMimeContentConversionFailed",
                             "The MIME content could not be converted.") from None


def _parse(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        em = BytesParser(policy=policy.default).parsebytes(data)
        headers = {k.lower() for k in em}
    except Exception:  # the email package raises many types on garbage
        raise GraphHTTPError(400, "ErrorMimeContentConversionFailed",
                             "The MIME content could not be converted.") from None
    if not headers & {"from", "to", "subject", "cc", "bcc", "content-type"}:
        raise GraphHTTPError(400, "ErrorMimeContentConversionFailed",
                             "The MIME content could not be converted: no message headers.")
    props: dict[str, Any] = {"subject": str(em.get("subject", "") or "")}
    for header, key in (("to", "toRecipients"), ("cc", "ccRecipients"),
                        ("bcc", "bccRecipients"), ("reply-to", "replyTo")):
        props[key] = _recipients([str(v) for v in em.get_all(header, [])])
    sender = _recipients([str(v) for v in em.get_all("from", [])])
    if sender:
        props["from"] = sender[0]
    if em.get("message-id"):
        props["internetMessageId"] = str(em["message-id"]).strip()
    importance = str(em.get("importance", "normal")).lower()
    props["importance"] = importance if importance in ("low", "normal", "high") else "normal"
    if em.get("date"):
        with contextlib.suppress(TypeError, ValueError):
            props["_date"] = parsedate_to_datetime(str(em["date"])).timestamp()
    body_part = em.get_body(preferencelist=("html", "plain"))
    if body_part is not None:
        try:
            content = body_part.get_content()
        except (LookupError, ValueError, AttributeError):
            content = ""
        kind = "html" if body_part.get_content_subtype() == "html" else "text"
        props["body"] = {"contentType": kind, "content": str(content)}
    attachments: list[dict[str, Any]] = []
    for part in em.iter_attachments():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        attachments.append({
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": part.get_filename() or "attachment",
            "contentType": part.get_content_type(),
            "size": len(payload),
            "isInline": part.get_content_disposition() == "inline",
            "contentBytes": base64.b64encode(payload).decode("ascii"),
        })
    return props, attachments
