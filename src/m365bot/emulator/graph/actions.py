"""Message actions: send a draft, ``sendMail`` (JSON and MIME), createReply /
createReplyAll / createForward (201 drafts), reply / replyAll / forward (202), move and copy
(201; new id unless ``Prefer: IdType="ImmutableId"``), permanentDelete (204).

Action parameters are matched case-insensitively (``DestinationId`` or ``destinationId``).

Example (what a client sees)::

    POST /v1.0/users/ops@contoso.com/messages/{id}/move  {"destinationId": "archive"}
    201 {"id": "<new id>", "parentFolderId": "<archive id>", ...}
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from starlette.responses import Response

from m365bot.emulator.graph import mailflow, msgmodel, store
from m365bot.emulator.graph.common import (
    MAX_MIME_BODY,
    Ctx,
    empty,
    endpoint,
    json_body,
    params,
    read_body,
)
from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.graph.messages import (
    PREFIXES,
    SCOPES,
    entity,
    find_in_scope,
    new_attachments,
    permanent_delete,
    remove,
    removed_ref,
)
from m365bot.emulator.state import Message

log = logging.getLogger(__name__)

_REPLY_PARAMS = {"message": "message", "comment": "comment"}
_FORWARD_PARAMS = {**_REPLY_PARAMS, "torecipients": "toRecipients"}
_SENDMAIL_PARAMS = {"message": "message", "savetosentitems": "saveToSentItems"}
_MOVE_PARAMS = {"destinationid": "destinationId"}


async def send_draft(ctx: Ctx) -> Response:
    with ctx.emu.state.lock:
        msg = find_in_scope(ctx)
        if not msg.props.get("isDraft"):
            # What Outlook answers for a received message's id (rlrghb/olkcli#118).
            raise store.item_not_found()
        props = dict(msg.props)
        save = not _delete_after_submit(props)
        mailflow.send(ctx.emu, ctx.principal, ctx.mailbox, props, msg.attachments, save=save)
        remove(ctx, msg)
    return empty(202)


def _delete_after_submit(props: dict[str, Any]) -> bool:
    """True when the draft sets PidTagDeleteAfterSubmit (``Boolean 0x0E01``): "If this
    property is set to 0x01, the message is deleted after the message is sent" (MS-OXOMSG
    3.3.5.1.3), so no copy stays in Sent Items. The property is not transmitted (MAPI
    non-transmittable): it is removed from the copies that are sent."""
    props_in = props.get("singleValueExtendedProperties") or []
    keep = [p for p in props_in if not (isinstance(p, dict)
                                        and str(p.get("id", "")).lower() == "boolean 0x0e01")]
    found = [p for p in props_in if p not in keep]
    if found:
        props["singleValueExtendedProperties"] = keep
        if not keep:
            del props["singleValueExtendedProperties"]
    return any(str(p.get("value", "")).lower() in ("true", "1") for p in found)


async def send_mail(ctx: Ctx) -> Response:
    ctype = (ctx.request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype == "text/plain":
        from m365bot.emulator.graph.mime import decode_base64_mime, parse_mime

        raw = await read_body(ctx.request, MAX_MIME_BODY)
        props_in, atts_in = parse_mime(decode_base64_mime(raw))
        props_in.pop("_date", None)
        patch = msgmodel.validate_message(props_in)
        from m365bot.emulator.graph.attachstore import new_attachment_id
        from m365bot.emulator.state import Attachment

        atts = [Attachment(id=new_attachment_id(), props=p) for p in atts_in]
        save = True
    else:
        args = params(await json_body(ctx.request), _SENDMAIL_PARAMS, action="sendMail")
        if not isinstance(args.get("message"), dict):
            raise bad_request("The 'message' parameter is required: {\"message\": {\"subject\":"
                              " ..., \"toRecipients\": [...]}}.")
        save_raw = args.get("saveToSentItems", True)
        if save_raw is not None and not isinstance(save_raw, bool):
            if str(save_raw).lower() not in ("true", "false"):
                raise bad_request("'saveToSentItems' must be true or false.")
            save_raw = str(save_raw).lower() == "true"
        save = True if save_raw is None else bool(save_raw)
        patch = msgmodel.validate_message(args["message"])
        atts = new_attachments(patch.pop("attachments", None), ctx.now())
    with ctx.emu.state.lock:
        props = msgmodel.new_props(ctx.mailbox, patch, now=ctx.now(), draft=False)
        if "from" not in patch:
            props["from"] = None
        mailflow.send(ctx.emu, ctx.principal, ctx.mailbox, props, atts, save=save)
    return empty(202)


def _quote(original: Message, comment: str, kind: str) -> dict[str, Any]:
    props = original.props
    sender = ((props.get("from") or {}).get("emailAddress") or {})
    header = (f"From: {sender.get('name') or ''} <{sender.get('address') or ''}>\n"
              f"Sent: {props.get('sentDateTime') or props.get('receivedDateTime') or ''}\n"
              f"Subject: {props.get('subject') or ''}")
    body = props.get("body") or {}
    if str(body.get("contentType")) == "html":
        quoted = store.html_to_text(str(body.get("content") or ""))
    else:
        quoted = str(body.get("content") or "")
    text = f"{comment}\n\n________________________________\n{header}\n\n{quoted}"
    return {"contentType": "text", "content": text.lstrip("\n") if not comment else text}


def _reply_draft(ctx: Ctx, original: Message, kind: str, args: dict[str, Any]) -> Message:
    box = ctx.mailbox
    props = original.props
    me = box.address.lower()
    patch = msgmodel.validate_message(args.get("message") or {})
    comment = args.get("comment") or ""
    if not isinstance(comment, str):
        raise bad_request("'comment' must be a string.")
    if comment and "body" in patch:
        # "Specify either a comment or the body property of the message parameter. Specifying
        # both will return an HTTP 400 Bad Request error." (message-createreply, -reply, …)
        raise GraphHTTPError(400, "ErrorInvalidRequest",
                             f"Give either 'comment' or 'message.body' to {kind}, not both.",
                             inner=False)
    subject = str(props.get("subject") or "")
    prefix = "FW: " if kind == "forward" else "RE: "
    draft_patch: dict[str, Any] = {
        "subject": subject if subject.upper().startswith(prefix) else prefix + subject,
        "body": _quote(original, comment, kind),
    }
    sender = props.get("from")
    reply_to = props.get("replyTo") or ([sender] if sender else [])
    if kind == "reply":
        draft_patch["toRecipients"] = copy.deepcopy(reply_to)
    elif kind == "replyAll":
        seen = {me}
        to: list[dict[str, Any]] = []
        for r in [*reply_to, *(props.get("toRecipients") or [])]:
            address = str(r["emailAddress"]["address"]).lower()
            if address not in seen:
                seen.add(address)
                to.append(copy.deepcopy(r))
        draft_patch["toRecipients"] = to
        draft_patch["ccRecipients"] = [copy.deepcopy(r) for r in props.get("ccRecipients") or []
                                       if str(r["emailAddress"]["address"]).lower() not in seen]
    else:
        recips = args.get("toRecipients")
        if recips is not None:
            checked = msgmodel.validate_message({"toRecipients": recips})
            draft_patch["toRecipients"] = checked["toRecipients"]
    draft_patch.update({k: v for k, v in patch.items() if k != "attachments"})
    now = ctx.now()
    new = msgmodel.new_props(box, draft_patch, now=now, draft=True)
    new["conversationId"] = props.get("conversationId") or new["conversationId"]
    new["conversationIndex"] = msgmodel.reply_index(props.get("conversationIndex"), now)
    atts: list[Any] = []
    if kind == "forward":
        atts = mailflow._copy_attachments(original.attachments)
        new["hasAttachments"] = bool(props.get("hasAttachments"))
    mid = store.new_message_id(box)
    msg = Message(id=mid, immutable_id=store.new_immutable_id(box),
                  folder_id=store.well_known(box, "drafts").id, props=new, attachments=atts,
                  seq=ctx.emu.state.next_seq())
    return msg


def reply_action(kind: str, send_now: bool) -> Any:
    allowed = _FORWARD_PARAMS if kind == "forward" else _REPLY_PARAMS

    async def call(ctx: Ctx) -> Response:
        args = params(await json_body(ctx.request, required=False), allowed, action=kind)
        with ctx.emu.state.lock:
            original = find_in_scope(ctx)
            draft = _reply_draft(ctx, original, kind, args)
            if send_now:
                mailflow.send(ctx.emu, ctx.principal, ctx.mailbox, draft.props,
                              draft.attachments, save=True)
                return empty(202)
            ctx.mailbox.messages[draft.id] = draft
            out = entity(ctx, draft)
        return ctx.json(out, 201)

    return call


def move_or_copy(kind: str) -> Any:
    async def call(ctx: Ctx) -> Response:
        args = params(await json_body(ctx.request), _MOVE_PARAMS, action=kind)
        dest_ref = args.get("destinationId")
        if not isinstance(dest_ref, str) or not dest_ref:
            raise bad_request("The 'destinationId' parameter is required (a folder id or a "
                              "well-known name like 'archive').")
        box = ctx.mailbox
        state = ctx.emu.state
        with state.lock:
            msg = find_in_scope(ctx)
            dest = store.find_folder(box, dest_ref)
            if kind == "copy":
                mid = store.new_message_id(box)
                props = copy.deepcopy(msg.props)
                target = Message(id=mid, immutable_id=store.new_immutable_id(box),
                                 folder_id=dest.id, props=props,
                                 attachments=mailflow._copy_attachments(msg.attachments),
                                 seq=state.next_seq())
                stamp = store.iso(ctx.now())
                props["createdDateTime"] = stamp
                store.touch(target, ctx.now(), target.seq)
                box.messages[mid] = target
            else:
                box.deleted_ids.append((state.next_seq(), msg.folder_id, removed_ref(msg)))
                del box.messages[msg.id]
                if not ctx.immutable:
                    msg.id = store.new_message_id(box)
                msg.folder_id = dest.id
                store.touch(msg, ctx.now(), state.next_seq())
                box.messages[msg.id] = msg
                target = msg
            out = entity(ctx, target)
        log.info("message %s", "copied" if kind == "copy" else "moved")
        return ctx.json(out, 201)

    return call


def action_routes(emu: Any) -> list[Any]:
    """Routes for send, sendMail, reply family, move and copy."""
    from starlette.routing import Route

    actions = {
        "send": endpoint(emu, "messages.send", "mail.send", send_draft),
        "createReply": endpoint(emu, "messages.createReply", "mail.write",
                                reply_action("reply", False)),
        "createReplyAll": endpoint(emu, "messages.createReplyAll", "mail.write",
                                   reply_action("replyAll", False)),
        "createForward": endpoint(emu, "messages.createForward", "mail.write",
                                  reply_action("forward", False)),
        "reply": endpoint(emu, "messages.reply", "mail.send", reply_action("reply", True)),
        "replyAll": endpoint(emu, "messages.replyAll", "mail.send", reply_action("replyAll", True)),
        "forward": endpoint(emu, "messages.forward", "mail.send", reply_action("forward", True)),
        "move": endpoint(emu, "messages.move", "mail.write", move_or_copy("move")),
        "copy": endpoint(emu, "messages.copy", "mail.write", move_or_copy("copy")),
        "permanentDelete": endpoint(emu, "messages.permanentDelete", "mail.write",
                                    permanent_delete),
    }
    send_mail_ep = endpoint(emu, "sendMail", "mail.send", send_mail)
    routes = []
    for prefix in PREFIXES:
        routes.append(Route(prefix + "/sendMail", send_mail_ep, methods=["POST"]))
        for scope in SCOPES:
            for name, ep in actions.items():
                routes.append(Route(f"{prefix}{scope}/messages/{{mid}}/{name}", ep,
                                    methods=["POST"]))
    return routes
