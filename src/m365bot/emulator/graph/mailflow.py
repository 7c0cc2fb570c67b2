"""Mail flow: what happens when a message is sent.

* Recipients whose address is a mailbox of any emulated tenant in the **same cloud** (users
  and shared mailboxes) get a copy in their Inbox (unread, Bcc hidden).
* Everyone else is written to ``state.outbound`` (the outbound log the control API shows).
* The sender keeps a copy in Sent Items unless ``saveToSentItems`` is false.
* A sender over its quota gets ``ErrorQuotaExceeded``; a ``from`` the caller may not send as
  gets ``ErrorSendAsDenied``. Nothing is delivered in either case.

Callers hold ``state.lock``.

Example::

    send(emu, principal, box, props, attachments, save=True)
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from m365bot.emulator.graph import auth, msgmodel, store
from m365bot.emulator.state import Attachment, Mailbox, Message

log = logging.getLogger(__name__)


def check_sender(emu: Any, principal: auth.Principal, box: Mailbox,
                 props: dict[str, Any]) -> None:
    """ErrorSendAsDenied when ``from`` names a mailbox the caller may not send as."""
    sender = props.get("from")
    if not sender:
        return
    address = str(sender["emailAddress"]["address"]).lower()
    if address == box.address.lower():
        return
    other = emu.state.mailbox(address)
    if other is None or other.tenant_id != box.tenant_id or \
            not auth.may_send_as(principal, other):
        raise auth.send_as_denied()


def check_quota(box: Mailbox, extra: int = 0) -> None:
    if store.mailbox_size(box) + extra > box.quota_bytes:
        raise store.quota_exceeded()


def _copy_attachments(atts: list[Attachment]) -> list[Attachment]:
    from m365bot.emulator.graph.attachstore import new_attachment_id

    return [Attachment(id=new_attachment_id(), props=copy.deepcopy(a.props)) for a in atts]


def _place(emu: Any, box: Mailbox, folder: str, props: dict[str, Any],
           atts: list[Attachment]) -> Message:
    target = store.well_known(box, folder)
    mid = store.new_message_id(box)
    msg = Message(id=mid, immutable_id=store.new_immutable_id(box), folder_id=target.id,
                  props=props, attachments=_copy_attachments(atts),
                  seq=emu.state.next_seq())
    box.messages[mid] = msg
    return msg


def send(emu: Any, principal: auth.Principal, box: Mailbox, props: dict[str, Any],
         attachments: list[Attachment], *, save: bool) -> dict[str, Any]:
    """Deliver a message from ``box``; returns a summary (internal, outbound recipients)."""
    msgmodel.check_recipients(props)
    check_sender(emu, principal, box, props)
    size = len(str((props.get("body") or {}).get("content") or "")) + sum(
        int(a.props.get("size") or 0) for a in attachments)
    check_quota(box, size if save else 0)  # a full mailbox cannot send either
    now = emu.clock.now()
    stamp = store.iso(now)
    sent = dict(props)
    sent.update({
        "isDraft": False, "isRead": True, "sentDateTime": stamp, "receivedDateTime": stamp,
        "lastModifiedDateTime": stamp, "changeKey": store.new_change_key(),
    })
    me = msgmodel.who(box)
    sent["from"] = sent.get("from") or me
    sent["sender"] = me if sent["from"] == me else sent.get("sender") or me
    sent["hasAttachments"] = any(not a.props.get("isInline") for a in attachments)
    msgmodel.resolve_names(emu.state, sent)
    if save:
        _place(emu, box, "sentitems", copy.deepcopy(sent), attachments)
    cloud = emu.state.tenants[box.tenant_id].cloud
    seen: set[str] = set()
    internal: list[str] = []
    outside: list[str] = []
    for address in msgmodel.all_recipients(sent):
        key = address.lower()
        if key in seen:
            continue
        seen.add(key)
        target = emu.state.mailbox(key)
        tenant = emu.state.tenants.get(target.tenant_id) if target is not None else None
        if target is None or tenant is None or tenant.cloud != cloud:
            outside.append(address)
            continue
        if store.mailbox_size(target) + size > target.quota_bytes:
            outside.append(address)  # a full mailbox bounces; the NDR is not emulated
            log.info("recipient mailbox over quota; message not delivered")
            continue
        delivered = copy.deepcopy(sent)
        delivered.update({"isRead": False, "bccRecipients": [],
                          "changeKey": store.new_change_key(),
                          "createdDateTime": stamp, "inferenceClassification": "focused"})
        _place(emu, target, "inbox", delivered, attachments)
        internal.append(target.address)
    if outside:
        emu.state.outbound.append({
            "time": stamp,
            "mailbox": box.address,
            "from": sent["from"]["emailAddress"]["address"],
            "to": outside,
            "subject": sent.get("subject", ""),
            "internetMessageId": sent.get("internetMessageId"),
            "attachments": [str(a.props.get("name") or "") for a in attachments],
            "app_id": principal.app_id,
        })
    log.info("message sent from a mailbox: %d internal, %d outbound recipient(s)",
             len(internal), len(outside))
    return {"internal": internal, "outbound": outside}
