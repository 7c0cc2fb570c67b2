"""The validating hook: check every JSON answer of the emulator's Graph against Graph v1.0's
schema (:mod:`m365bot.emulator.graph.schema`) and record the outcome.

Off by default. It is switched on for a served emulator by the environment variable
``M365BOT_EMULATOR_SCHEMA_LOG`` naming a file, read once when the server starts. Each checked
answer appends one JSON line to that file::

    {"path": "/v1.0/users/a/mailFolders", "status": 200, "type": "mailFolder",
     "violations": ["value[0].sizeInBytes: no such property on microsoft.graph.mailFolder"]}

The project's test suite sets the variable for every test (tests/plugins/graph_schema.py) and
fails a test whose requests produced a violation; served-process tests inherit it.

Example::

    app = Starlette(routes=..., middleware=[Middleware(SchemaCheck)])
"""

from __future__ import annotations

import json
import logging
import os
import threading

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from m365bot.emulator.graph import schema

log = logging.getLogger(__name__)

ENV_VAR = "M365BOT_EMULATOR_SCHEMA_LOG"


class SchemaLog:
    """Appends one line per checked answer to ``path`` (safe across threads and processes:
    each line is one ``O_APPEND`` write)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, path: str, status: int, body: bytes) -> list[str]:
        try:
            data = json.loads(body)
        except ValueError:
            problems = ["the body is not JSON although Content-Type says so"]
            name = None
        else:
            problems = schema.check(data, path=path, strict=True)
            name = _type_name(data, path)
        line = json.dumps({"path": path, "status": status, "type": name,
                           "violations": problems}) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        if problems:
            log.warning("Graph schema violation in %s: %s", path, "; ".join(problems))
        return problems


def _type_name(data: object, path: str) -> str | None:
    if isinstance(data, dict):
        context = data.get("@odata.context")
        if isinstance(context, str):
            return schema.type_of_context(context)[0]
    return schema.type_of_path(path)[0]


def log_from_environment() -> SchemaLog | None:
    """The hook's log when ``M365BOT_EMULATOR_SCHEMA_LOG`` is set (server start-up only)."""
    target = os.environ.get(ENV_VAR, "").strip()
    return SchemaLog(target) if target else None


class SchemaCheck:
    """ASGI middleware: passes answers through unchanged; with the hook on, checks each
    successful JSON answer before its last byte leaves, so a client that has the answer
    can already see its record."""

    def __init__(self, app: ASGIApp, schema_log: SchemaLog | None = None) -> None:
        self.app = app
        self.schema_log = schema_log if schema_log is not None else log_from_environment()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        checker = self.schema_log
        # Upload-session chunks answer in Outlook REST v2.0's shape, not Graph's.
        if checker is None or scope["type"] != "http" or \
                str(scope.get("path") or "").startswith("/api/"):
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path") or "")
        state: dict[str, object] = {"json": False, "status": 0}
        chunks: list[bytes] = []

        async def checking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = {k.lower(): v for k, v in message.get("headers") or []}
                kind = headers.get(b"content-type", b"").decode("latin-1")
                state["status"] = status
                state["json"] = 200 <= status < 300 and "json" in kind
            elif message["type"] == "http.response.body" and state["json"]:
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False) and not path.endswith("$batch"):
                    checker.record(path, int(str(state["status"])), b"".join(chunks))
            await send(message)

        await self.app(scope, receive, checking_send)
