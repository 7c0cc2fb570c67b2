"""The login host's routes: ``entra_routes(emu)`` is what the emulator app mounts.

Example::

    app = Starlette(routes=[*entra_routes(emu), ...])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from m365bot.emulator.entra import discovery
from m365bot.emulator.entra.authorize import Authorizer
from m365bot.emulator.entra.context import EmuLike
from m365bot.emulator.entra.devicecode import devicecode_endpoint, devicelogin_page
from m365bot.emulator.entra.runtime import Runtime
from m365bot.emulator.entra.token import token_endpoint

Endpoint = Callable[[Request], Awaitable[Response]]


def entra_routes(emu: EmuLike) -> list[BaseRoute]:
    """Routes for ``/{tenant}/oauth2/v2.0/...``, discovery, JWKS and the sign-in pages."""
    rt = Runtime()
    az = Authorizer(emu, rt)

    async def token(request: Request) -> Response:
        return await token_endpoint(emu, rt, request)

    async def devicecode(request: Request) -> Response:
        return await devicecode_endpoint(az, request)

    async def devicelogin(request: Request) -> Response:
        return await devicelogin_page(az, request)

    async def openid(request: Request) -> Response:
        return discovery.openid_configuration(emu, request)

    async def keys(request: Request) -> Response:
        return discovery.jwks(emu, request)

    async def instance(request: Request) -> Response:
        return discovery.instance_discovery(emu, request)

    every = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [
        Route("/common/discovery/instance", instance, methods=["GET"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid, methods=["GET"]),
        Route("/{tenant}/.well-known/openid-configuration", openid, methods=["GET"]),
        Route("/{tenant}/discovery/v2.0/keys", keys, methods=["GET"]),
        Route("/{tenant}/discovery/keys", keys, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=every),
        Route("/{tenant}/oauth2/v2.0/authorize", az.authorize, methods=["GET", "POST"]),
        Route("/{tenant}/oauth2/v2.0/authorize/pick", az.pick, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/devicecode", devicecode, methods=every),
        Route("/{tenant}/oauth2/v2.0/logout", az.logout, methods=["GET", "POST"]),
        Route("/{tenant}/login", az.login, methods=["POST"]),
        Route("/{tenant}/Consent/Set", az.consent, methods=["POST"]),
        Route("/devicelogin", devicelogin, methods=["GET", "POST"]),
    ]
