"""JSON batching: ``POST /v1.0/$batch`` (identity-and-graph-facts.md §3.3).

* At most 20 requests; ids unique (case-insensitive); a ``body`` needs a ``Content-Type``
  header; urls are relative to the version (``/me/messages``); ``dependsOn`` names earlier
  ids. Any of these wrong → 400 for the whole batch.
* Each item is dispatched in-process through the same Graph ASGI app with the outer
  ``Authorization`` header, so it is authorized, throttled, faulted and recorded on its own
  (``control.run`` per item). At most 4 items run at once, as Outlook does.
* An item whose dependency did not succeed (status >= 400) is answered 424 and not run.
* Response: 200 ``{"responses": [{"id","status","headers","body"}]}`` in completion order
  (Graph documents that the order may differ from the request's: match by ``id``).
  JSON bodies are embedded as JSON, other bodies as base64 strings.

Example::

    routes = batch_routes(emu)   # mounted by graph/routes.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import urllib.parse
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.graph.scoped import json_body, json_response, principal_app_id

log = logging.getLogger(__name__)

MAX_REQUESTS = 20
MAX_PARALLEL = 4
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_HIDDEN_HEADERS = {"content-length", "date", "server", "transfer-encoding"}


def _bad(message: str) -> GraphHTTPError:
    return bad_request(message)


def parse_batch(body: Any) -> list[dict[str, Any]]:
    """Validate a batch payload; returns normalised items (id, method, url, headers, body,
    depends_on). Raises Graph's 400 naming the bad request.

    Example::

        parse_batch({"requests": [{"id": "1", "method": "GET", "url": "/me/events"}]})
    """
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise _bad("Invalid batch payload format: expected {\"requests\": [...]}.")
    raw_items = body["requests"]
    if not raw_items:
        raise _bad("Invalid batch payload format: 'requests' is empty.")
    if len(raw_items) > MAX_REQUESTS:
        raise _bad(f"Number of batch requests ({len(raw_items)}) exceeds the limit of "
                   f"{MAX_REQUESTS}.")
    items: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(raw_items):
        where = f"requests[{index}]"
        if not isinstance(raw, dict):
            raise _bad(f"Invalid batch payload format: {where} must be an object.")
        rid = raw.get("id")
        if isinstance(rid, int) and not isinstance(rid, bool):
            rid = str(rid)
        if not isinstance(rid, str) or not rid.strip():
            raise _bad(f"Invalid batch payload format: {where}.id is required (a string).")
        if rid.lower() in seen:
            raise _bad(f"Batch request ids must be unique; '{rid}' is repeated.")
        method = raw.get("method")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise _bad(f"Invalid batch payload format: {where}.method must be one of "
                       f"{', '.join(METHODS)}.")
        url = raw.get("url")
        if not isinstance(url, str) or not url.strip():
            raise _bad(f"Invalid batch payload format: {where}.url is required.")
        if "://" in url or url.startswith("//"):
            raise _bad(f"Batch request url must be relative (e.g. '/me/messages'); got an "
                       f"absolute url in {where}.")
        if url.split("?")[0].strip("/").lower() == "$batch":
            raise _bad(f"A batch cannot contain another batch ({where}.url).")
        headers = raw.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise _bad(f"Invalid batch payload format: {where}.headers must map names to "
                       "strings.")
        for name, value in headers.items():
            if not _header_ok(name) or not _header_ok(value) or not name.strip():
                raise _bad(f"Invalid header '{name[:40]}' in {where}.headers: names and values "
                           "must be Latin-1 text without line breaks.")
        headers = {k.lower(): v for k, v in headers.items()}
        if "body" in raw and raw["body"] is not None and "content-type" not in headers:
            raise _bad(f"Content-Type header must be specified in {where}.headers when a "
                       "body is present.")
        depends = raw.get("dependsOn") or []
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise _bad(f"Invalid batch payload format: {where}.dependsOn must be a list of ids.")
        for dep in depends:
            if dep.lower() not in seen:
                raise _bad(f"{where}.dependsOn names '{dep}', which is not an earlier request "
                           "in this batch.")
        seen[rid.lower()] = rid
        items.append({"id": rid, "method": method.upper(), "url": url.strip(),
                      "headers": headers, "body": raw.get("body"),
                      "depends_on": [d.lower() for d in depends]})
    return items


def _header_ok(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return "\r" not in text and "\n" not in text


def _encode_body(item: dict[str, Any]) -> bytes:
    body = item["body"]
    if body is None:
        return b""
    ctype = item["headers"].get("content-type", "").lower()
    if "json" in ctype:
        return json.dumps(body).encode()
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


class _Dispatcher:
    """Runs items through the Graph ASGI app of the outer request."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.app = request.scope["app"]
        outer = request.scope.get("m365bot") or {}
        self.meta = {k: v for k, v in outer.items() if k not in ("raw_send", "ran")}
        self.version = "/" + request.url.path.strip("/").split("/")[0]

    def _scope(self, item: dict[str, Any], body: bytes) -> dict[str, Any]:
        url = item["url"]
        if not url.startswith("/"):
            url = "/" + url
        path, _, query = url.partition("?")
        outer = self.request.scope
        headers: list[tuple[bytes, bytes]] = [
            (b"host", (self.request.headers.get("host") or "127.0.0.1").encode("latin-1")),
        ]
        auth = self.request.headers.get("authorization")
        if auth:
            headers.append((b"authorization", auth.encode("latin-1")))
        # an item's answer goes back inside the $batch's JSON, never compressed on its own
        for name, value in item["headers"].items():
            if name not in ("host", "authorization", "content-length", "accept-encoding"):
                headers.append((name.encode("latin-1"), value.encode("latin-1")))
        if body:
            headers.append((b"content-length", str(len(body)).encode()))
        full = self.version + path
        meta = {**self.meta, "request_id": str(uuid.uuid4()), "ran": False, "batch_item": True}
        return {
            "type": "http", "asgi": outer.get("asgi", {"version": "3.0"}),
            "http_version": "1.1", "method": item["method"], "scheme": "https",
            "path": urllib.parse.unquote(full), "raw_path": full.encode("latin-1", "replace"),
            "query_string": query.encode("latin-1", "replace"), "root_path": "",
            "headers": headers, "client": outer.get("client"), "server": outer.get("server"),
            "state": {}, "m365bot": meta,
        }

    async def run(self, item: dict[str, Any]) -> dict[str, Any]:
        body = _encode_body(item)
        scope = self._scope(item, body)
        sent = False
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await never
            return {"type": "http.disconnect"}

        status = 0
        out_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for k, v in message.get("headers") or []:
                    name = k.decode("latin-1").lower()
                    if name not in _HIDDEN_HEADERS:
                        out_headers[name] = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # a dropped connection or a crash inside one item
            log.info("batch item %s ended without a full response (%s)", item["id"],
                     type(exc).__name__)
            code, message = ("GatewayTimeout", "The operation timed out.")
            if type(exc).__name__ != "ConnectionDropped":
                code, message = ("InternalServerError",
                                 "An internal server error occurred. The operation failed.")
            status, chunks = (504 if code == "GatewayTimeout" else 500), []
            out_headers = {"content-type": "application/json"}
            chunks.append(json.dumps({"error": {"code": code, "message": message}}).encode())
        finally:
            never.cancel()
        return _item_response(item["id"], status, out_headers, b"".join(chunks))


def _item_response(rid: str, status: int, headers: dict[str, str], raw: bytes
                   ) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rid, "status": status, "headers": headers}
    if raw:
        if "json" in headers.get("content-type", "").lower():
            try:
                out["body"] = json.loads(raw)
            except ValueError:
                out["body"] = base64.b64encode(raw).decode()
        else:
            out["body"] = base64.b64encode(raw).decode()
    return out


def _failed_dependency(rid: str) -> dict[str, Any]:
    return {"id": rid, "status": 424, "headers": {"content-type": "application/json"},
            "body": {"error": {"code": "FailedDependency", "message": "Failed dependency"}}}


async def run_batch(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run items honouring dependsOn, at most :data:`MAX_PARALLEL` at a time.

    Example::

        responses = await run_batch(request, parse_batch(body))
    """
    dispatcher = _Dispatcher(request)
    limit = asyncio.Semaphore(MAX_PARALLEL)
    results: dict[str, dict[str, Any]] = {}
    finished: list[dict[str, Any]] = []  # completion order, as Graph may answer
    done: dict[str, asyncio.Event] = {it["id"].lower(): asyncio.Event() for it in items}

    async def one(item: dict[str, Any]) -> None:
        key = item["id"].lower()
        try:
            for dep in item["depends_on"]:
                await done[dep].wait()
            if any(results[d]["status"] >= 400 for d in item["depends_on"]):
                results[key] = _failed_dependency(item["id"])
            else:
                async with limit:
                    results[key] = await dispatcher.run(item)
            finished.append(results[key])
        finally:
            done[key].set()

    await asyncio.gather(*(one(it) for it in items))
    return finished


def batch_routes(emu: Any) -> list[BaseRoute]:
    """The ``$batch`` route (``/v1.0/$batch``).

    Example::

        app = Starlette(routes=batch_routes(emu))
    """

    async def batch(request: Request) -> Response:
        from m365bot.emulator.graph import auth

        principal = auth.authenticate(emu, request)
        body = await json_body(request)
        items = parse_batch(body)

        async def call() -> Response:
            responses = await run_batch(request, items)
            log.info("batch of %d requests answered", len(items))
            return json_response({"responses": responses})

        response: Response = await emu.control.run(
            op="batch", request=request, app_id=principal_app_id(principal), mailbox=None,
            call=call,
        )
        return response

    return [Route("/v1.0/$batch", batch, methods=["POST"]),
            Route("/beta/$batch", batch, methods=["POST"])]
