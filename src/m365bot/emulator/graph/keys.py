"""OData key-in-parentheses URLs: Graph answers ``/users('alice@contoso.com')/messages`` and
``/me/mailFolders('inbox')/messages('AAMk…')`` like their ``/users/alice@contoso.com/…``
key-as-segment forms, and ``…/messages/delta()`` (the Graph SDKs' form) like ``…/delta``.
:class:`KeySegments` rewrites the first forms into the second before routing, so every route
(and every ``$batch`` item, which re-enters the same app) accepts both.

Example::

    >>> normalise("/v1.0/users('o''brien@contoso.com')/messages")
    "/v1.0/users/o'brien@contoso.com/messages"
    >>> normalise("/v1.0/me/mailFolders('inbox')/messages/microsoft.graph.delta()")
    '/v1.0/me/mailFolders/inbox/messages/delta'
"""

from __future__ import annotations

import re
import urllib.parse

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from m365bot.emulator.control.core import graph_error
from m365bot.emulator.graph import urlforms

# name('key') where a quote inside the key is doubled, as OData string literals are.
_KEYED = re.compile(r"^([A-Za-z][\w.]*)\('((?:[^']|'')*)'\)$")
# A function call without parameters, as generated SDKs write it: delta(), microsoft.graph.delta()
_CALL = re.compile(r"^(?:microsoft\.graph\.)?([A-Za-z]\w*)\(\)$")


def normalise(path: str) -> str:
    """``/v1.0/…/name('key')/…`` → ``/v1.0/…/name/key/…`` and ``…/delta()`` → ``…/delta``;
    other segments are left alone."""
    if "(" not in path or not path.startswith(("/v1.0/", "/beta/")):
        return path  # upload URLs (/api/v2.0/Users('…')/…) keep their own form
    out = []
    for segment in path.split("/"):
        match = _KEYED.match(segment)
        call = _CALL.match(segment)
        if match and match.group(2) and "/" not in match.group(2):
            out += [match.group(1), match.group(2).replace("''", "'")]
        elif call:
            out.append(call.group(1))
        else:
            out.append(segment)
    return "/".join(out)


class KeySegments:
    """ASGI middleware applying :func:`normalise`, then the URL forms of
    :mod:`m365bot.emulator.graph.urlforms` (segment case, empty and trailing segments, query
    option spelling), to the request; a repeated query option is answered with Graph's 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.names: dict[str, str] | None = None

    def _names(self, scope: Scope) -> dict[str, str]:
        if self.names is None:
            routes = getattr(scope.get("app"), "routes", None) or []
            self.names = urlforms.vocabulary(str(getattr(r, "path", "")) for r in routes)
        return self.names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = str(scope.get("path") or "/")
            fixed = urlforms.canonical_path(normalise(path), self._names(scope))
            if fixed != path:
                scope = {**scope, "path": fixed,
                         "raw_path": urllib.parse.quote(fixed, safe="/@'$(),=!*+;:").encode()}
            try:
                query = urlforms.canonical_query(fixed, scope.get("query_string") or b"")
            except urlforms.RepeatedOption as exc:
                response = graph_error(400, "BadRequest", str(exc), Request(scope))
                await response(scope, receive, send)
                return
            if query != scope.get("query_string"):
                scope = {**scope, "query_string": query}
        await self.app(scope, receive, send)
