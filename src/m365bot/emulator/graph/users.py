"""User objects: ``GET /v1.0/me`` and ``GET /v1.0/users/{id|upn}`` (users and shared
mailboxes), with Graph's directory permission rules.

Delegated ``/me`` needs ``User.Read`` (or a wider user scope); another user needs
``User.ReadBasic.All``/``User.Read.All``; app-only needs ``User.Read.All`` or
``User.ReadBasic.All`` (or ``Directory.Read.All``).

Example (what a client sees)::

    GET /v1.0/me  →  {"id": "...", "displayName": "Alice Adams", "userPrincipalName": "alice@..."}
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from m365bot.emulator.graph import auth
from m365bot.emulator.graph.common import ME_WITH_APP, json_response, parse_prefer
from m365bot.emulator.graph.errors import GraphHTTPError, bad_request

log = logging.getLogger(__name__)

_WIDE = {"User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
         "Directory.ReadWrite.All"}
_SELF = {"User.Read", "User.ReadWrite", *_WIDE}
_FIELDS = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
           "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")


def _denied() -> GraphHTTPError:
    return GraphHTTPError(403, "Authorization_RequestDenied",
                          "Insufficient privileges to complete the operation.")


def _not_found(ref: str) -> GraphHTTPError:
    return GraphHTTPError(404, "Request_ResourceNotFound",
                          f"Resource '{ref}' does not exist or one of its queried "
                          "reference-property objects are not present.")


def _user_object(emu: Any, ref: str, tenant_id: str) -> dict[str, Any] | None:
    state = emu.state
    user = state.users.get(ref) or state.user_by_upn(ref)
    if user is not None and user.tenant_id == tenant_id:
        first, _, last = user.display_name.partition(" ")
        return {"businessPhones": [], "displayName": user.display_name, "givenName": first,
                "jobTitle": None, "mail": user.mail or user.upn, "mobilePhone": None,
                "officeLocation": None, "preferredLanguage": "en-US", "surname": last or None,
                "userPrincipalName": user.upn, "id": user.id}
    box = state.mailbox(ref)
    if box is not None and box.tenant_id == tenant_id and box.kind == "shared":
        return {"businessPhones": [], "displayName": box.display_name, "givenName": None,
                "jobTitle": None, "mail": box.address, "mobilePhone": None,
                "officeLocation": None, "preferredLanguage": None, "surname": None,
                "userPrincipalName": box.address, "id": box.id}
    return None


def user_routes(emu: Any) -> list[Any]:
    from starlette.routing import Route

    async def get_user(request: Request) -> Response:
        principal = auth.authenticate(emu, request)
        ref = request.path_params.get("user")
        op = "users.get"
        if ref is None:
            op = "me"
            if principal.app_only or not principal.user_id:
                raise bad_request(ME_WITH_APP)
            ref = principal.user_id
        ref = str(ref).strip("'")
        own = ref.lower() in {str(principal.user_id).lower(), str(principal.upn).lower()}
        if principal.app_only:
            allowed = bool(principal.roles & _WIDE)
        else:
            allowed = bool(principal.scopes & (_SELF if own else _WIDE))
        if not allowed:
            raise _denied()
        select = request.query_params.get("$select")
        for key in request.query_params:
            if key.startswith("$") and key.lower() not in ("$select", "$expand"):
                raise bad_request(f"Query option '{key}' is not supported.")

        async def call() -> Response:
            obj = _user_object(emu, ref, principal.tenant_id)
            if obj is None:
                raise _not_found(ref)
            host = request.headers.get("host") or "graph.microsoft.com"
            out: dict[str, Any] = {"@odata.context": f"https://{host}/v1.0/$metadata#users/$entity"}
            if select:
                wanted = {s.strip().lower() for s in select.split(",")}
                out.update({k: v for k, v in obj.items() if k.lower() in wanted or k == "id"})
            else:
                out.update(obj)
            parse_prefer(request)
            return json_response(out)

        response: Response = await emu.control.run(op=op, request=request,
                                                   app_id=principal.app_id, mailbox=None,
                                                   call=call)
        return response

    return [Route("/v1.0/me", get_user, methods=["GET"]),
            Route("/v1.0/users/{user}", get_user, methods=["GET"])]
