"""mailFolders: list (top level or ``childFolders``, ``includeHiddenFolders=true``), get,
create, rename (PATCH), move and delete, with counts. Well-known names (``inbox``, ``archive``, …)
work anywhere a folder id does.

Example (what a client sees)::

    POST /v1.0/me/mailFolders/inbox/childFolders {"displayName": "Invoices"}
    201 {"id": "AAMkAG...", "displayName": "Invoices", "parentFolderId": "<inbox id>", ...}
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.responses import Response

from m365bot.emulator.graph import store
from m365bot.emulator.graph.common import (
    Ctx,
    by_method,
    check_single_item_options,
    empty,
    json_body,
    params,
)
from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.graph.messages import PREFIXES, removed_ref
from m365bot.emulator.graph.query import next_link
from m365bot.emulator.state import Folder

log = logging.getLogger(__name__)

_OPTIONS = frozenset({"$select", "$top", "$skip", "$filter", "$count", "$expand", "$orderby"})
_FIELDS = ("id", "displayName", "parentFolderId", "childFolderCount", "unreadItemCount",
           "totalItemCount", "isHidden")  # v1.0's mailFolder: sizeInBytes is beta-only
_FILTER = re.compile(r"^\s*displayName\s+(eq|ne)\s+'((?:[^']|'')*)'\s*$|"
                     r"^\s*(startswith)\(\s*displayName\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.I)
_WRITABLE = {"displayname": "displayName", "ishidden": "isHidden"}


def _select(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    lower = {f.lower(): f for f in _FIELDS}
    names = []
    for part in raw.split(","):
        name = lower.get(part.strip().lower())
        if name is None:
            raise bad_request(f"Could not find a property named '{part.strip()}' on type "
                              "'microsoft.graph.mailFolder'.")
        names.append(name)
    return tuple(names)


def _shape(ctx: Ctx, folder: Folder, select: tuple[str, ...] | None) -> dict[str, Any]:
    full = store.render_folder(ctx.mailbox, folder)
    if select is None:
        return full
    return {k: full[k] for k in ("id", *select) if k in full}


def _int(raw: str, name: str, high: int) -> int:
    if not raw.isdigit() or not 0 <= int(raw) <= high:
        raise bad_request(f"Invalid value '{raw}' for query option '{name}'.")
    return int(raw)


def _filter(raw: str | None) -> Any:
    if raw is None:
        return lambda f: True
    m = _FILTER.match(raw)
    if m is None:
        raise bad_request("Invalid filter clause: mailFolders support displayName eq|ne 'x' and "
                          "startswith(displayName,'x').")
    if m.group(1):
        op, value = m.group(1).lower(), m.group(2).replace("''", "'").lower()
        if op == "eq":
            return lambda f: f.display_name.lower() == value
        return lambda f: f.display_name.lower() != value
    prefix = m.group(4).replace("''", "'").lower()
    return lambda f: f.display_name.lower().startswith(prefix)


async def list_folders(ctx: Ctx) -> Response:
    request = ctx.request
    qp = request.query_params
    for key in qp:
        if key.startswith("$") and key.lower() not in _OPTIONS:
            raise bad_request(f"Query option '{key}' is not supported.")
    select = _select(qp.get("$select"))
    top = _int(qp["$top"], "$top", 1000) if "$top" in qp else 10
    if top < 1:
        raise bad_request("Invalid value '0' for query option '$top'.")
    skip = _int(qp["$skip"], "$skip", 10**9) if "$skip" in qp else 0
    hidden = (qp.get("includeHiddenFolders") or "").lower() == "true"
    keep = _filter(qp.get("$filter"))
    box = ctx.mailbox
    with ctx.emu.state.lock:
        ref = request.path_params.get("folder")
        parent = store.find_folder(box, ref) if ref else store.well_known(box, "msgfolderroot")
        kids = [f for f in store.child_folders(box, parent.id, hidden=hidden) if keep(f)]
        kids.sort(key=lambda f: f.display_name.lower())
        page = kids[skip:skip + top]
        value = [_shape(ctx, f, select) for f in page]
    tail = f"{ctx.who()}/mailFolders" + (f"('{ref}')/childFolders" if ref else "")
    out: dict[str, Any] = {"@odata.context": ctx.context_url(tail)}
    if (qp.get("$count") or "").lower() == "true":
        out["@odata.count"] = len(kids)
    out["value"] = value
    if skip + top < len(kids):
        url = f"https://{request.headers.get('host', 'graph.microsoft.com')}{request.url.path}"
        out["@odata.nextLink"] = next_link(url, qp, skip + top)
    return ctx.json(out)


def _target(ctx: Ctx) -> Folder:
    ref = ctx.request.path_params.get("child") or ctx.request.path_params["folder"]
    folder = store.find_folder(ctx.mailbox, str(ref))
    parent_ref = ctx.request.path_params.get("child") and ctx.request.path_params["folder"]
    if parent_ref:
        parent = store.find_folder(ctx.mailbox, str(parent_ref))
        if folder.parent_id != parent.id:
            raise store.item_not_found()
    return folder


async def get_folder(ctx: Ctx) -> Response:
    qp = ctx.request.query_params
    check_single_item_options(ctx.request)
    select = _select(qp.get("$select"))
    with ctx.emu.state.lock:
        folder = _target(ctx)
        out = {"@odata.context": ctx.context_url(f"{ctx.who()}/mailFolders/$entity"),
               **_shape(ctx, folder, select)}
    return ctx.json(out)


def _props(body: Any, *, create: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object like {\"displayName\": \"Invoices\"}.")
    out: dict[str, Any] = {}
    for key, value in body.items():
        name = _WRITABLE.get(str(key).lower())
        if name is None:
            raise GraphHTTPError(400, "RequestBodyRead",
                                 f"The property '{key}' does not exist on type "
                                 "'microsoft.graph.mailFolder'.")
        out[name] = value
    name = out.get("displayName")
    if (create or "displayName" in out) and (not isinstance(name, str) or not name.strip()):
        raise GraphHTTPError(400, "ErrorInvalidRequest" if create else "RequestBodyRead",
                             "The folder's displayName is required and must be a non-empty "
                             "string.")
    if "isHidden" in out and not isinstance(out["isHidden"], bool):
        raise bad_request("'isHidden' must be true or false.")
    if isinstance(name, str) and len(name) > 255:
        raise bad_request("The folder's displayName is longer than 255 characters.")
    return out


def _check_unique(ctx: Ctx, parent_id: str, name: str, skip: str = "") -> None:
    for f in ctx.mailbox.folders.values():
        if f.parent_id == parent_id and f.id != skip and \
                f.display_name.lower() == name.strip().lower():
            raise GraphHTTPError(409, "ErrorFolderExists",
                                 "A folder with the specified name already exists.",
                                 inner=False)


async def create_folder(ctx: Ctx) -> Response:
    props = _props(await json_body(ctx.request), create=True)
    box = ctx.mailbox
    with ctx.emu.state.lock:
        ref = ctx.request.path_params.get("folder")
        parent = store.find_folder(box, ref) if ref else store.well_known(box, "msgfolderroot")
        _check_unique(ctx, parent.id, props["displayName"])
        folder = Folder(id=store.new_folder_id(box), display_name=props["displayName"].strip(),
                        parent_id=parent.id, is_hidden=bool(props.get("isHidden", False)))
        box.folders[folder.id] = folder
        out = {"@odata.context": ctx.context_url(f"{ctx.who()}/mailFolders/$entity"),
               **_shape(ctx, folder, None)}
    log.info("mail folder created")
    return ctx.json(out, 201)


async def update_folder(ctx: Ctx) -> Response:
    props = _props(await json_body(ctx.request), create=False)
    with ctx.emu.state.lock:
        folder = _target(ctx)
        if "displayName" in props:
            if folder.well_known_name:
                raise GraphHTTPError(400, "ErrorInvalidRequest",
                                     "A distinguished folder cannot be renamed.", inner=False)
            _check_unique(ctx, folder.parent_id, props["displayName"], skip=folder.id)
            folder.display_name = props["displayName"].strip()
        if "isHidden" in props:
            folder.is_hidden = props["isHidden"]
        out = {"@odata.context": ctx.context_url(f"{ctx.who()}/mailFolders/$entity"),
               **_shape(ctx, folder, None)}
    log.info("mail folder updated")
    return ctx.json(out)


async def delete_folder(ctx: Ctx) -> Response:
    box = ctx.mailbox
    state = ctx.emu.state
    with state.lock:
        folder = _target(ctx)
        if folder.well_known_name:
            raise GraphHTTPError(400, "ErrorDeleteDistinguishedFolder",
                                 "Distinguished folders cannot be deleted.", inner=False)
        doomed = store.subtree_ids(box, folder.id)
        for mid in [m.id for m in box.messages.values() if m.folder_id in doomed]:
            msg = box.messages.pop(mid)
            box.deleted_ids.append((state.next_seq(), msg.folder_id, removed_ref(msg)))
        for fid in doomed:
            box.folders.pop(fid, None)
    log.info("mail folder deleted")
    return empty(204)


async def move_folder(ctx: Ctx) -> Response:
    """``POST …/mailFolders/{id}/move {"destinationId": …}``: 200 with the moved folder
    (learn.microsoft.com/graph/api/mailfolder-move: the destination is "the folder ID, or a
    well-known folder name"; the folder keeps its id and takes its contents along)."""
    args = params(await json_body(ctx.request), {"destinationid": "destinationId"},
                  action="move")
    dest_ref = args.get("destinationId")
    if not isinstance(dest_ref, str) or not dest_ref:
        raise bad_request("The 'destinationId' parameter is required (a folder id or a "
                          "well-known name like 'archive').")
    box = ctx.mailbox
    with ctx.emu.state.lock:
        folder = _target(ctx)
        dest = store.find_folder(box, dest_ref)
        if folder.well_known_name:
            raise GraphHTTPError(400, "ErrorMoveDistinguishedFolder",
                                 "Distinguished folders cannot be moved.", inner=False)
        if dest.id in store.subtree_ids(box, folder.id):
            raise GraphHTTPError(400, "ErrorMoveCopyFailed",
                                 "The folder cannot be moved into itself or a subfolder.",
                                 inner=False)
        _check_unique(ctx, dest.id, folder.display_name, skip=folder.id)
        folder.parent_id = dest.id
        out = {"@odata.context": ctx.context_url(f"{ctx.who()}/mailFolders/$entity"),
               **_shape(ctx, folder, None)}
    log.info("mail folder moved")
    return ctx.json(out)


def folder_routes(emu: Any) -> list[Any]:
    from starlette.routing import Route

    collection = by_method(emu, GET=("mailFolders.list", "mail.read", list_folders),
                           POST=("mailFolders.create", "mail.write", create_folder))
    item = by_method(emu, GET=("mailFolders.get", "mail.read", get_folder),
                     PATCH=("mailFolders.update", "mail.write", update_folder),
                     DELETE=("mailFolders.delete", "mail.write", delete_folder))
    move = by_method(emu, POST=("mailFolders.move", "mail.write", move_folder))

    routes = []
    for p in PREFIXES:
        routes += [
            Route(p + "/mailFolders", collection, methods=["GET", "POST"]),
            Route(p + "/mailFolders/{folder}/childFolders", collection, methods=["GET", "POST"]),
            Route(p + "/mailFolders/{folder}/childFolders/{child}", item,
                  methods=["GET", "PATCH", "DELETE"]),
            Route(p + "/mailFolders/{folder}", item, methods=["GET", "PATCH", "DELETE"]),
            Route(p + "/mailFolders/{folder}/move", move, methods=["POST"]),
        ]
    return routes
