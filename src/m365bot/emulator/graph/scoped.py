"""The per-request pipeline shared by the attachment, upload-session, calendar and ``$batch``
handlers: authenticate → resolve the mailbox (``/me`` or ``/users/{id|upn}``) → authorize →
``emu.control.run``.

It builds on the Graph framework in ``auth.py`` (``authenticate``, ``authorize``) and keeps
the wire details (JSON parsing, response headers) in one place for these modules.

Example::

    async def list_events(request):
        return await guarded(emu, request, op="events.list", need="calendar.read",
                             call=lambda ctx: render_list(ctx))
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.state import Mailbox, Message

ODATA_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
MAX_JSON_BODY = 8 * 1024 * 1024


@dataclass
class Ctx:
    """What a handler gets: the emulator, the request, who is calling, and whose mailbox."""

    emu: Any
    request: Request
    principal: Any
    mailbox: Mailbox

    @property
    def app_id(self) -> str | None:
        return principal_app_id(self.principal)

    def graph_base(self) -> str:
        """``https://{host}/v1.0`` as the client addressed it."""
        host = self.request.headers.get("host") or "127.0.0.1"
        return f"https://{host}/v1.0"

    def context_url(self, tail: str) -> str:
        return f"{self.graph_base()}/$metadata#{tail}"


def principal_app_id(principal: Any) -> str | None:
    for name in ("app_id", "client_id", "appid"):
        value = getattr(principal, name, None)
        if value:
            return str(value)
    if isinstance(principal, dict):
        return principal.get("appid") or principal.get("app_id")
    return None


def _principal_user(principal: Any) -> str | None:
    for name in ("user_id", "oid", "upn"):
        value = getattr(principal, name, None)
        if value:
            return str(value)
    return None


def _is_app_only(principal: Any) -> bool:
    kind = getattr(principal, "kind", None) or getattr(principal, "idtyp", None)
    if kind is not None:
        return str(kind) == "app"
    return bool(getattr(principal, "app_only", False))


def resolve_mailbox(emu: Any, request: Request, principal: Any) -> Mailbox:
    """The mailbox the path names; ``/me`` needs a delegated token."""
    ref = request.path_params.get("user")
    if ref is None:
        if _is_app_only(principal):
            raise bad_request("/me request is only valid with delegated authentication flow.")
        ref = _principal_user(principal)
        if ref is None:
            raise bad_request("/me request is only valid with delegated authentication flow.")
    ref = str(ref).strip("'")
    box: Mailbox | None = emu.state.mailbox(ref)
    if box is None:
        raise GraphHTTPError(404, "ErrorInvalidUser", f"The requested user '{ref}' is invalid.")
    if not box.enabled_for_rest:
        raise GraphHTTPError(404, "MailboxNotEnabledForRESTAPI",
                             "The mailbox is either inactive, soft-deleted, or is hosted "
                             "on-premise.", inner=False)
    return box


async def guarded(
    emu: Any,
    request: Request,
    *,
    op: str,
    need: str,
    call: Callable[[Ctx], Awaitable[Response]],
    upload_bytes: int = 0,
) -> Response:
    """Authenticate, resolve and authorize, then run ``call`` through ``control.run``."""
    from m365bot.emulator.graph import auth

    principal = auth.authenticate(emu, request)
    mailbox = resolve_mailbox(emu, request, principal)
    auth.authorize(principal, mailbox, need)
    ctx = Ctx(emu=emu, request=request, principal=principal, mailbox=mailbox)

    async def run() -> Response:
        return await call(ctx)

    response: Response = await emu.control.run(
        op=op, request=request, app_id=principal_app_id(principal), mailbox=mailbox.address,
        upload_bytes=upload_bytes, call=run,
    )
    return response


async def json_body(request: Request, *, required: bool = True) -> Any:
    """The request's JSON body, or Graph's 400 for empty/malformed/oversized JSON."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_JSON_BODY:
        raise GraphHTTPError(413, "RequestEntityTooLarge",
                             "The request body is larger than this endpoint accepts.")
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        raise GraphHTTPError(413, "RequestEntityTooLarge",
                             "The request body is larger than this endpoint accepts.")
    if not raw.strip():
        if required:
            raise bad_request("Empty Payload. JSON content expected.")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("Unable to read JSON request payload. Please ensure Content-Type "
                          "header is set and payload is of valid JSON format.") from exc


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = JSONResponse(data, status_code=status, headers=headers)
    resp.headers["content-type"] = ODATA_JSON
    resp.headers["OData-Version"] = "4.0"
    return resp


def find_message(mailbox: Mailbox, message_id: str) -> Message:
    """A message by REST id or immutable id; 400 for malformed, 404 for missing ids."""
    from m365bot.emulator.graph.attachstore import check_id

    check_id(message_id)
    msg = mailbox.messages.get(message_id)
    if msg is not None:
        return msg
    for m in mailbox.messages.values():
        if m.immutable_id == message_id:
            return m
    raise GraphHTTPError(404, "ErrorItemNotFound",
                         "The specified object was not found in the store.")
