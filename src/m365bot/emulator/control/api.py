"""The control API under ``/_emulator/`` (direct mode only): the REST twin of ``emu.control``.

=======  =============================  ==============================================
GET      /_emulator/info                the info dict (same as the info file)
POST     /_emulator/clock/advance       ``{"seconds": n}`` moves emulated time forward
GET      /_emulator/clock               ``{"now", "offset"}``
POST     /_emulator/faults              add a fault rule (see faults.py)
GET      /_emulator/faults              list rules (with how often each matched/fired)
DELETE   /_emulator/faults[/{id}]       remove all rules, or one
GET      /_emulator/requests            request records; filters ``?op=&status=&mailbox=...``
GET      /_emulator/counters            counts per op and per "op status"
GET      /_emulator/sent                send operations that were applied
GET      /_emulator/outbound            mail to recipients outside the emulated tenants
GET/POST /_emulator/settings            latency_ms, refresh_token_policy, throttling
POST     /_emulator/reset               back to the scenario's initial world
=======  =============================  ==============================================

Example::

    curl --cacert ca.pem -d '{"seconds": 3600}' https://127.0.0.1:8443/_emulator/clock/advance
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from m365bot.emulator.control.faults import FaultError
from m365bot.emulator.control.settings import SettingsError
from m365bot.emulator.errors import EmulatorError
from m365bot.emulator.facade import EmulatorFacade

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
_FILTERS = (
    "op",
    "status",
    "method",
    "app_id",
    "mailbox",
    "host",
    "role",
    "throttled",
    "applied",
    "fault",
    "since",
)


class BadInput(EmulatorError):
    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


def error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def _too_large() -> BadInput:
    return BadInput("body", f"the body is over {MAX_BODY} bytes; send less", status=413)


async def _json(request: Request) -> Any:
    """The JSON body, read no further than :data:`MAX_BODY` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large()
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise _too_large()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput("body", f"the body is not valid JSON ({exc}); send a JSON object") from None


def _emu(request: Request) -> EmulatorFacade:
    emu: EmulatorFacade = request.app.state.emu
    return emu


async def info(request: Request) -> Response:
    return JSONResponse(_emu(request).info)


async def clock(request: Request) -> Response:
    emu = _emu(request)
    return JSONResponse({"now": emu.clock.now(), "offset": emu.clock.offset})


async def clock_advance(request: Request) -> Response:
    emu = _emu(request)
    data = await _json(request)
    seconds = data.get("seconds") if isinstance(data, dict) else None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not (0 <= seconds <= 10 * 365 * 86400)
    ):
        raise BadInput("seconds", 'give {"seconds": n} with n a number from 0 to 315360000')
    offset = emu.clock.advance(float(seconds))
    log.info("clock advanced by %ss (offset now %ss)", seconds, offset)
    return JSONResponse({"now": emu.clock.now(), "offset": offset})


async def faults(request: Request) -> Response:
    emu = _emu(request)
    if request.method == "GET":
        return JSONResponse({"faults": emu.control.faults.list()})
    if request.method == "DELETE":
        return JSONResponse({"removed": emu.control.clear_faults(None)})
    data = await _json(request)
    many = isinstance(data, list)
    try:  # all or nothing: one bad rule installs none of them
        added = emu.control.faults.add_all(data if many else [data], numbered=many)
    except FaultError as exc:
        raise BadInput(exc.field, str(exc)) from None
    log.info("added %d fault rule(s)", len(added))
    public = [rule.public() for rule in added]
    return JSONResponse(public if many else public[0], status_code=201)


async def fault_one(request: Request) -> Response:
    rule_id = request.path_params["rule_id"]
    if not _emu(request).control.clear_faults(rule_id):
        return error(404, "NotFound", f"no fault rule with id {rule_id!r}", "id")
    return Response(status_code=204)


async def requests_(request: Request) -> Response:
    filters: dict[str, Any] = {}
    for key, value in request.query_params.items():
        if key not in _FILTERS:
            raise BadInput(key, f"unknown filter; use one of {', '.join(_FILTERS)}")
        if key == "since" and not (value.isascii() and value.isdigit()):
            raise BadInput(key, "must be a whole number written with 0-9 (a record's seq)")
        filters[key] = value
    records = _emu(request).control.requests(**filters)
    return JSONResponse({"count": len(records), "requests": records})


async def counters(request: Request) -> Response:
    return JSONResponse(_emu(request).control.counters())


async def sent(request: Request) -> Response:
    items = _emu(request).control.sent()
    return JSONResponse({"count": len(items), "sent": items})


async def outbound(request: Request) -> Response:
    items = _emu(request).control.outbound()
    return JSONResponse({"count": len(items), "outbound": items})


async def settings(request: Request) -> Response:
    emu = _emu(request)
    if request.method == "POST":
        data = await _json(request)
        try:
            emu.settings.update(data)
        except SettingsError as exc:
            raise BadInput(exc.field, str(exc)) from None
        log.info("settings changed: %s", ", ".join(data))
    return JSONResponse(emu.settings.as_dict())


async def reset(request: Request) -> Response:
    _emu(request).reset()
    return JSONResponse({"reset": True})


async def bad_input(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadInput)
    code = "RequestEntityTooLarge" if exc.status == 413 else "BadRequest"
    return error(exc.status, code, exc.message, exc.field)


async def http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    if status == 405:
        return error(
            405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}"
        )
    return error(
        404,
        "NotFound",
        f"no control endpoint {request.url.path}; see GET /_emulator/info and docs/emulator.md",
    )


async def crash(request: Request, exc: Exception) -> Response:
    return error(500, "InternalError", "The emulator hit an internal error; see its log.")


ROUTES = [
    Route("/_emulator/info", info, methods=["GET"]),
    Route("/_emulator/clock", clock, methods=["GET"]),
    Route("/_emulator/clock/advance", clock_advance, methods=["POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/faults/{rule_id}", fault_one, methods=["DELETE"]),
    Route("/_emulator/requests", requests_, methods=["GET"]),
    Route("/_emulator/counters", counters, methods=["GET"]),
    Route("/_emulator/sent", sent, methods=["GET"]),
    Route("/_emulator/outbound", outbound, methods=["GET"]),
    Route("/_emulator/settings", settings, methods=["GET", "POST"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
]


def control_app(emu: EmulatorFacade) -> ASGIApp:
    """The Starlette app serving ``/_emulator/``; handlers find ``emu`` in its state."""
    app = Starlette(
        routes=ROUTES,
        exception_handlers={BadInput: bad_input, HTTPException: http_error, Exception: crash},
    )
    app.state.emu = emu
    return app
