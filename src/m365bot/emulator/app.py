"""The emulator's ASGI app: one HTTPS port, routed by ``Host`` header and path.

* ``Host`` is an emulated Microsoft host (proxy mode, or SNI/Host set by the client): that
  host's role (login, graph, upload) and cloud.
* Otherwise (direct mode, ``127.0.0.1:PORT``): role by path — ``/v1.0/`` and ``/beta/`` are
  Graph, ``/api/v2.0/`` is the upload host, ``/_emulator/`` the control API, anything else login.

Each request gets ``scope["m365bot"] = {"role", "cloud", "mode", "request_id", ...}``; handlers
may read it. This layer also injects the configured latency, adds ``request-id`` and
``client-request-id`` headers when a handler did not, answers unknown paths in the role's own
error format, and turns any unexpected exception into a Graph- or Entra-shaped 500 (logged,
never with a traceback in the body).

Example::

    app = create_app(emu)   # served by server.py
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from m365bot.emulator import hosts
from m365bot.emulator.control.api import control_app
from m365bot.emulator.control.core import (
    ConnectionDropped,
    entra_error,
    graph_error,
    pay_latency,
)
from m365bot.emulator.entra.errors import EntraError
from m365bot.emulator.entra.routes import entra_routes
from m365bot.emulator.facade import EmulatorFacade
from m365bot.emulator.graph.compression import JsonGzip
from m365bot.emulator.graph.errors import GraphHTTPError
from m365bot.emulator.graph.keys import KeySegments
from m365bot.emulator.graph.routes import graph_routes
from m365bot.emulator.graph.schemacheck import SchemaCheck
from m365bot.emulator.graph.urlforms import unresolved_segment
from m365bot.emulator.server import CONNECTION, Connection

log = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def role_of(host_header: str, path: str) -> tuple[str, str | None, str]:
    """(role, cloud, mode) of a request. Example: ``role_of("graph.microsoft.us", "/v1.0/me")``."""
    info = hosts.lookup(host_header) if host_header else None
    if info is not None:
        return info.role, info.cloud, "proxy"
    if path.startswith(("/v1.0/", "/beta/")) or path in ("/v1.0", "/beta"):
        return "graph", None, "direct"
    if path.startswith("/api/v2.0/"):
        return "upload", None, "direct"
    if path.startswith("/_emulator/") or path == "/_emulator":
        return "control", None, "direct"
    return "login", None, "direct"


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def control_allowed(scope: Scope) -> bool:
    """The control API (it returns every secret) answers only direct connections from a
    loopback address, never a request that came through the proxy's tunnel."""
    connection = scope.get(CONNECTION)
    client = scope.get("client")
    return (
        isinstance(connection, Connection)
        and connection.tunnel is None
        and client is not None
        and _is_loopback(str(client[0]))
    )


async def _control_refused(scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(
        {"error": {"code": "Forbidden",
                   "message": "The control API answers only direct connections from this "
                   "machine (127.0.0.1 or ::1), never through the proxy; call it on the "
                   "emulator's own machine."}},
        status_code=403,
    )
    await response(scope, receive, send)


def internal_error(emu: EmulatorFacade, role: str, request: Request) -> Response:
    """The last-resort 500, in the role's own format, never with exception details."""
    if role == "login":
        return entra_error(
            500, "server_error", 50000,
            "There was an error issuing a token or an issue with our sign-in service. "
            "Please try again.", request, emu.clock.now(),
        )
    if role == "control":
        return JSONResponse(
            {"error": {"code": "InternalError",
                       "message": "The emulator hit an internal error; see its log."}},
            status_code=500,
        )
    return graph_error(500, "InternalServerError",
                       "An internal server error occurred. The operation failed.", request)


def _crash_handler(emu: EmulatorFacade, role: str) -> Callable[[Request, Exception], Any]:
    """Starlette's server-error hook: answer in the role's format (Starlette then re-raises,
    and :class:`EmulatorApp` logs the exception)."""

    async def handler(request: Request, exc: Exception) -> Response:
        return internal_error(emu, role, request)

    return handler


def _graph_app(emu: EmulatorFacade, routes: list[BaseRoute]) -> ASGIApp:
    templates = [str(getattr(r, "path", "")) for r in routes]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return graph_error(
                405,
                "BadRequest",
                f"The HTTP method '{request.method}' is not allowed for this resource.",
                request,
            )
        segment = unresolved_segment(request.url.path, templates)
        if request.url.path.startswith(("/v1.0", "/beta")):
            return graph_error(
                400, "BadRequest", f"Resource not found for the segment '{segment}'.", request
            )
        return graph_error(
            404, "ResourceNotFound", f"The resource '{request.url.path}' does not exist.", request
        )

    async def graph_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GraphHTTPError)
        return graph_error(exc.status, exc.code, exc.message, request, exc.headers,
                           inner=exc.inner)

    return Starlette(
        routes=routes,
        # JSON gzip-compressed for a client that accepts it, as Graph does; then
        # users('x') → users/x, also for $batch items; then the (opt-in) schema check, which
        # reads the plain JSON.
        middleware=[Middleware(JsonGzip), Middleware(KeySegments), Middleware(SchemaCheck)],
        exception_handlers={
            HTTPException: not_found,
            GraphHTTPError: graph_http_error,
            Exception: _crash_handler(emu, "graph"),
        },
    )


def _login_app(emu: EmulatorFacade, routes: list[BaseRoute]) -> ASGIApp:
    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return entra_error(
            405 if status == 405 else 404,
            "invalid_request",
            9002313,
            f"Invalid request. Request is malformed or invalid. - The endpoint "
            f"'{request.url.path}' does not exist or does not accept {request.method}.",
            request,
            emu.clock.now(),
        )

    async def entra_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EntraError)
        host = request.headers.get("host", "").split(":")[0] or None
        return exc.response(
            now=emu.clock.now(),
            correlation_id=request.headers.get("client-request-id"),
            login_host=host,
        )

    return Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: not_found,
            EntraError: entra_http_error,
            Exception: _crash_handler(emu, "login"),
        },
    )


class EmulatorApp:
    """The top-level ASGI callable (see module docs)."""

    def __init__(self, emu: EmulatorFacade, apps: dict[str, ASGIApp]) -> None:
        self.emu = emu
        self.apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        path: str = scope.get("path", "/")
        role, cloud, mode = role_of(host, path)
        request_id = str(uuid.uuid4())
        meta: dict[str, Any] = {
            "role": role,
            "cloud": cloud,
            "mode": mode,
            "host": host,
            "request_id": request_id,
            "ran": False,
        }
        scope["m365bot"] = meta
        client_rid = headers.get("client-request-id") or request_id
        status_box: dict[str, int] = {}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                await pay_latency(meta)
                status_box["status"] = int(message["status"])
                raw = list(message.get("headers") or [])
                names = {k.lower() for k, _ in raw}
                if role in ("graph", "upload"):
                    if b"request-id" not in names:
                        raw.append((b"request-id", request_id.encode()))
                    if b"client-request-id" not in names:
                        raw.append((b"client-request-id", client_rid.encode("latin-1")))
                elif role == "login":
                    if b"x-ms-request-id" not in names:
                        raw.append((b"x-ms-request-id", request_id.encode()))
                    if b"client-request-id" not in names and "client-request-id" in headers:
                        raw.append((b"client-request-id", client_rid.encode("latin-1")))
                message = {**message, "headers": raw}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # The slot is free as the last byte is handed over, not after the write
                # returns: the client may already be sending its next request by then, and
                # Outlook would not count the finished one against it.
                self.emu.control.release_held(meta)
            await send(message)

        if role == "control" and not control_allowed(scope):
            await _control_refused(scope, receive, send)
            return
        started = time.perf_counter()
        await self._charge_latency(scope, role, meta)
        meta["held"] = []  # throttling slots, released after the answer's last byte
        app = self.apps[role]
        try:
            await app(scope, receive, send_wrapper)
        except ConnectionDropped:
            status_box.setdefault("status", 0)
        except Exception:
            log.exception("unexpected error in %s %s (role %s)", scope.get("method"), path, role)
            if "status" not in status_box:
                request = Request(scope)
                response = internal_error(self.emu, role, request)
                status_box["status"] = 500
                await response(scope, receive, send_wrapper)
        finally:
            self.emu.control.release_held(meta)
            self._after(scope, meta, role, started, status_box.get("status", 0))

    async def _charge_latency(self, scope: Scope, role: str, meta: dict[str, Any]) -> None:
        """One round trip of latency per request, plus the TLS handshake's on a connection's
        first request. The control API is never delayed. The handshake's is spent now; the
        request's own is left in ``meta["latency_due"]``, for ``control.run`` to spend inside
        the throttling slot (or for the answer's start, when no handler took a slot)."""
        connection = scope.get(CONNECTION)
        unpaid = connection.take_unpaid() if isinstance(connection, Connection) else 0
        latency = float(self.emu.settings.latency_ms or 0)
        if latency > 0 and role != "control":
            if unpaid:
                await asyncio.sleep(unpaid * latency / 1000)
            meta["latency_due"] = latency / 1000

    def _after(
        self, scope: Scope, meta: dict[str, Any], role: str, started: float, status: int
    ) -> None:
        method = str(scope.get("method", "GET"))
        if role != "control" and not meta.get("ran"):
            self.emu.control.log.add(
                {
                    "op": None,
                    "method": method,
                    "path": scope.get("path", ""),
                    "host": meta["host"],
                    "role": role,
                    "cloud": meta["cloud"],
                    "app_id": None,
                    "mailbox": None,
                    "upload_bytes": 0,
                    "status": status,
                    "time": self.emu.clock.now(),
                    "fault": None,
                    "throttled": False,
                    "applied": status < 400,
                    "request_id": meta["request_id"],
                    "client_request_id": None,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                }
            )
        if method not in _SAFE_METHODS and 0 < status < 500:
            self.emu.state_changed()


def create_app(emu: EmulatorFacade) -> EmulatorApp:
    """Build the emulator's ASGI app. Example: ``create_app(emu)``."""
    graph = _graph_app(emu, graph_routes(emu))
    return EmulatorApp(
        emu,
        {
            "login": _login_app(emu, entra_routes(emu)),
            "graph": graph,
            "upload": graph,
            "control": control_app(emu),
        },
    )
