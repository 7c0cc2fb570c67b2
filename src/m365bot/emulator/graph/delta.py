"""Message delta on a folder: ``GET …/mailFolders/{id}/messages/delta``.

The first call fixes the options (``$select``, ``$filter`` on ``receivedDateTime ge|gt``,
``changeType``, the page size from ``Prefer: odata.maxpagesize`` or ``$top``); they travel
in the opaque ``$skiptoken`` (next pages) and ``$deltatoken`` (the next round). Changes are
found through each message's change sequence number; deleted or moved-away items come back
as ``{"id": …, "@removed": {"reason": "deleted"}}``.

Example (what a client sees)::

    GET …/mailFolders/inbox/messages/delta            → value + @odata.nextLink ($skiptoken)
    GET <nextLink>                                     → … + @odata.deltaLink ($deltatoken)
    GET <deltaLink>                                    → only what changed since
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from m365bot.emulator.graph import store
from m365bot.emulator.graph.common import Ctx, handle
from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.graph.messages import PREFIXES, SCOPES, folder_of
from m365bot.emulator.graph.query import parse_select
from m365bot.emulator.graph.queryprops import to_epoch

_FILTER = re.compile(r"^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$", re.I)
_ALLOWED = frozenset({"$select", "$top", "$filter", "$orderby", "$expand", "$skiptoken",
                      "$deltatoken", "changetype"})
DEFAULT_PAGE = 10


def _invalid_token() -> GraphHTTPError:
    return GraphHTTPError(400, "ErrorInvalidSyncStateData",
                          "The sync state data is corrupt or otherwise invalid. Start over "
                          "with a delta request without $deltatoken or $skiptoken.")


def encode(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _invalid_token() from None
    if not isinstance(data, dict) or not isinstance(data.get("since"), int):
        raise _invalid_token()
    for key, kind in (("offset", int), ("high", int), ("opts", dict), ("folder", str),
                      ("since_time", (int, float))):
        if key in data and (not isinstance(data[key], kind) or isinstance(data[key], bool)):
            raise _invalid_token()
    opts = data.get("opts") or {}
    size = opts.get("size", DEFAULT_PAGE)
    select = opts.get("select")
    if not isinstance(size, int) or not 1 <= size <= 1000 or min(
            data.get("offset", 0), data["since"]) < 0 or (
            select is not None and not (isinstance(select, list)
                                        and all(isinstance(x, str) for x in select))) or (
            opts.get("after") is not None and not isinstance(opts["after"], int | float)) or (
            opts.get("change") not in (None, "created", "updated", "deleted")):
        raise _invalid_token()
    return data


def _first_call_options(request: Request, prefer: dict[str, str]) -> dict[str, Any]:
    qp = request.query_params
    if "$search" in qp:
        raise bad_request("$search is not supported on delta queries.")
    opts: dict[str, Any] = {"select": None, "after": None, "strict": False, "change": None}
    select = parse_select(qp.get("$select"))
    opts["select"] = list(select) if select else None
    if "$filter" in qp:
        m = _FILTER.match(qp["$filter"])
        stamp = to_epoch(m.group(2)) if m else None
        if m is None or stamp is None:
            raise bad_request("Delta supports only '$filter=receivedDateTime ge|gt "
                              "<date and time>'.")
        opts["after"] = stamp
        opts["strict"] = m.group(1).lower() == "gt"
    if "$orderby" in qp and qp["$orderby"].strip().lower() != "receiveddatetime desc":
        raise bad_request("Delta supports only '$orderby=receivedDateTime desc'.")
    change = qp.get("changeType")
    if change is not None:
        if change.lower() not in ("created", "updated", "deleted"):
            raise bad_request("changeType must be created, updated or deleted.")
        opts["change"] = change.lower()
    size = prefer.get("odata.maxpagesize") or qp.get("$top")
    if size is not None:
        if not str(size).isdigit() or not 1 <= int(size) <= 1000:
            raise bad_request(f"Invalid page size '{size}': expected 1..1000.")
        opts["size"] = int(size)
    else:
        opts["size"] = DEFAULT_PAGE
    return opts


async def delta(ctx: Ctx) -> Response:
    request = ctx.request
    qp = request.query_params
    for key in qp:
        if key.lower() not in _ALLOWED and key.startswith("$"):
            raise bad_request(f"Query option '{key}' is not supported on delta queries.")
    state = ctx.emu.state
    box = ctx.mailbox
    with state.lock:
        folder_id = folder_of(ctx)
        folder = box.folders[folder_id] if folder_id else store.well_known(box, "inbox")
        if "$skiptoken" in qp:
            token = decode(qp["$skiptoken"])
        elif "$deltatoken" in qp:
            token = decode(qp["$deltatoken"])
            token["offset"] = 0
            token["high"] = state.seq
        else:
            token = {"since": 0, "offset": 0, "high": state.seq,
                     "opts": _first_call_options(request, ctx.prefer)}
        if token.get("folder", folder.id) != folder.id:
            raise _invalid_token()
        opts = token.get("opts") or {}
        since, high = int(token["since"]), int(token.get("high", state.seq))
        offset = int(token.get("offset", 0))
        size = int(opts.get("size") or DEFAULT_PAGE)
        select = tuple(opts["select"]) if opts.get("select") else None
        after, strict = opts.get("after"), bool(opts.get("strict"))
        change = opts.get("change")
        entries: list[tuple[int, Any]] = []
        if change != "deleted":
            for m in store.messages_in(box, (folder.id,)):
                if not since < m.seq <= high:
                    continue
                if after is not None:
                    got = to_epoch(str(m.props.get("receivedDateTime") or ""))
                    if got is None or got < after or (strict and got == after):
                        continue
                if change == "created" and since and \
                        (to_epoch(str(m.props.get("createdDateTime") or "")) or 0) < \
                        token.get("since_time", 0):
                    continue
                entries.append((m.seq, m))
        if since and change in (None, "deleted"):
            live = {m.immutable_id for m in store.messages_in(box, (folder.id,))}
            for seq, fid, ref in store.tombstones_since(box, since):
                rest_id, _, immutable_id = ref.partition(" ")
                if fid == folder.id and seq <= high and immutable_id not in live:
                    entries.append((seq, immutable_id if ctx.immutable and immutable_id
                                    else rest_id))
        entries.sort(key=lambda e: e[0])
        page = entries[offset:offset + size]
        value: list[dict[str, Any]] = []
        for _, item in page:
            if isinstance(item, str):
                value.append({"@odata.type": "#microsoft.graph.message", "id": item,
                              "@removed": {"reason": "deleted"}})
            else:
                value.append(store.render(item, select, immutable=ctx.immutable,
                                          body_type=ctx.body_type, owa_host=ctx.owa_host))
        now = ctx.now()
    base = f"https://{request.headers.get('host', 'graph.microsoft.com')}{request.url.path}"
    out: dict[str, Any] = {"@odata.context": ctx.context_url("Collection(message)")}
    if offset + size < len(entries):
        nxt = {**token, "offset": offset + size, "high": high, "folder": folder.id}
        out["@odata.nextLink"] = f"{base}?$skiptoken={quote(encode(nxt))}"
    else:
        with state.lock:  # the tombstones after ``high`` must now be kept for this token
            box.mark_delta_token(folder.id, high)
        done = {"since": high, "opts": opts, "folder": folder.id, "since_time": now}
        out["@odata.deltaLink"] = f"{base}?$deltatoken={quote(encode(done))}"
    out["value"] = value
    headers = {}
    if "odata.maxpagesize" in ctx.prefer:
        headers["Preference-Applied"] = f"odata.maxpagesize={size}"
    return ctx.json(out, headers=headers)


def delta_routes(emu: Any) -> list[Any]:
    from starlette.routing import Route

    async def ep(request: Request) -> Response:
        return await handle(emu, request, op="messages.delta", need="mail.read", call=delta)

    return [Route(p + scope + "/messages/delta", ep, methods=["GET"])
            for p in PREFIXES for scope in SCOPES if scope]
