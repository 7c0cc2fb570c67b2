"""Message endpoints: list (with OData options and paging), get, ``$value``, create a draft,
PATCH and DELETE, under ``/users/{id|upn}`` and ``/me``, optionally inside
``/mailFolders/{id}``.

Example (what a client sees)::

    GET /v1.0/me/mailFolders/inbox/messages?$top=2&$select=subject
    200 {"@odata.context": "...", "value": [...], "@odata.nextLink": "...$skip=2"}
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from m365bot.emulator.graph import msgmodel, query, store
from m365bot.emulator.graph.common import (
    Ctx,
    by_method,
    check_single_item_options,
    empty,
    endpoint,
    json_body,
)
from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.state import Attachment, Mailbox, Message

log = logging.getLogger(__name__)

_SENT_ONLY_DRAFT = frozenset({"from", "sender", "toRecipients", "ccRecipients", "bccRecipients",
                              "replyTo", "internetMessageId"})


def listed_folder_ids(box: Mailbox) -> set[str]:
    """Folders ``/messages`` covers: everything under the root (not Recoverable Items)."""
    store.ensure_well_known_folders(box)
    root = store.well_known(box, "msgfolderroot")
    return store.subtree_ids(box, root.id)


def check_item_options(request: Request) -> tuple[str, ...] | None:
    check_single_item_options(request)
    raw = request.query_params.get("$select")
    return query.parse_select(raw)


_IGNORED_EXPANSIONS = frozenset({"singlevalueextendedproperties",
                                 "multivalueextendedproperties", "extensions", "mentions"})


def expanded_attachments(request: Request) -> frozenset[str] | None:
    """What ``$expand`` asks of ``attachments``: None (not expanded), an empty set (every
    property) or the names of ``attachments($select=name,size)``. An unknown navigation
    property or unbalanced parentheses are Graph's 400.

    Example: ``$expand=attachments($select=name)`` → ``frozenset({"name"})``.
    """
    raw = request.query_params.get("$expand")
    if raw is None:
        return None
    wanted: frozenset[str] | None = None
    depth, start = 0, 0
    for i, ch in enumerate(raw + ","):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
        if ch == "," and depth == 0:
            item = raw[start:i].strip()
            start = i + 1
            name, _, inner = item.partition("(")
            name = name.strip()
            if name.lower() == "attachments":
                wanted = _inner_select(inner.rstrip().removesuffix(")"))
            elif name.lower() not in _IGNORED_EXPANSIONS:
                raise bad_request(f"Could not find a property named '{name}' on type "
                                  "'microsoft.graph.message'.")
    if depth != 0:
        raise bad_request("Invalid $expand: unbalanced parentheses.")
    return wanted


def _inner_select(options: str) -> frozenset[str]:
    """``$select=name,size;$top=5`` → {"name", "size"}; other nested options are ignored."""
    for option in options.split(";"):
        key, _, value = option.partition("=")
        if key.strip().lower() == "$select":
            return frozenset(p.strip() for p in value.split(",") if p.strip())
    return frozenset()


def with_attachments(out: dict[str, Any], msg: Message, select: frozenset[str]
                     ) -> dict[str, Any]:
    """``out["attachments"]``: the message's attachments, only ``select`` (plus
    ``@odata.type`` and ``id``) when given."""
    from m365bot.emulator.graph.attachstore import shape

    items = [shape(a) for a in msg.attachments]
    if select:
        items = [{k: v for k, v in item.items() if k in select or k in ("@odata.type", "id")}
                 for item in items]
    out["attachments"] = items
    return out


def folder_of(ctx: Ctx) -> str | None:
    """The folder the path names (``/mailFolders/{id}`` or ``…/childFolders/{id}``), if any."""
    ref = ctx.request.path_params.get("folder")
    if ref is None:
        return None
    folder = store.find_folder(ctx.mailbox, str(ref))
    parent = ctx.request.path_params.get("parent")
    if parent is not None and store.find_folder(ctx.mailbox, str(parent)).id != folder.parent_id:
        raise store.item_not_found()
    return folder.id


def find_in_scope(ctx: Ctx) -> Message:
    """The message the path names; inside ``/mailFolders/{id}`` it must be in that folder."""
    msg = store.find_message(ctx.mailbox, str(ctx.request.path_params["mid"]))
    folder_id = folder_of(ctx)
    if folder_id is not None and msg.folder_id != folder_id:
        raise store.item_not_found()
    return msg


def entity(ctx: Ctx, msg: Message, select: tuple[str, ...] | None = None) -> dict[str, Any]:
    out = {"@odata.context": ctx.context_url(f"{ctx.who()}/messages/$entity")}
    out.update(store.render(msg, select, immutable=ctx.immutable, body_type=ctx.body_type,
                            owa_host=ctx.owa_host))
    return out


def new_attachments(raw: Any, now: float) -> list[Attachment]:
    from m365bot.emulator.graph.attachstore import new_attachment_id, parse_new

    out = []
    for item in raw or []:
        out.append(Attachment(id=new_attachment_id(), props=parse_new(item, now)))
    return out


async def list_messages(ctx: Ctx) -> Response:
    request = ctx.request
    q = query.parse(request.query_params)
    expand = expanded_attachments(request)
    box = ctx.mailbox
    with ctx.emu.state.lock:
        folder_id = folder_of(ctx)
        folders = {folder_id} if folder_id is not None else listed_folder_ids(box)

        def in_order() -> list[Message]:
            if folder_id is not None:
                msgs = store.messages_in(box, folders)  # the folder's index, not a walk
            else:
                msgs = [m for m in box.messages.values() if m.folder_id in folders]
            return query.sort(msgs, q.order)

        # sorted once for all the pages of a listing, until a message changes
        msgs = store.ordered(box, (frozenset(folders), tuple(q.order)), in_order)
        page, total, more = q.apply(msgs, ordered=True)
        value = store.render_page(page, q.select, immutable=ctx.immutable,
                                  body_type=ctx.body_type, owa_host=ctx.owa_host)
        if expand is not None:
            value = [with_attachments(v, m, expand) for v, m in zip(value, page, strict=True)]
    tail = f"{ctx.who()}/messages"
    if folder_id is not None:
        tail = f"{ctx.who()}/mailFolders('{request.path_params['folder']}')/messages"
    if q.select:
        tail += f"({','.join(q.select)})"
    out: dict[str, Any] = {"@odata.context": ctx.context_url(tail)}
    if q.count:
        out["@odata.count"] = total
    out["value"] = value
    if more:
        url = f"https://{request.headers.get('host', 'graph.microsoft.com')}{request.url.path}"
        out["@odata.nextLink"] = query.next_link(url, request.query_params, q.skip + q.top)
    log.debug("listed %d of %d messages", len(value), total)
    return ctx.json(out)


async def get_message(ctx: Ctx) -> Response:
    select = check_item_options(ctx.request)
    expand = expanded_attachments(ctx.request)
    with ctx.emu.state.lock:
        msg = find_in_scope(ctx)
        out = entity(ctx, msg, select)
        if expand is not None:
            with_attachments(out, msg, expand)
    return ctx.json(out)


async def get_value(ctx: Ctx) -> Response:
    from m365bot.emulator.graph.mime import to_mime

    with ctx.emu.state.lock:
        msg = find_in_scope(ctx)
        data = to_mime(msg)
    return Response(data, media_type="text/plain", headers=ctx.applied())


async def create_message(ctx: Ctx) -> Response:
    body = await json_body(ctx.request)
    patch = msgmodel.validate_message(body)
    now = ctx.now()
    atts = new_attachments(patch.pop("attachments", None), now)
    box = ctx.mailbox
    with ctx.emu.state.lock:
        folder_id = folder_of(ctx) or store.well_known(box, "drafts").id
        from m365bot.emulator.graph.mailflow import check_quota

        check_quota(box, sum(int(a.props.get("size") or 0) for a in atts))
        props = msgmodel.new_props(box, patch, now=now, draft=True)
        props["hasAttachments"] = any(not a.props.get("isInline") for a in atts)
        mid = store.new_message_id(box)
        msg = Message(id=mid, immutable_id=store.new_immutable_id(box), folder_id=folder_id,
                      props=props, attachments=atts, seq=ctx.emu.state.next_seq())
        box.messages[mid] = msg
        out = entity(ctx, msg)
    log.info("draft created")
    return ctx.json(out, 201)


async def update_message(ctx: Ctx) -> Response:
    body = await json_body(ctx.request)
    patch = msgmodel.validate_message(body)
    with ctx.emu.state.lock:
        msg = find_in_scope(ctx)
        if not msg.props.get("isDraft"):
            locked = sorted(set(patch) & _SENT_ONLY_DRAFT)
            if locked:
                raise GraphHTTPError(400, "ErrorInvalidPropertyUpdateSentMessage",
                                     f"Update operation is invalid for property of a sent "
                                     f"message: {', '.join(locked)}.", inner=False)
        msgmodel.apply_patch(msg.props, patch)
        store.touch(msg, ctx.now(), ctx.emu.state.next_seq())
        out = entity(ctx, msg)
    log.info("message updated")
    return ctx.json(out)


def remove(ctx: Ctx, msg: Message, *, into: str | None = None) -> None:
    """Take the message out of its folder; delta reports it as removed.

    ``into``: a hidden Recoverable Items folder the item moves to under a new REST id, out of
    ``/messages``' reach: ``recoverableitemsdeletions`` (DELETE) or ``recoverableitemspurges``
    (``permanentDelete``).
    """
    box = ctx.mailbox
    state = ctx.emu.state
    box.deleted_ids.append((state.next_seq(), msg.folder_id, removed_ref(msg)))
    del box.messages[msg.id]
    if into:
        msg.folder_id = store.well_known(box, into).id
        msg.id = store.new_message_id(box)
        store.touch(msg, ctx.now(), state.next_seq())
        box.messages[msg.id] = msg


def removed_ref(msg: Message) -> str:
    """How ``deleted_ids`` names a removed item: its REST and immutable ids, space-separated
    (delta answers with the one the client asked for)."""
    return f"{msg.id} {msg.immutable_id}"


async def delete_message(ctx: Ctx) -> Response:
    with ctx.emu.state.lock:
        msg = find_in_scope(ctx)
        remove(ctx, msg, into="recoverableitemsdeletions")
    log.info("message deleted")
    return empty(204)


async def permanent_delete(ctx: Ctx) -> Response:
    """``POST …/messages/{id}/permanentDelete``: into the purges folder of the dumpster, which
    no client can reach; 204 (learn.microsoft.com/graph/api/message-permanentdelete)."""
    await json_body(ctx.request, required=False)
    with ctx.emu.state.lock:
        msg = find_in_scope(ctx)
        remove(ctx, msg, into="recoverableitemspurges")
    log.info("message permanently deleted")
    return empty(204)


def message_routes(emu: Any) -> list[Any]:
    """Routes for list/get/$value/create/update/delete (see module docs)."""
    from starlette.routing import Route

    collection = by_method(emu, GET=("messages.list", "mail.read", list_messages),
                           POST=("messages.create", "mail.write", create_message))
    item = by_method(emu, GET=("messages.get", "mail.read", get_message),
                     PATCH=("messages.update", "mail.write", update_message),
                     DELETE=("messages.delete", "mail.write", delete_message))
    value = endpoint(emu, "messages.value", "mail.read", get_value)
    routes = []
    for prefix in PREFIXES:
        for scope in SCOPES:
            base = f"{prefix}{scope}/messages"
            routes += [
                Route(base, collection, methods=["GET", "POST"]),
                Route(base + "/{mid}/$value", value, methods=["GET"]),
                Route(base + "/{mid}", item, methods=["GET", "PATCH", "DELETE"]),
            ]
    return routes


PREFIXES = ("/v1.0/me", "/v1.0/users/{user}")
SCOPES = ("", "/mailFolders/{folder}", "/mailFolders/{parent}/childFolders/{folder}")
