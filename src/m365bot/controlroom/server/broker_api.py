"""The token broker API for runners: ``POST /api/v1/oauth/token``.

The runner sends its API key (``Authorization: Bearer ...``) and a JSON pick::

    {"provider_type": "Microsoft 365 Outlook", "connection_name": "ops",
     "token_type": "Shared" | "User-specific", "stale": "<fingerprint>" (optional)}

and gets ``{"access_token", "token_type": "Bearer", "expires_in", "expires_on"}``: never a
refresh token or a client secret. A User-specific token is the one of the user the runner's
bots run as (the key's *run as* user). The connection must be shared with one of the key's
roles or of that user's roles. Every token handed out is audited (``token.issued``: who,
which connection, from where; never the token); a runner asking the same server process again
for the token it already holds is not written twice.

Errors are JSON ``{"error": message, "fix": advice, "code": ..., "field": ...}``: 400 bad
input, 401 no or a revoked key, 403 not shared, 404 no such connection, 409 the token is Not
connected or Expired (log in again under My settings > OAuth connections), 502 the provider
could not be reached.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from m365bot.controlroom import audit
from m365bot.controlroom.connections import SHARED, token_fingerprint, token_type
from m365bot.controlroom.errors import NotFound, status_of
from m365bot.controlroom.server.oauth_common import oauth_parts
from m365bot.controlroom.server.security import client_ip, require_api_key, state
from m365bot.errors import AuthError, ConfigError, M365BotError, TransportError

log = logging.getLogger(__name__)
MAX_BODY = 4096
_FIELDS = ("provider_type", "connection_name", "token_type", "stale")


def _answer(exc: M365BotError, status: int) -> Response:
    return JSONResponse({"error": exc.message, "fix": exc.advice,
                         "code": getattr(exc, "code", "") or "",
                         "field": getattr(exc, "field", "") or ""}, status_code=status)


def _bad(field: str, message: str, advice: str) -> ConfigError:
    return ConfigError(message, field=field, advice=advice)


def _pick(raw: bytes) -> dict[str, str]:
    if len(raw) > MAX_BODY:
        raise _bad("body", "the request body is larger than 4 KiB", "send only the pick")
    try:
        body: Any = json.loads(raw or b"null")
    except ValueError:
        raise _bad("body", "the request body is not JSON", 'send {"provider_type": ..., '
                   '"connection_name": ..., "token_type": "Shared"}') from None
    if not isinstance(body, dict):
        raise _bad("body", "the request body is not a JSON object",
                   'send {"provider_type": ..., "connection_name": ..., "token_type": ...}')
    extra = sorted(set(body) - set(_FIELDS))
    if extra:
        raise _bad(extra[0], f"unknown field {extra[0]!r}",
                   "send only provider_type, connection_name, token_type and stale")
    for name in _FIELDS:
        value = body.get(name, "")
        if not isinstance(value, str) or len(value) > 300:
            raise _bad(name, f"{name} must be a string of at most 300 characters",
                       f"give {name} as text")
    for name in ("provider_type", "connection_name"):
        if not body.get(name, "").strip():
            raise _bad(name, f"{name} is empty", f"give the connection's {name}")
    return {k: str(body.get(k, "")) for k in _FIELDS}


async def issue_token(request: Request) -> Response:
    """Hand a runner an access token for a connection's Shared or User-specific token."""
    raw = await request.body()
    return await run_in_threadpool(_issue, request, raw)


def _issue(request: Request, raw: bytes) -> Response:
    key = require_api_key(request)
    st = state(request)
    target = "-"
    try:
        pick = _pick(raw)
        tt = token_type(pick["token_type"] or "Shared")
        parts = oauth_parts(request)
        owner = "" if tt == SHARED else key.run_as
        try:
            stored, shared, row = parts.repo.runner_view(
                pick["provider_type"], pick["connection_name"], roles_=key.roles,
                run_as=key.run_as, owner=owner)
        except ConfigError as exc:
            raise NotFound(exc.message, field="connection", advice=exc.advice) from None
        target = f"{stored.conn.provider_type}/{stored.conn.name} " + (
            "Shared" if tt == SHARED else f"User-specific:{owner}")
        if not shared:
            raise _Forbidden(f"connection {stored.conn.name!r} is not shared with this "
                             "runner's roles", advice="an administrator invites one of the "
                             "runner's roles under Manage > OAuth connections")
        tok = parts.broker.issue(stored, owner, stale=pick["stale"], row=row)
    except M365BotError as exc:
        status = _status(exc)
        audit.record(st.db, action="token.refused", actor=key.actor, target=target,
                     outcome=str(status), ip=client_ip(request))
        return _answer(exc, status)
    seen = (key.id, stored.id, owner, token_fingerprint(tok.token.reveal()),
            client_ip(request))
    if parts.audited.first(seen):  # a runner asking again for the same token: written once
        try:
            audit.record(st.db, action="token.issued", actor=key.actor, target=target,
                         ip=client_ip(request))
        except BaseException:
            parts.audited.forget(seen)
            raise
    return JSONResponse({"access_token": tok.token.reveal(), "token_type": "Bearer",
                         "expires_in": int(tok.expires_in()), "expires_on": int(tok.expires_on)},
                        headers={"cache-control": "no-store"})


class _Forbidden(M365BotError):
    status = 403


def _status(exc: M365BotError) -> int:
    if isinstance(exc, TransportError):
        return 502
    if isinstance(exc, AuthError):
        return 409  # Not connected, Expired, or a refused renewal: a person must act
    return status_of(exc)


routes: list[BaseRoute] = [Route("/api/v1/oauth/token", issue_token, methods=["POST"])]
