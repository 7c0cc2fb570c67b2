"""Graph attachments of messages and events: list, add (file and item attachments under
3 MB), get, delete and ``$value``, under ``/me`` and ``/users/{id|upn}``.

* Messages: with or without ``mailFolders/{id}[/childFolders/{id}]`` (the message must be in
  that folder).
* Events: ``/events/{id}``, ``/calendar/events/{id}`` and ``/calendars/{id}/events/{id}`` of
  the series master or a single event.
* ``hasAttachments`` on the message or event follows the attachments.
* ``$value`` of a referenceAttachment is 405: it is a link, not content
  (learn.microsoft.com/graph/api/attachment-get, "Attempting to get the $value of a reference
  attachment returns HTTP 405.").

Example::

    routes = attachment_routes(emu)   # mounted by graph/routes.py
    # GET /v1.0/users/alice@contoso.onmicrosoft.com/messages/{id}/attachments
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from m365bot.emulator.graph import attachstore as store
from m365bot.emulator.graph import store as mailstore
from m365bot.emulator.graph.common import by_method
from m365bot.emulator.graph.errors import GraphHTTPError
from m365bot.emulator.graph.mailflow import check_quota
from m365bot.emulator.graph.messages import PREFIXES, SCOPES, find_in_scope
from m365bot.emulator.graph.scoped import Ctx, json_body, json_response
from m365bot.emulator.state import Attachment

log = logging.getLogger(__name__)

# Every place a message can be named: ``/me`` or ``/users/{id}``, directly, inside
# ``mailFolders/{id}`` or inside ``mailFolders/{id}/childFolders/{id}`` (same as messages.py).
MESSAGE_PREFIXES = tuple(f"{p}{scope}/messages/{{mid}}" for p in PREFIXES for scope in SCOPES)
EVENT_PREFIXES = tuple(f"{p}{events}/{{eid}}" for p in PREFIXES
                       for events in ("/events", "/calendar/events", "/calendars/{cal}/events"))


@dataclass(frozen=True)
class Holder:
    """What attachments hang on: how to find it, name it in ``@odata.context``, and touch it
    after a change, plus the permissions reading and writing need."""

    kind: str  # "messages" | "events"
    find: Callable[[Ctx], Any]  # → an object with ``id`` and ``attachments``
    touch: Callable[[Ctx, Any], None]
    read: str
    write: str


def _touch_message(ctx: Ctx, message: Any) -> None:
    """hasAttachments, changeKey, lastModifiedDateTime and the delta sequence number."""
    store.sync_has_attachments(message)
    mailstore.touch(message, ctx.emu.clock.now(), ctx.emu.state.next_seq())


def _find_event(ctx: Ctx) -> Any:
    from m365bot.emulator.graph.events import find_event

    return find_event(ctx)


def _touch_event(ctx: Ctx, event: Any) -> None:
    event.props["hasAttachments"] = any(not a.props.get("isInline") for a in event.attachments)
    event.props["lastModifiedDateTime"] = store.iso(ctx.emu.clock.now())


MESSAGE = Holder("messages", find_in_scope, _touch_message, "mail.read", "mail.write")
EVENT = Holder("events", _find_event, _touch_event, "calendar.read", "calendar.write")


def _context(ctx: Ctx, holder: Holder, owner: Any, tail: str = "") -> str:
    who = f"users('{ctx.mailbox.id}')"
    return ctx.context_url(f"{who}/{holder.kind}('{owner.id}')/attachments{tail}")


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


def _holder(ctx: Ctx) -> Holder:
    return EVENT if "eid" in ctx.request.path_params else MESSAGE


def _one(ctx: Ctx) -> tuple[Holder, Any, Attachment]:
    """(holder, owner, attachment) the path names; callers hold the state lock."""
    holder = _holder(ctx)
    owner = holder.find(ctx)
    return holder, owner, store.find(owner, ctx.request.path_params["aid"])


async def list_attachments(ctx: Ctx) -> Response:
    holder = _holder(ctx)
    with ctx.emu.state.lock:
        owner = holder.find(ctx)
        items = [_render(ctx.request, a) for a in owner.attachments]
    return json_response({"@odata.context": _context(ctx, holder, owner), "value": items})


async def add_attachment(ctx: Ctx) -> Response:
    # control.run counts the POST body toward the upload throttle (Content-Length).
    holder = _holder(ctx)
    props = store.parse_new(await json_body(ctx.request), ctx.emu.clock.now())
    with ctx.emu.state.lock:
        owner = holder.find(ctx)
        check_quota(ctx.mailbox, int(props.get("size") or 0))
        att = Attachment(id=store.new_attachment_id(), props=props)
        owner.attachments.append(att)
        holder.touch(ctx, owner)
    log.info("attachment added to one of the %s in %s", holder.kind, ctx.mailbox.address)
    out = {"@odata.context": _context(ctx, holder, owner, "/$entity"), **store.shape(att)}
    return json_response(out, status=201)


async def get_attachment(ctx: Ctx) -> Response:
    with ctx.emu.state.lock:
        holder, owner, att = _one(ctx)
        out = {"@odata.context": _context(ctx, holder, owner, "/$entity"),
               **_render(ctx.request, att)}
    return json_response(out)


async def delete_attachment(ctx: Ctx) -> Response:
    with ctx.emu.state.lock:
        holder, owner, att = _one(ctx)
        owner.attachments.remove(att)
        holder.touch(ctx, owner)
    log.info("attachment deleted from one of the %s in %s", holder.kind, ctx.mailbox.address)
    return Response(status_code=204)


async def attachment_value(ctx: Ctx) -> Response:
    with ctx.emu.state.lock:
        _, _, att = _one(ctx)
        if att.props.get("@odata.type") == store.REFERENCE:
            raise GraphHTTPError(405, "ErrorInvalidRequest",
                                 "The $value of a reference attachment cannot be read: it "
                                 "is a link to a file stored in the cloud.")
        data, media_type = store.raw_value(att)
    return Response(data, media_type=media_type)


def _routes_for(emu: Any, holder: Holder, prefixes: tuple[str, ...]) -> list[BaseRoute]:
    op = "attachments" if holder.kind == "messages" else "events.attachments"
    collection = by_method(emu, GET=(f"{op}.list", holder.read, list_attachments),
                           POST=(f"{op}.create", holder.write, add_attachment))
    one = by_method(emu, GET=(f"{op}.get", holder.read, get_attachment),
                    DELETE=(f"{op}.delete", holder.write, delete_attachment))
    value = by_method(emu, GET=(f"{op}.value", holder.read, attachment_value))
    routes: list[BaseRoute] = []
    for prefix in prefixes:
        routes += [
            Route(prefix + "/attachments", collection, methods=["GET", "POST"]),
            Route(prefix + "/attachments/{aid}/$value", value, methods=["GET"]),
            Route(prefix + "/attachments/{aid}", one, methods=["GET", "DELETE"]),
        ]
    return routes


def attachment_routes(emu: Any) -> list[BaseRoute]:
    """Routes for ``…/messages/{id}/attachments[/{aid}[/$value]]`` and the same under
    ``…/events/{id}``.

    Example::

        app = Starlette(routes=attachment_routes(emu))
    """
    return _routes_for(emu, MESSAGE, MESSAGE_PREFIXES) + _routes_for(emu, EVENT, EVENT_PREFIXES)
