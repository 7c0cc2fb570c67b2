"""What every login-host handler needs: the emulator, the host the request came in on,
the tenant it names, and the one-line hook into ``emu.control.run``.

The host decides the cloud (issue 2): on ``login.microsoftonline.com`` only global tenants
exist, on ``login.microsoftonline.us`` only GCC High and DoD ones, on
``login.chinacloudapi.cn`` only China ones. Direct mode (``127.0.0.1:PORT``) finds any tenant.

Example::

    site = Site.of(request)
    tenant = site.resolve_tenant(emu.state, "contoso.onmicrosoft.com")  # or EntraError 90002
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from m365bot.emulator import hosts
from m365bot.emulator.clock import Clock
from m365bot.emulator.entra import errors
from m365bot.emulator.state import App, State, Tenant
from m365bot.emulator.tokens import Tokens

META_TENANTS = ("common", "organizations", "consumers")


class EmuLike(Protocol):
    """The parts of :class:`m365bot.emulator.Emulator` the identity side uses."""

    state: State
    clock: Clock
    tokens: Tokens
    settings: Any
    control: Any


def setting(emu: EmuLike, name: str, default: Any) -> Any:
    """A value from ``emu.settings`` whether it is an object or a mapping."""
    s = getattr(emu, "settings", None)
    if s is None:
        return default
    if isinstance(s, dict):
        return s.get(name, default)
    return getattr(s, name, default)


async def run_op(
    emu: EmuLike,
    op: str,
    request: Request,
    app_id: str | None,
    call: Callable[[], Awaitable[Response]],
) -> Response:
    """Send the handler through ``emu.control.run`` (latency, faults, inspection)."""
    control = getattr(emu, "control", None)
    if control is None or not hasattr(control, "run"):
        return await call()
    response: Response = await control.run(
        op=op, request=request, app_id=app_id, mailbox=None, upload_bytes=0, call=call
    )
    return response


@dataclass(frozen=True)
class Site:
    """The login host as the client sees it: ``https://login.microsoftonline.com`` in proxy
    mode, ``https://127.0.0.1:PORT`` in direct mode."""

    host: str  # Host header as sent, e.g. "login.microsoftonline.com" or "127.0.0.1:8443"
    info: hosts.HostInfo | None  # None in direct mode

    @classmethod
    def of(cls, request: Request) -> Site:
        host = request.headers.get("host") or f"127.0.0.1:{request.url.port or 443}"
        return cls(host=host, info=hosts.lookup(host))

    @property
    def base(self) -> str:
        return f"https://{self.host}"

    @property
    def hostname(self) -> str:
        """Host without port: used in ``error_uri``."""
        return self.info.host if self.info else self.host

    def serves(self, cloud: hosts.Cloud) -> bool:
        """Whether a tenant of ``cloud`` can be found through this host."""
        if self.info is None:
            return True
        return hosts.LOGIN_HOST[cloud] == self.info.host

    def resolve_tenant(self, state: State, name: str) -> Tenant:
        """The tenant a path segment names (GUID or domain); 90002 if absent on this host."""
        tenant = state.tenant(name)
        if tenant is None or not self.serves(tenant.cloud):
            raise errors.tenant_not_found(name)
        return tenant

    def resolve_app_tenant(self, state: State, name: str, client_id: str) -> tuple[Tenant, App]:
        """Tenant and app for a token or authorize request.

        Apps are single-tenant, as new Entra registrations are by default: ``/common`` and
        ``/organizations`` fail with AADSTS50194, ``/consumers`` with AADSTS9002331 (an app
        with a truthy ``multi_tenant`` attribute resolves to its home tenant instead). A
        concrete tenant must be the app's own, else 700016.
        """
        app = state.apps.get(client_id)
        if name.lower() in META_TENANTS:
            if app is None:
                raise errors.app_not_found(client_id, name)
            tenant = state.tenants.get(app.tenant_id)
            if tenant is None or not self.serves(tenant.cloud):
                raise errors.app_not_found(client_id, name)
            if name.lower() == "consumers":
                raise errors.EntraError(
                    9002331,
                    "invalid_request",
                    f"Application '{app.client_id}'({app.display_name}) is configured for use "
                    "by Azure Active Directory users only. Please do not use the /consumers "
                    "endpoint to serve this request.",
                )
            if not getattr(app, "multi_tenant", False):
                raise errors.EntraError(
                    50194,
                    "invalid_request",
                    f"Application '{app.client_id}'({app.display_name}) is not configured as a "
                    "multi-tenant application. Usage of the /common endpoint is not supported "
                    "for such applications created after '10/15/2018'. Use a tenant-specific "
                    "endpoint or configure the application to be multi-tenant.",
                )
            return tenant, app
        tenant = self.resolve_tenant(state, name)
        if app is None or app.tenant_id != tenant.id:
            raise errors.app_not_found(client_id, tenant.id)
        return tenant, app

    def issuer(self, tenant_id: str) -> str:
        return f"{self.base}/{tenant_id}/v2.0"

    def token_endpoint(self, tenant: str) -> str:
        return f"{self.base}/{tenant}/oauth2/v2.0/token"


def correlation_id(request: Request) -> str | None:
    """msal sends ``client-request-id``; Entra echoes it as the correlation id."""
    return request.headers.get("client-request-id")


def error_response(emu: EmuLike, request: Request, err: errors.EntraError) -> Response:
    site = Site.of(request)
    return err.response(
        now=emu.clock.now(), correlation_id=correlation_id(request), login_host=site.hostname
    )
