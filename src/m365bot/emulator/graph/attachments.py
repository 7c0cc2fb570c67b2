"""Graph message attachments: list, add (file and item attachments under 3 MB), get,
delete and ``$value``, under ``/me`` and ``/users/{id|upn}``, with or without
``mailFolders/{id}[/childFolders/{id}]`` (the message must be in that folder).
``hasAttachments`` on the message follows the attachments.

Example::

    routes = attachment_routes(emu)   # mounted by graph/routes.py
    # GET /v1.0/users/alice@contoso.onmicrosoft.com/messages/{id}/attachments
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from m365bot.emulator.graph import attachstore as store
from m365bot.emulator.graph import store as mailstore
from m365bot.emulator.graph.mailflow import check_quota
from m365bot.emulator.graph.messages import PREFIXES, SCOPES, find_in_scope
from m365bot.emulator.graph.scoped import Ctx, guarded, json_body, json_response
from m365bot.emulator.state import Attachment, Message

log = logging.getLogger(__name__)

# Every place a message can be named: ``/me`` or ``/users/{id}``, directly, inside
# ``mailFolders/{id}`` or inside ``mailFolders/{id}/childFolders/{id}`` (same as messages.py).
MESSAGE_PREFIXES = tuple(f"{p}{scope}/messages/{{mid}}" for p in PREFIXES for scope in SCOPES)


def _context(ctx: Ctx, message: Message, tail: str = "") -> str:
    who = f"users('{ctx.mailbox.id}')"
    return ctx.context_url(f"{who}/messages('{message.id}')/attachments{tail}")


def _select(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    """``$select`` on attachments: id and @odata.type always stay."""
    raw = request.query_params.get("$select")
    if not raw:
        return item
    wanted = {p.strip() for p in raw.split(",") if p.strip()}
    return {k: v for k, v in item.items() if k in wanted or k in ("@odata.type", "id")}


def _expands_item(request: Request) -> bool:
    return "item" in (request.query_params.get("$expand") or "").lower()


def _render(request: Request, att: Attachment) -> dict[str, Any]:
    out = store.shape(att)
    if out.get("@odata.type") == store.ITEM and not _expands_item(request):
        out.pop("item", None)  # Graph returns the embedded item only with $expand
    return _select(request, out)


def _touch(ctx: Ctx, message: Message) -> None:
    """hasAttachments, changeKey, lastModifiedDateTime and the delta sequence number."""
    store.sync_has_attachments(message)
    mailstore.touch(message, ctx.emu.clock.now(), ctx.emu.state.next_seq())


def attachment_routes(emu: Any) -> list[BaseRoute]:
    """Routes for ``.../messages/{id}/attachments[/{aid}[/$value]]``.

    Example::

        app = Starlette(routes=attachment_routes(emu))
    """

    async def list_or_add(request: Request) -> Response:
        if request.method == "POST":
            return await add(request)

        async def call(ctx: Ctx) -> Response:
            message = find_in_scope(ctx)
            with ctx.emu.state.lock:
                items = [_render(request, a) for a in message.attachments]
            return json_response({"@odata.context": _context(ctx, message), "value": items})

        return await guarded(emu, request, op="attachments.list", need="mail.read", call=call)

    async def add(request: Request) -> Response:
        body = await json_body(request)

        async def call(ctx: Ctx) -> Response:
            props = store.parse_new(body, ctx.emu.clock.now())
            with ctx.emu.state.lock:
                message = find_in_scope(ctx)
                check_quota(ctx.mailbox, int(props.get("size") or 0))
                att = Attachment(id=store.new_attachment_id(), props=props)
                message.attachments.append(att)
                _touch(ctx, message)
            log.info("attachment added to a message in %s", ctx.mailbox.address)
            out = {"@odata.context": _context(ctx, message, "/$entity"), **store.shape(att)}
            return json_response(out, status=201)

        # control.run counts the POST body toward the upload throttle (Content-Length).
        return await guarded(emu, request, op="attachments.create", need="mail.write",
                             call=call)

    async def one(request: Request) -> Response:
        if request.method == "DELETE":
            return await delete(request)

        async def call(ctx: Ctx) -> Response:
            message = find_in_scope(ctx)
            att = store.find(message, request.path_params["aid"])
            out = {"@odata.context": _context(ctx, message, "/$entity"), **_render(request, att)}
            return json_response(out)

        return await guarded(emu, request, op="attachments.get", need="mail.read", call=call)

    async def delete(request: Request) -> Response:
        async def call(ctx: Ctx) -> Response:
            with ctx.emu.state.lock:
                message = find_in_scope(ctx)
                att = store.find(message, request.path_params["aid"])
                message.attachments.remove(att)
                _touch(ctx, message)
            log.info("attachment deleted from a message in %s", ctx.mailbox.address)
            return Response(status_code=204)

        return await guarded(emu, request, op="attachments.delete", need="mail.write", call=call)

    async def value(request: Request) -> Response:
        async def call(ctx: Ctx) -> Response:
            message = find_in_scope(ctx)
            att = store.find(message, request.path_params["aid"])
            data, media_type = store.raw_value(att)
            return Response(data, media_type=media_type)

        return await guarded(emu, request, op="attachments.value", need="mail.read", call=call)

    routes: list[BaseRoute] = []
    for prefix in MESSAGE_PREFIXES:
        routes += [
            Route(prefix + "/attachments", list_or_add, methods=["GET", "POST"]),
            Route(prefix + "/attachments/{aid}/$value", value, methods=["GET"]),
            Route(prefix + "/attachments/{aid}", one, methods=["GET", "DELETE"]),
        ]
    return routes
