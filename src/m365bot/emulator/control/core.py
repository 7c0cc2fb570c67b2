"""``Control``: the one hook every Graph and login handler runs through.

``await emu.control.run(op=..., request=..., app_id=..., mailbox=..., upload_bytes=...,
call=handler)`` applies fault injection (before and after the operation), Outlook throttling,
and records the request for inspection. Per-request latency is applied by the app
middleware, once per HTTP round trip.

Example::

    async def list_messages(request):
        return await emu.control.run(op="messages.list", request=request, app_id=cid,
                                     mailbox="alice@contoso.onmicrosoft.com", call=handler)

    emu.control.add_fault(op="sendMail", kind="apply_then_status", status=504, nth=1)
    assert emu.control.count("sendMail", status=202) == 1
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from m365bot.emulator.clock import Clock
from m365bot.emulator.control.faults import FaultRule, Faults
from m365bot.emulator.control.inspect import Inspection
from m365bot.emulator.control.settings import EmulatorSettings
from m365bot.emulator.control.throttle import Throttle
from m365bot.emulator.server import CONNECTION, Connection
from m365bot.emulator.state import State


class Emulated(Protocol):
    """The parts of the emulator the control hook uses."""

    state: State
    clock: Clock
    settings: EmulatorSettings

log = logging.getLogger(__name__)

LOGIN_OPS = frozenset({"token", "authorize", "devicecode", "logout", "discovery", "keys"})
THROTTLE_MESSAGE = "Application is over its MailboxConcurrency limit."
_GRAPH_STATUS = {
    429: ("ApplicationThrottled", THROTTLE_MESSAGE),
    500: ("InternalServerError", "An internal server error occurred. The operation failed."),
    502: ("BadGateway", "The server received an invalid response from an upstream server."),
    503: ("ServiceNotAvailable", "The service is temporarily unavailable. Retry later."),
    504: ("GatewayTimeout", "The operation timed out."),
}


class ConnectionDropped(Exception):
    """Raised through the ASGI stack after the client's connection was aborted on purpose."""


class DropConnection(Response):
    """A "response" that aborts the TCP connection instead of answering (a reset fault)."""

    def __init__(self) -> None:
        super().__init__(status_code=599)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = scope.get(CONNECTION)
        if isinstance(connection, Connection):
            connection.abort()
            raise ConnectionDropped()
        # No connection to abort (a $batch item): promise a body that never comes, so the
        # client sees the connection close mid-response.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", b"1048576"),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        raise ConnectionDropped()


def graph_error(
    status: int,
    code: str,
    message: str,
    request: Request | None,
    headers: dict[str, str] | None = None,
    *,
    inner: bool = True,
) -> JSONResponse:
    """Graph's error envelope with request ids (for faults, throttling, raised
    ``GraphHTTPError``s, 404s and 500s). ``inner=False``: Outlook's shape, no innerError."""
    from m365bot.emulator.graph.common import AGS_DIAGNOSTIC
    from m365bot.emulator.graph.errors import GraphHTTPError

    meta = request.scope.get("m365bot", {}) if request is not None else {}
    rid = str(meta.get("request_id") or uuid.uuid4())
    crid = (request.headers.get("client-request-id") if request is not None else None) or rid
    body = GraphHTTPError(status, code, message, inner=inner).envelope(
        request_id=rid, client_request_id=crid,
        date=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
    )
    hdrs = {"request-id": rid, "client-request-id": crid,
            "Strict-Transport-Security": "max-age=31536000", "x-ms-ags-diagnostic": AGS_DIAGNOSTIC,
            **(headers or {})}
    return JSONResponse(body, status_code=status, headers=hdrs)


def entra_error(
    status: int,
    error: str,
    code: int,
    message: str,
    request: Request | None,
    now: float,
    headers: dict[str, str] | None = None,
) -> Response:
    """Entra's JSON error body (token-endpoint format) for faults, 404s and 500s."""
    from m365bot.emulator.entra.errors import EntraError

    corr = request.headers.get("client-request-id") if request is not None else None
    host = request.headers.get("host", "").split(":")[0] if request is not None else None
    resp = EntraError(code, error, message, status=status).response(
        now=now, correlation_id=corr, login_host=host or None
    )
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


class Control:
    """Faults, throttling and inspection for one emulator. Thread-safe."""

    def __init__(self, emu: Emulated) -> None:
        self.emu = emu
        self.faults = Faults()
        self.throttle = Throttle()
        self.log = Inspection()

    # -- the hook ------------------------------------------------------------------------------

    async def run(
        self,
        *,
        op: str,
        request: Request,
        call: Callable[[], Awaitable[Response]],
        app_id: str | None = None,
        mailbox: str | None = None,
        upload_bytes: int = 0,
        method: str | None = None,
        path: str | None = None,
    ) -> Response:
        """Run one operation under faults and throttling, and record it.

        ``method``/``path`` override the request's (for ``$batch`` items).
        """
        meta: dict[str, Any] = request.scope.setdefault("m365bot", {})
        meta["ran"] = True
        role = meta.get("role") or ("login" if op in LOGIN_OPS else "graph")
        method = (method or request.method).upper()
        path = path or request.url.path
        if not upload_bytes and method in ("POST", "PUT", "PATCH"):
            # Outlook's upload limit counts every POST/PUT/PATCH body, not only upload chunks.
            declared = request.headers.get("content-length", "")
            upload_bytes = int(declared) if declared.isdigit() else 0
        started = time.perf_counter()
        record: dict[str, Any] = {
            "op": op,
            "method": method,
            "path": path,
            "host": request.headers.get("host", ""),
            "role": role,
            "cloud": meta.get("cloud"),
            "app_id": app_id,
            "mailbox": mailbox,
            "upload_bytes": upload_bytes,
            "status": None,
            "time": self.emu.clock.now(),
            "fault": None,
            "throttled": False,
            "applied": False,
            "request_id": meta.get("request_id"),
            "client_request_id": request.headers.get("client-request-id"),
        }

        def done(status: int) -> None:
            record["status"] = status
            record["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            self.log.add(record)

        rule = self.faults.pick(op=op, method=method, path=path, app_id=app_id, mailbox=mailbox)
        if rule is not None:
            record["fault"] = {"id": rule.id, "kind": rule.kind, "status": rule.status}
            log.info("fault %s (%s) on %s %s", rule.id, rule.kind, op, path)
            if rule.kind == "status":
                response = self._fault_response(role, rule, request)
                done(response.status_code)
                return response
            if rule.kind == "reset":
                done(0)
                return DropConnection()

        limits = self.emu.settings.throttling
        key: str | None = None
        if limits.enabled and app_id and mailbox:
            key = Throttle.key(limits, app_id, mailbox)
            refusal = self.throttle.admit(limits, key, self.emu.clock.now(), upload_bytes)
            if refusal is not None:
                record["throttled"] = refusal.limit
                response = graph_error(
                    429,
                    "ApplicationThrottled",
                    THROTTLE_MESSAGE,
                    request,
                    headers={"Retry-After": str(refusal.retry_after)},
                )
                done(429)
                return response
        try:
            if rule is not None and rule.kind == "slow":
                # Inside the throttling slot: a slow server holds its concurrency slot.
                await asyncio.sleep(rule.delay_ms / 1000)
            response = await call()
        except BaseException as exc:
            done(int(getattr(exc, "status", 500) or 500))
            raise
        finally:
            if key is not None:
                self.throttle.release(key)
        record["applied"] = response.status_code < 400

        if rule is not None and rule.applies_first:
            if rule.kind == "apply_then_reset":
                done(0)
                return DropConnection()
            if rule.kind == "apply_then_slow":
                # Record now: the work is done, only the answer is late (a client that timed
                # out must already see it in inspection).
                done(response.status_code)
                await asyncio.sleep(rule.delay_ms / 1000)
                return response
            response = self._fault_response(role, rule, request)
        done(response.status_code)
        return response

    def _fault_response(self, role: str, rule: FaultRule, request: Request) -> Response:
        headers: dict[str, str] = {}
        retry = rule.retry_after
        if retry is None and rule.status in (202, 429, 503):
            retry = 1
        if retry is not None:
            headers["Retry-After"] = str(retry)
        if rule.status < 400:
            meta = request.scope.get("m365bot", {})
            rid = meta.get("request_id") or str(uuid.uuid4())
            headers["request-id"] = rid
            headers["client-request-id"] = request.headers.get("client-request-id") or rid
            return Response(status_code=rule.status, headers=headers)
        if role == "login":
            error = "temporarily_unavailable" if rule.status >= 429 else "invalid_request"
            message = rule.message or "A transient error has occurred. Please try again."
            return entra_error(
                rule.status,
                rule.code or error,
                90033,
                message,
                request,
                self.emu.clock.now(),
                headers,
            )
        code, message = _GRAPH_STATUS.get(rule.status, ("UnknownError", "An error occurred."))
        return graph_error(
            rule.status, rule.code or code, rule.message or message, request, headers
        )

    # -- Python API ----------------------------------------------------------------------------

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        """Add a fault rule (see :mod:`.faults`); returns it with its ``id``.

        Example::

            emu.control.add_fault(op="messages.list", kind="status", status=503, nth=2)
        """
        return self.faults.add(rule).public()

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings (same keys as ``POST /_emulator/settings``); returns them all.

        Example::

            emu.control.configure(latency_ms=30, throttling={"concurrency": 2})
        """
        self.emu.settings.update(settings)
        return self.emu.settings.as_dict()

    def clear_faults(self, rule_id: str | None = None) -> int:
        return self.faults.remove(rule_id)

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """Recorded requests, filtered, e.g. ``requests(op="token")``."""
        return self.log.records(**filters)

    def count(self, op: str, status: int | None = None) -> int:
        """How many requests of ``op`` (with ``status``) were recorded."""
        counters = self.log.counters()
        if status is None:
            return int(counters["ops"].get(op, 0))
        return int(counters["op_status"].get(f"{op} {status}", 0))

    def counters(self) -> dict[str, Any]:
        data = self.log.counters()
        data["throttle"] = self.throttle.snapshot()
        return data

    def sent(self) -> list[dict[str, Any]]:
        """Send operations that were applied (including those whose response was spoiled)."""
        return self.log.sent()

    def outbound(self) -> list[dict[str, Any]]:
        """Mail sent to recipients outside the emulated tenants."""
        with self.emu.state.lock:
            return [dict(m) for m in self.emu.state.outbound]

    def clear(self) -> None:
        """Forget faults, records, counters and throttling windows."""
        self.faults.remove(None)
        self.log.clear()
        self.throttle.clear()
