"""The device code flow: ``POST /{tenant}/oauth2/v2.0/devicecode`` and the ``/devicelogin``
page where the user types the code, then signs in on the usual sign-in page.

Polling the token endpoint answers ``authorization_pending`` (AADSTS70016) until then.

Example::

    POST /contoso.onmicrosoft.com/oauth2/v2.0/devicecode  client_id=...&scope=Mail.Read
    -> {"user_code": "BCDF23456", "device_code": "...", "verification_uri": ".../devicelogin"}
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from m365bot.emulator.entra import errors, pages, scopes
from m365bot.emulator.entra.authorize import Authorizer, _form
from m365bot.emulator.entra.context import Site, error_response, run_op
from m365bot.emulator.entra.runtime import DEVICE_CODE_LIFETIME
from m365bot.emulator.entra.token import read_form

log = logging.getLogger(__name__)


async def devicecode_endpoint(az: Authorizer, request: Request) -> Response:
    emu = az.emu
    try:
        if request.method != "POST":
            raise errors.post_only(request.method)
        form = await read_form(request)
    except errors.EntraError as err:
        return error_response(emu, request, err)
    client_id = form.get("client_id")

    async def call() -> Response:
        try:
            if not client_id:
                raise errors.missing_parameter("client_id")
            scope = form.get("scope")
            if not scope:
                raise errors.missing_parameter("scope")
            site = Site.of(request)
            tenant, app = site.resolve_app_tenant(
                emu.state, request.path_params["tenant"], client_id
            )
            if not app.public_client:
                raise errors.EntraError(
                    7000218,
                    "invalid_client",
                    "The request body must contain the following parameter: 'client_assertion' "
                    "or 'client_secret'.",
                    status=401,
                )
            scopes.parse_scopes(scope, tenant)
        except errors.EntraError as err:
            return error_response(emu, request, err)
        device_code, flow = az.rt.new_device_flow(
            client_id=app.client_id, tenant_id=tenant.id, scope=scope, created=emu.clock.now()
        )
        uri = f"{site.base}/devicelogin"
        log.info("devicecode client=%s -> issued", app.client_id)
        return JSONResponse(
            {
                "user_code": flow.user_code,
                "device_code": device_code,
                "verification_uri": uri,
                "expires_in": DEVICE_CODE_LIFETIME,
                "interval": 5,
                "message": f"To sign in, use a web browser to open the page {uri} and enter the "
                f"code {flow.user_code} to authenticate.",
            }
        )

    return await run_op(emu, "token", request, client_id, call)


async def devicelogin_page(az: Authorizer, request: Request) -> Response:
    """GET shows the code box; POST finds the flow and continues to the sign-in page."""
    if request.method == "GET":
        return pages.render("device.html", action="/devicelogin", error="")
    form = await _form(request)
    found = az.rt.device_flow_by_user_code(form.get("otc", ""))
    emu = az.emu
    if found is None or emu.clock.now() - found[1].created > DEVICE_CODE_LIFETIME:
        return pages.render(
            "device.html",
            action="/devicelogin",
            error="That code didn't work. Check the code and try again.",
        )
    device_code, flow = found
    tenant = emu.state.tenants[flow.tenant_id]
    tx = az.rt.new_transaction(
        tenant_segment=tenant.id,
        tenant_id=tenant.id,
        client_id=flow.client_id,
        params={"scope": flow.scope, "client_id": flow.client_id, "prompt": "login"},
        created=emu.clock.now(),
        device_code=device_code,
    )
    return az._signin_page(request, tx)
