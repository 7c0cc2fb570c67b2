"""The runner API of the Credential Vault: a value reaches a runner only at run time, over
this API, for a bot the runner's API key may run.

``GET /api/v1/credentials/{locker}/{credential}/{attribute}?bot=NAME`` with
``Authorization: Bearer m365cr_...``:

* 401: no key, an unknown key, a revoked key;
* 400: no ``bot``; 403: the key may not run that bot, or the key's user (``run_as``, with
  that user's roles and the key's roles) has no role in the locker, or a participant asks
  for another participant's credential;
* 404: no such locker, credential, attribute or value (a user-provided attribute: the
  ``run_as`` user's own value, which they fill in under Credential requests);
* 503: the server was started without the vault's master key;
* 200: ``{"locker", "credential", "attribute", "value", "masked"}``, ``Cache-Control:
  no-store``.

Every answer is audited (``credential.read``: the key, the bot, the run-as user, the
client address, the outcome; never the value), in the Control Room's audit log and the
vault's own.

Example::

    curl -H "Authorization: Bearer $KEY" \\
        "https://cr:8443/api/v1/credentials/bots/o365/client_secret?bot=payroll"
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from m365bot.controlroom.accounts import get_user
from m365bot.controlroom.errors import BadInput, Forbidden, status_of
from m365bot.controlroom.server.pages_vault import vault_as
from m365bot.controlroom.server.security import audit_here, require_api_key, state
from m365bot.errors import M365BotError


def read_credential(request: Request) -> Response:
    """One attribute's value for a runner's bot (see the module docstring)."""
    key = require_api_key(request)
    locker = request.path_params["locker"]
    credential = request.path_params["credential"]
    attribute = request.path_params["attribute"]
    bot = request.query_params.get("bot", "").strip()
    target = f"{locker}/{credential}/{attribute}"[:400]
    try:
        if not bot:
            raise BadInput("the request names no bot", field="bot",
                           advice="add ?bot=NAME: the bot that needs the value")
        if not key.may_run(bot):
            raise Forbidden(f"the runner {key.name!r} may not run the bot {bot[:100]!r}",
                            advice="ask an administrator to add the bot to the runner's key")
        user = get_user(state(request).db, key.run_as)
        if user.disabled:
            raise Forbidden(f"the user {user.name!r} the runner's bots run as is disabled",
                            advice="ask an administrator to enable the user")
        roles = tuple(dict.fromkeys((*user.roles, *key.roles)))
        vault = vault_as(request, user.name, roles)
        secret = vault.get(locker, credential, attribute)
        masked = next((a.masked for c in vault.list_credentials(locker)
                       if c.name == credential.lower() for a in c.attributes
                       if a.name == attribute.lower()), True)
    except M365BotError as exc:
        audit_here(request, action="credential.read", actor=key.actor, target=target,
                   outcome=f"refused {status_of(exc)}", detail=f"bot={bot[:100]}")
        raise
    audit_here(request, action="credential.read", actor=key.actor, target=target,
               detail=f"bot={bot} run_as={key.run_as}")
    return JSONResponse({"locker": locker.lower(), "credential": credential.lower(),
                         "attribute": attribute.lower(), "value": secret.reveal(),
                         "masked": masked})


routes: list[BaseRoute] = [
    Route("/api/v1/credentials/{locker}/{credential}/{attribute}", read_credential,
          methods=["GET"]),
]
