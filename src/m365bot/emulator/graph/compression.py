"""Compressed answers, as Graph sends them: JSON goes out gzip-compressed to a client that
accepts gzip (httpx, requests and the Graph SDKs all ask for it), media (a ``$value``: a
message's MIME, an attachment's bytes) goes out as it is stored.

A page of 1,000 messages with five properties is 390 KB of JSON and about 40 KB compressed.
Attachments are mostly compressed already (PDF, images, Office files): gzip would spend CPU
on both sides for nothing, and a 500 MB save took twice as long through it.

Example::

    Starlette(routes=routes, middleware=[Middleware(JsonGzip), ...])
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# gzip's fastest level: the emulator shares the bot's machine, and level 1 already takes a
# page of messages to a tenth of its size
LEVEL = 1
MEDIA_SUFFIX = "/$value"


class JsonGzip:
    """Starlette's GZipMiddleware for every answer but a ``…/$value``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, compresslevel=LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].endswith(MEDIA_SUFFIX):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


__all__ = ["JsonGzip"]
