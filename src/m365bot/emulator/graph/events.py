"""Graph calendar routes: events (list, get, create, update, delete), meeting responses
(accept, tentativelyAccept, decline) and calendarView with recurrence expansion, under
``/me`` and ``/users/{id|upn}``, also via ``/calendar`` and ``/calendars/{id}``.

* ``Prefer: outlook.timezone="..."`` (IANA or Windows names) sets the zone of ``start``/``end``
  in responses and is echoed in ``Preference-Applied``; UTC otherwise.
* calendarView needs ``startDateTime`` and ``endDateTime`` (ISO 8601; no offset = UTC).
* A create that carries a ``transactionId`` already used in the mailbox returns the event
  made then (no second event) or, for a different event, 400 ``ErrorDuplicateTransactionId``.
* Creating an event with attendees whose mailboxes are emulated puts a copy in their
  calendars; their responses update the organizer's attendee list and, with
  ``sendResponse`` (default true), deliver "Accepted: …" mail to the organizer's Inbox.
  Declining removes the meeting from the attendee's calendar, as Outlook does.

Example::

    routes = event_routes(emu)   # mounted by graph/routes.py
    # GET /v1.0/me/calendarView?startDateTime=2026-11-27T00:00:00Z&endDateTime=...
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from m365bot.emulator.graph import caltime
from m365bot.emulator.graph import eventstore as es
from m365bot.emulator.graph.attachstore import check_id
from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.graph.meeting import cancel, propagate_invites, respond
from m365bot.emulator.graph.scoped import Ctx, by_method, endpoint, json_body, json_response
from m365bot.emulator.state import Event, Mailbox

log = logging.getLogger(__name__)

USER_PREFIXES = ("/v1.0/me", "/v1.0/users/{user}")
EVENT_SETS = ("/events", "/calendar/events", "/calendars/{cal}/events")
VIEW_PATHS = ("/calendarView", "/calendar/calendarView", "/calendars/{cal}/calendarView")
NOT_FOUND = ("ErrorItemNotFound", "The specified object was not found in the store.")


def calendar_id(box: Mailbox) -> str:
    """The id of a mailbox's default calendar (deterministic)."""
    return "AAMkAGCal" + box.id.replace("-", "") + "AAA="


def _check_calendar(ctx: Ctx) -> None:
    cal = ctx.request.path_params.get("cal")
    if cal is not None and cal != calendar_id(ctx.mailbox) and cal.lower() != "calendar":
        check_id(cal)
        raise GraphHTTPError(404, *NOT_FOUND)


def _zone(request: Request) -> str | None:
    try:
        return caltime.prefer_timezone(request.headers.get("prefer"))
    except caltime.TimeError as exc:
        raise es.time_error(exc) from exc


def _respond(ctx: Ctx, data: Any, status: int = 200) -> Response:
    zone = _zone(ctx.request)
    headers = {"Preference-Applied": f'outlook.timezone="{zone}"'} if zone else None
    return json_response(data, status=status, headers=headers)


def _select(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    raw = request.query_params.get("$select")
    if not raw:
        return item
    wanted = {p.strip().lower() for p in raw.split(",") if p.strip()}
    return {k: v for k, v in item.items()
            if k.lower() in wanted or k in ("id", "@odata.etag")}


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not lo <= int(raw) <= hi:
        raise bad_request(f"Invalid value '{raw}' for query option {name}: use a whole number "
                          f"from {lo} to {hi}.")
    return int(raw)


def _page(ctx: Ctx, items: list[tuple[str, dict[str, Any]]], context: str) -> Response:
    request = ctx.request
    top = _int_param(request, "$top", 10, 1, 1000)
    skip = _int_param(request, "$skip", 0, 0, 10**9)
    zone = _zone(request)
    page = items[skip: skip + top]
    body: dict[str, Any] = {
        "@odata.context": ctx.context_url(context),
        "value": [_select(request, es.render(props, eid, zone)) for eid, props in page],
    }
    if skip + top < len(items):
        params = dict(request.query_params)
        params["$skip"] = str(skip + top)
        params["$top"] = str(top)
        base = f"https://{request.headers.get('host') or '127.0.0.1'}{request.url.path}"
        body["@odata.nextLink"] = base + "?" + urllib.parse.urlencode(params, safe="$/:'")
    return _respond(ctx, body)


def _find(ctx: Ctx, event_id: str) -> tuple[str, dict[str, Any], Event | None]:
    check_id(event_id)
    event = ctx.mailbox.events.get(event_id)
    if event is not None:
        return event.id, event.props, event
    occ = es.find_occurrence(ctx.mailbox, event_id)
    if occ is not None:
        return occ[0], occ[1], None
    raise GraphHTTPError(404, *NOT_FOUND)


def find_event(ctx: Ctx) -> Event:
    """The series master or single event the path names (``{eid}``, in ``{cal}`` if given);
    an occurrence is a 400, an unknown id Graph's 404."""
    _check_calendar(ctx)
    _, _, event = _find(ctx, ctx.request.path_params["eid"])
    if event is None:
        raise bad_request("Attachments of a single occurrence are not supported by this "
                          "emulator; use the series master.")
    return event


def _query_param(request: Request, name: str) -> str | None:
    for key, value in request.query_params.multi_items():
        if key.lower() == name.lower():
            return value
    return None


async def list_events(ctx: Ctx) -> Response:
    _check_calendar(ctx)
    request = ctx.request
    pred = None
    if request.query_params.get("$filter"):
        pred = es.compile_filter(request.query_params["$filter"])
    key, reverse = es.sort_key(request.query_params.get("$orderby"))
    with ctx.emu.state.lock:
        items = [(e.id, e.props) for e in ctx.mailbox.events.values()]
    if pred is not None:
        items = [i for i in items if pred(i[1])]
    items.sort(key=key, reverse=reverse)
    return _page(ctx, items, f"users('{ctx.mailbox.id}')/events")


async def create_event(ctx: Ctx) -> Response:
    _check_calendar(ctx)
    body = await json_body(ctx.request)
    _zone(ctx.request)
    props = es.new_event(body, ctx.mailbox, ctx.emu.clock.now())
    with ctx.emu.state.lock:
        event = es.same_transaction(ctx.mailbox.events.values(), props)
        if event is None:
            event = Event(id=es.new_event_id(), props=props)
            ctx.mailbox.events[event.id] = event
            propagate_invites(ctx.emu.state, ctx.mailbox, event)
            log.info("event created in %s", ctx.mailbox.address)
        else:
            props = event.props
            log.info("event create repeated (same transactionId) in %s", ctx.mailbox.address)
    out = {"@odata.context": ctx.context_url(f"users('{ctx.mailbox.id}')/events/$entity"),
           **es.render(props, event.id, _zone(ctx.request))}
    return _respond(ctx, out, status=201)


async def get_event(ctx: Ctx) -> Response:
    _check_calendar(ctx)
    eid, props, _ = _find(ctx, ctx.request.path_params["eid"])
    out = {"@odata.context": ctx.context_url(f"users('{ctx.mailbox.id}')/events/$entity"),
           **_select(ctx.request, es.render(props, eid, _zone(ctx.request)))}
    return _respond(ctx, out)


async def update_event(ctx: Ctx) -> Response:
    _check_calendar(ctx)
    body = await json_body(ctx.request)
    with ctx.emu.state.lock:
        eid, _, event = _find(ctx, ctx.request.path_params["eid"])
        if event is None:
            raise bad_request("Updating a single occurrence is not supported by this "
                              "emulator; update the series master.")
        es.apply_patch(event.props, body, ctx.emu.clock.now())
    log.info("event updated in %s", ctx.mailbox.address)
    return _respond(ctx, es.render(event.props, eid, _zone(ctx.request)))


async def delete_event(ctx: Ctx) -> Response:
    _check_calendar(ctx)
    with ctx.emu.state.lock:
        eid, _, event = _find(ctx, ctx.request.path_params["eid"])
        if event is None:
            raise bad_request("Deleting a single occurrence is not supported by this "
                              "emulator; delete the series master.")
        del ctx.mailbox.events[eid]
    log.info("event deleted in %s", ctx.mailbox.address)
    return Response(status_code=204)


RESPONSES = ("accept", "tentativelyAccept", "decline", "cancel")


async def respond_to_event(ctx: Ctx) -> Response:
    """``POST …/events/{id}/accept|tentativelyAccept|decline|cancel`` (the action is the
    path's last segment, spelled as the route spells it)."""
    action = ctx.request.url.path.rstrip("/").rsplit("/", 1)[-1]
    body = await json_body(ctx.request, required=False)
    with ctx.emu.state.lock:
        _check_calendar(ctx)
        _, _, event = _find(ctx, ctx.request.path_params["eid"])
        if event is None:
            raise bad_request("Respond to the series master, not to one occurrence.")
        if action == "cancel":
            cancel(ctx.emu.state, ctx.mailbox, event, body, ctx.emu.clock.now())
        else:
            respond(ctx.emu.state, ctx.mailbox, event, action, body, ctx.emu.clock.now())
    log.info("meeting %s in %s", action, ctx.mailbox.address)
    return Response(status_code=202)


def _window(request: Request) -> tuple[Any, Any]:
    raw_start = _query_param(request, "startDateTime")
    raw_end = _query_param(request, "endDateTime")
    if not raw_start or not raw_end:
        raise GraphHTTPError(400, "ErrorInvalidParameter",
                             "This request requires a time window specified by the query "
                             "string parameters StartDateTime and EndDateTime.")
    try:
        start = caltime.parse_range_param(raw_start, "startDateTime")
        end = caltime.parse_range_param(raw_end, "endDateTime")
    except caltime.TimeError as exc:
        raise GraphHTTPError(400, "ErrorInvalidParameter", exc.message) from exc
    if end <= start:
        raise GraphHTTPError(400, "ErrorInvalidParameter",
                             "The parameter 'EndDateTime' must be later than 'StartDateTime'.")
    return start, end


def _view(ctx: Ctx, events: list[Event], context: str) -> Response:
    request = ctx.request
    start, end = _window(request)
    pred = None
    if request.query_params.get("$filter"):
        pred = es.compile_filter(request.query_params["$filter"])
    items: list[tuple[str, dict[str, Any]]] = []
    for event in events:
        items += es.expand(event, start, end)
    if pred is not None:
        items = [i for i in items if pred(i[1])]
    key, reverse = es.sort_key(request.query_params.get("$orderby"))
    items.sort(key=key, reverse=reverse)
    return _page(ctx, items, context)


async def calendar_view(ctx: Ctx) -> Response:
    _check_calendar(ctx)
    with ctx.emu.state.lock:
        events = list(ctx.mailbox.events.values())
    return _view(ctx, events, f"users('{ctx.mailbox.id}')/calendarView")


async def instances(ctx: Ctx) -> Response:
    """``GET /events/{id}/instances?startDateTime&endDateTime``: one series' occurrences."""
    _check_calendar(ctx)
    with ctx.emu.state.lock:
        _, _, event = _find(ctx, ctx.request.path_params["eid"])
    if event is None:
        raise bad_request("instances needs the id of a series master or single event.")
    return _view(ctx, [event], f"users('{ctx.mailbox.id}')/events('{event.id}')/instances")


async def get_calendar(ctx: Ctx) -> Response:
    _check_calendar(ctx)
    cal = {"id": calendar_id(ctx.mailbox), "name": "Calendar", "color": "auto",
           "isDefaultCalendar": True, "canEdit": True, "canShare": True,
           "canViewPrivateItems": True,
           "owner": {"name": ctx.mailbox.display_name, "address": ctx.mailbox.address}}
    if ctx.request.url.path.rstrip("/").endswith("/calendars"):
        return _respond(ctx, {"@odata.context": ctx.context_url(
            f"users('{ctx.mailbox.id}')/calendars"), "value": [cal]})
    return _respond(ctx, {"@odata.context": ctx.context_url(
        f"users('{ctx.mailbox.id}')/calendars/$entity"), **cal})


def event_routes(emu: Any) -> list[BaseRoute]:
    """Routes for events, meeting responses and calendarView.

    Example::

        app = Starlette(routes=event_routes(emu))
    """
    view_ep = endpoint(emu, "calendarView", "calendar.read", calendar_view)
    instances_ep = endpoint(emu, "calendarView", "calendar.read", instances)
    cal_ep = endpoint(emu, "events.list", "calendar.read", get_calendar)
    responses = {action: endpoint(emu, f"events.{action}", "calendar.write", respond_to_event)
                 for action in RESPONSES}
    collection = by_method(emu, GET=("events.list", "calendar.read", list_events),
                           POST=("events.create", "calendar.write", create_event))
    item = by_method(emu, GET=("events.get", "calendar.read", get_event),
                     PATCH=("events.update", "calendar.write", update_event),
                     DELETE=("events.delete", "calendar.write", delete_event))

    routes: list[BaseRoute] = []
    for prefix in USER_PREFIXES:
        routes += [Route(prefix + p, cal_ep, methods=["GET"])
                   for p in ("/calendar", "/calendars", "/calendars/{cal}")]
        for ev in EVENT_SETS:
            routes.append(Route(prefix + ev, collection, methods=["GET", "POST"]))
            routes += [Route(f"{prefix}{ev}/{{eid}}/{action}", ep, methods=["POST"])
                       for action, ep in responses.items()]
            routes.append(Route(prefix + ev + "/{eid}/instances", instances_ep,
                                methods=["GET"]))
            routes.append(Route(prefix + ev + "/{eid}", item,
                                methods=["GET", "PATCH", "DELETE"]))
        routes += [Route(prefix + v, view_ep, methods=["GET"]) for v in VIEW_PATHS]
    return routes
