"""Compressed answers, as Graph sends them: JSON goes out gzip-compressed to a client that
accepts gzip (httpx, requests and the Graph SDKs all ask for it). Media goes out as it is
stored: a ``$value`` (a message's MIME, an attachment's bytes) and the attachments'
own JSON, whose ``contentBytes`` carry the file.

A page of 1,000 messages with five properties is 390 KB of JSON and about 40 KB compressed.
Attachments are mostly compressed already (PDF, images, Office files): gzip spends CPU on
both sides for little, and the emulator's side of it lands on the machine the bot runs on.
Through gzip, a save of 500 MB by ``$value`` took 19.4 s instead of 11.6 s, and clients that
read ``contentBytes`` (python-o365, the naive loop) saved 50 x 10 MiB in 8.7-8.9 s instead
of 2.5-2.6 s (``python -m bench --cases B4``).

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
ATTACHMENTS = "/attachments"


def is_media(path: str) -> bool:
    """Whether the answer to ``path`` carries a file: a ``…/$value``, or an attachment (its
    list, one attachment, or an upload session's answer)."""
    return path.endswith(MEDIA_SUFFIX) or ATTACHMENTS in path


class JsonGzip:
    """Starlette's GZipMiddleware for every answer but media (:func:`is_media`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, compresslevel=LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_media(scope["path"]):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


__all__ = ["JsonGzip"]
