"""Manage > OAuth connections (administrators) and My settings > OAuth connections (every
user), rendered on the server, usable without JavaScript, CSRF-checked like every form.

* ``GET /manage/oauth-connections``: the list, with a provider filter and a search;
  ``/new`` and ``/{id}``: the create and edit form (provider type, cloud and tenant for the
  built-in Microsoft 365 Outlook provider, or the URLs of a Custom one; grant type, client id,
  client secret typed in or a Credential Vault reference, scopes, invited roles). "Save
  changes and test connection" obtains the Shared token: with the client secret (client
  credentials) or by the administrator's own sign-in (authorization code with PKCE).
  ``/{id}/delete`` deletes.
* ``GET /settings/oauth-connections``: the connections shared with the user's roles, with
  the Shared token's status and the user's own; ``/{id}/login`` starts the user's sign-in.
* ``GET /callback``: where the provider sends the browser back; the token is stored and
  the browser returns to the page it came from.

The sign-in's state, PKCE verifier and target travel sealed inside the ``state`` parameter
(and are checked against the signed-in user), so any server process can finish a sign-in
another one started.

A client secret from the Credential Vault (``LOCKER/CREDENTIAL/ATTRIBUTE``) is kept as that
reference, never as a value: saving it checks that the administrator may read it (read as
them), and the server reads it as itself at each token request
(:mod:`m365bot.controlroom.secret_refs`). The edit form shows the reference; a typed secret
replaces it, and clearing it (with no typed secret) removes it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from m365bot.clouds import Cloud
from m365bot.controlroom.accounts import role_names
from m365bot.controlroom.connections import (
    GRANT_LABELS,
    OUTLOOK,
    PROVIDERS,
    SHARED,
    OAuthConnection,
    post_token,
    ref_text,
    split_scopes,
)
from m365bot.controlroom.errors import BadInput, NotFound
from m365bot.controlroom.oauth_repo import StoredConnection
from m365bot.controlroom.pkce import PkceFlow
from m365bot.controlroom.server.oauth_common import OAuthParts, oauth_parts
from m365bot.controlroom.server.pages import render
from m365bot.controlroom.server.security import (
    audit_here,
    csp_allowing_form_action,
    form_lists,
    form_of,
    require_admin,
    require_user,
    state,
)
from m365bot.errors import ConfigError, M365BotError
from m365bot.values import CredentialRef, Secret

log = logging.getLogger(__name__)

MANAGE = "/manage/oauth-connections"
MINE = "/settings/oauth-connections"
CALLBACK = "/callback"
LOGIN_TTL = 600.0
CLOUDS = [(c.key, c.label) for c in Cloud]
_FORM_FIELDS = ("provider_type", "name", "cloud", "tenant", "grant_type", "client_id",
                "authorization_url", "token_url", "scopes")


# the built-in provider's sign-in hosts: the create and edit forms may lead there
_CLOUD_ORIGINS = tuple(sorted({f"https://{c.login_host}" for c in Cloud}))


def _origins(rows: list[StoredConnection]) -> set[str]:
    return {f"{u.scheme}://{u.netloc}" for u in
            (urlsplit(r.conn.authorization_url) for r in rows
             if r.conn.grant_type == "authorization_code") if u.netloc}


def _with_providers(response: Response, rows: list[StoredConnection], *,
                    clouds: bool = False) -> Response:
    """Let this page's forms lead to the providers' sign-in pages: a Login form answers
    with a redirect there, which CSP's form-action would otherwise block."""
    origins = sorted(_origins(rows) | (set(_CLOUD_ORIGINS) if clouds else set()))
    if origins:
        response.headers["content-security-policy"] = csp_allowing_form_action(*origins)
    return response


def _filters(request: Request) -> tuple[str, str]:
    q = request.query_params.get("q", "").strip()[:200]
    provider = request.query_params.get("provider", "")
    if provider and provider not in PROVIDERS:
        raise BadInput(f"provider type {provider[:60]!r} is not known", field="provider",
                       advice="pick a provider type from the list")
    return q, provider


def _flash(request: Request) -> str:
    return request.query_params.get("flash", "")[:300]


# -- Manage > OAuth connections ------------------------------------------------------------

def manage_list(request: Request) -> Response:
    """Every connection, with its invited roles and its Shared token's status."""
    require_admin(request)
    parts = oauth_parts(request)
    q, provider = _filters(request)
    rows = parts.repo.find(search=q, provider_type=provider)
    statuses = parts.repo.statuses(rows, "")
    return render(request, "oauth_manage.html", rows=rows, statuses=statuses, q=q,
                  provider=provider, providers=PROVIDERS, grants=GRANT_LABELS,
                  clouds=dict(CLOUDS), flash=_flash(request))


def _form_values(stored: StoredConnection | None) -> dict[str, Any]:
    if stored is None:
        return {"provider_type": OUTLOOK, "name": "", "cloud": "global", "tenant": "",
                "grant_type": "authorization_code", "client_id": "", "authorization_url": "",
                "token_url": "", "scopes": "", "roles": [], "has_secret": False,
                "client_secret_credential": "", "secret_error": ""}
    c = stored.conn
    tenant = urlsplit(c.token_url).path.strip("/").split("/")[0] if c.provider_type == OUTLOOK \
        else ""
    return {"provider_type": c.provider_type, "name": c.name, "cloud": c.cloud or "global",
            "tenant": tenant, "grant_type": c.grant_type, "client_id": c.client_id,
            "authorization_url": c.authorization_url, "token_url": c.token_url,
            "scopes": " ".join(c.scopes), "roles": list(stored.roles),
            # a typed secret is kept sealed and never shown; a vault reference is shown
            "has_secret": stored.has_secret and c.client_secret_ref is None,
            "client_secret_credential": ref_text(c.client_secret_ref)
            if c.client_secret_ref else "", "secret_error": stored.secret_error}


def _edit_page(request: Request, values: dict[str, Any], *, connection_id: int | None,
               error: str = "", status: int = 200, shared_status: str = "") -> Response:
    return render(request, "oauth_edit.html", status=status, v=values,
                  connection_id=connection_id, error=error, providers=PROVIDERS,
                  clouds=CLOUDS, grants=GRANT_LABELS,
                  all_roles=sorted(role_names(state(request).db)),
                  shared_status=shared_status, flash=_flash(request))


def new_form(request: Request) -> Response:
    """The create form."""
    require_admin(request)
    oauth_parts(request)
    return _with_providers(_edit_page(request, _form_values(None), connection_id=None), [],
                           clouds=True)


def edit_form(request: Request) -> Response:
    """The edit form of one connection."""
    require_admin(request)
    parts = oauth_parts(request)
    stored = _stored(parts, request)
    return _with_providers(_edit_page(request, _form_values(stored), connection_id=stored.id,
                                      shared_status=parts.repo.status(stored, "")), [stored],
                           clouds=True)


def _stored(parts: OAuthParts, request: Request) -> StoredConnection:
    try:
        return parts.repo.get_by_id(int(request.path_params["cid"]))
    except ConfigError as exc:
        raise NotFound(exc.message, field="connection", advice=exc.advice) from None


def _vault_ref(text: str) -> CredentialRef | None:
    """The form's ``LOCKER/CREDENTIAL/ATTRIBUTE`` (names only), or None when empty."""
    from m365bot.values import parse_value

    if not text.strip():
        return None
    found = parse_value("credential:" + text.strip(), field="client_secret_credential")
    assert isinstance(found, CredentialRef)
    return CredentialRef(*(p.lower() for p in found))  # the vault's names are lower case


def _check_vault_secret(request: Request, ref: CredentialRef) -> None:
    """Refuse a reference the signed-in administrator may not read: the vault reads it as
    them (their locker roles decide, the vault audits the read under their name) and the
    value is dropped at once; a user-provided attribute (one value per user) is refused."""
    vault = state(request).vault
    if vault is None:
        raise BadInput("the Credential Vault is locked, so the client secret cannot be read "
                       "from it", field="client_secret_credential",
                       advice="type the secret, or start the server with the vault key")
    admin = require_admin(request)
    mine = vault.acting_as(admin.name, roles=admin.roles)
    try:
        mine.get(*ref)
        shared = all(not a.user_provided for c in mine.list_credentials(ref.locker)
                     if c.name == ref.credential for a in c.attributes
                     if a.name == ref.attribute)
    except M365BotError as exc:
        raise BadInput(f"the client secret could not be read from the Credential Vault "
                       f"({ref_text(ref)}): {exc.message}", field="client_secret_credential",
                       advice=exc.advice or "check the locker, credential and attribute "
                       "names and that you may use the locker") from None
    if not shared:
        raise BadInput(f"attribute {ref.attribute!r} of {ref.locker}/{ref.credential} is "
                       "user-provided: it holds one value per user, none for a connection",
                       field="client_secret_credential",
                       advice="pick a standard attribute, or type the secret")


def _connection_from(form: dict[str, str], before: StoredConnection | None) -> OAuthConnection:
    """The connection the form describes; ConfigError naming the field otherwise. The client
    secret: the one typed in, else the vault reference given, else (an edit) the typed
    secret kept. Nothing is read from the vault here."""
    for name in (*_FORM_FIELDS, "client_secret_credential"):
        if len(form.get(name, "")) > 2000:
            raise BadInput(f"{name} is longer than 2000 characters", field=name,
                           advice=f"shorten {name}")
    provider = form.get("provider_type", "")
    grant = form.get("grant_type", "")
    secret_text = form.get("client_secret", "")
    secret = Secret(secret_text) if secret_text.strip() else None
    ref = None if secret is not None else _vault_ref(form.get("client_secret_credential", ""))
    if secret is None and ref is None and before is not None:
        secret = before.conn.client_secret  # a typed secret is kept; a cleared reference not
    scopes = split_scopes(form.get("scopes", ""))
    name, client_id = form.get("name", "").strip(), form.get("client_id", "").strip()
    if provider == OUTLOOK:
        return OAuthConnection.outlook(name, cloud=form.get("cloud", ""),
                                       tenant=form.get("tenant", ""), client_id=client_id,
                                       grant_type=grant, client_secret=secret,
                                       scopes=scopes or None, client_secret_ref=ref)
    return OAuthConnection(provider, name, client_id=client_id,
                           token_url=form.get("token_url", "").strip(),
                           authorization_url=form.get("authorization_url", "").strip(),
                           grant_type=grant, client_secret=secret, scopes=scopes,
                           client_secret_ref=ref)


def save(request: Request) -> Response:
    """Create or edit; "Save changes and test connection" then obtains the Shared token."""
    admin = require_admin(request)
    parts = oauth_parts(request)
    form = form_of(request)
    cid = int(request.path_params["cid"]) if "cid" in request.path_params else None
    invited = form_lists(request, "roles")
    values: dict[str, Any] = {k: form.get(k, "") for k in _FORM_FIELDS} | {
        "roles": invited, "has_secret": False, "secret_error": "",
        "client_secret_credential": form.get("client_secret_credential", "")[:300]}
    allowed = set(_CLOUD_ORIGINS)
    before = None
    if cid is not None:
        before = _stored(parts, request)
        values["has_secret"] = before.conn.client_secret is not None
        allowed |= _origins([before])
    try:
        conn = _connection_from(form, before)
        ref = conn.client_secret_ref
        # the saving administrator must be able to read a reference they pick, and one
        # kept while the token URL (where the secret is sent) changes
        if ref is not None and (before is None or ref != before.conn.client_secret_ref
                                or conn.token_url != before.conn.token_url):
            _check_vault_secret(request, ref)
        # one transaction: a bad role leaves nothing saved
        new_id = parts.repo.save(conn, actor=admin.name, connection_id=cid,
                                 keep_secret=False, roles=invited, replace=False)
    except ConfigError as exc:
        return _edit_page(request, values, connection_id=cid, status=400,
                          error=f"Error: {exc.message}. Fix: {exc.advice}")
    audit_here(request, action="connection.create" if cid is None else "connection.update",
               target=f"{conn.provider_type}/{conn.name}",
               detail="roles=" + ",".join(sorted(invited)))
    if form.get("action") == "test":
        saved = parts.repo.get_by_id(new_id)
        if _origins([saved]) - allowed:
            # the form's page did not allow this provider as a form target: one more click
            return RedirectResponse(f"{MANAGE}/{new_id}?flash=" + quote(
                "Saved. Click 'Sign in for the Shared token' to test the connection."),
                status_code=303)
        return _test(request, parts, saved)
    return RedirectResponse(f"{MANAGE}/{new_id}?flash=" + quote("Saved."), status_code=303)


def _test(request: Request, parts: OAuthParts, stored: StoredConnection) -> Response:
    """Obtain the Shared token: by client credentials here, or by the admin's sign-in."""
    if stored.conn.grant_type == "authorization_code":
        return _start_login(request, parts, stored, owner="", back=f"{MANAGE}/{stored.id}")
    try:
        stored = parts.repo.with_client_secret(stored)  # a vault reference is read now
        result = post_token(stored.conn, parts.http, {"grant_type": "client_credentials"})
    except M365BotError as exc:
        audit_here(request, action="connection.test", target=stored.conn.name,
                   outcome="refused")
        stored = parts.repo.get_by_id(stored.id)  # with the vault's refusal, if any
        return _edit_page(request, _form_values(stored), connection_id=stored.id, status=400,
                          error=f"Error: the connection was saved, but its test failed: "
                          f"{exc.message}. Fix: {exc.advice}",
                          shared_status=parts.repo.status(stored, ""))
    parts.repo.save_tokens(stored.id, "", result)
    audit_here(request, action="connection.test", target=stored.conn.name)
    return RedirectResponse(f"{MANAGE}/{stored.id}?flash=" + quote(
        "Saved and tested: the Shared token is Active."), status_code=303)


def shared_login(request: Request) -> Response:
    """The administrator signs in for the Shared token."""
    require_admin(request)
    parts = oauth_parts(request)
    stored = _stored(parts, request)
    if stored.conn.grant_type != "authorization_code":
        return _test(request, parts, stored)
    return _start_login(request, parts, stored, owner="", back=f"{MANAGE}/{stored.id}")


def delete_connection(request: Request) -> Response:
    """Delete a connection, its invited roles and its tokens."""
    require_admin(request)
    parts = oauth_parts(request)
    stored = _stored(parts, request)
    parts.repo.delete(stored.id)
    audit_here(request, action="connection.delete",
               target=f"{stored.conn.provider_type}/{stored.conn.name}")
    return RedirectResponse(MANAGE + "?flash=" + quote(f"Deleted {stored.conn.name}."),
                            status_code=303)


# -- My settings > OAuth connections -------------------------------------------------------

def _visible(parts: OAuthParts, request: Request, *, search: str = "",
             provider: str = "") -> list[StoredConnection]:
    user = require_user(request)
    return parts.repo.find(search=search, provider_type=provider,
                           visible_to_roles=parts.repo.role_ids(user.roles))


def mine(request: Request) -> Response:
    """The connections shared with the user's roles: Shared token status, own status."""
    user = require_user(request)
    parts = oauth_parts(request)
    q, provider = _filters(request)
    rows = _visible(parts, request, search=q, provider=provider)
    return _with_providers(render(request, "oauth_mine.html", rows=rows, q=q,
                                  provider=provider, providers=PROVIDERS,
                                  shared=parts.repo.statuses(rows, ""),
                                  own=parts.repo.statuses(rows, user.name),
                                  grants=GRANT_LABELS, flash=_flash(request)), rows)


def user_login(request: Request) -> Response:
    """Start the user's own sign-in for a connection shared with them."""
    user = require_user(request)
    parts = oauth_parts(request)
    stored = _stored(parts, request)
    if stored.id not in {s.id for s in _visible(parts, request)}:
        raise NotFound(f"no OAuth connection {stored.id} is shared with you",
                       field="connection", advice="pick a connection from the list")
    if stored.conn.grant_type != "authorization_code":
        raise BadInput(f"connection {stored.conn.name!r} uses client credentials: it has no "
                       "User-specific token", field="connection",
                       advice="use its Shared token")
    return _start_login(request, parts, stored, owner=user.name, back=MINE)


# -- the sign-in (authorization code with PKCE) --------------------------------------------

def _redirect_uri(request: Request) -> str:
    base = state(request).config.public_url or str(request.base_url).rstrip("/")
    return base + CALLBACK


def _start_login(request: Request, parts: OAuthParts, stored: StoredConnection, *,
                 owner: str, back: str) -> Response:
    user = require_user(request)
    verifier = secrets.token_urlsafe(48)
    ticket = json.dumps({"c": stored.id, "o": owner, "u": user.name, "v": verifier, "b": back,
                         "t": time.time()}).encode()
    sealed = parts.repo.sealer.seal(ticket, "login")
    flow = PkceFlow.start(stored.conn, redirect_uri=_redirect_uri(request),
                          login_hint=owner if "@" in owner else "",
                          state=base64.urlsafe_b64encode(sealed).decode().rstrip("="),
                          verifier=verifier)
    audit_here(request, action="token.login.start", target=stored.conn.name,
               detail="Shared" if not owner else "User-specific")
    return RedirectResponse(flow.url, status_code=303)


def _ticket(parts: OAuthParts, text: str) -> dict[str, Any]:
    try:
        raw = parts.repo.sealer.open(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)),
                                     "login")
        ticket: dict[str, Any] = json.loads(raw)
    except (M365BotError, ValueError, binascii.Error):
        raise BadInput("this sign-in answer was not started by this Control Room",
                       field="state", advice="start the login again from My settings > "
                       "OAuth connections") from None
    return ticket


def callback(request: Request) -> Response:
    """The provider sends the browser back here: store the token, return to the page."""
    user = require_user(request)
    parts = oauth_parts(request)
    params = {k: v[:4000] for k, v in request.query_params.items()}
    ticket = _ticket(parts, params.get("state", ""))
    if ticket.get("u") != user.name:
        raise BadInput("this sign-in was started by another Control Room user",
                       field="state", advice="start the login again yourself")
    if time.time() - float(ticket.get("t", 0)) > LOGIN_TTL:
        raise BadInput("this sign-in took longer than 10 minutes", field="state",
                       advice="start the login again")
    stored = parts.repo.get_by_id(int(ticket["c"]))
    owner = str(ticket["o"])
    back = str(ticket.get("b") or MINE)
    which = "Shared" if not owner else "User-specific"
    try:
        stored = parts.repo.with_client_secret(stored)  # a vault reference is read now
        flow = PkceFlow(stored.conn, params.get("state", ""), str(ticket["v"]),
                        _redirect_uri(request), "")
        result = flow.redeem(parts.http, params)
    except M365BotError as exc:
        audit_here(request, action="token.login", target=stored.conn.name, outcome="refused",
                   detail=which)
        return RedirectResponse(back + "?flash=" + quote(
            f"Login failed: {exc.message}. Fix: {exc.advice}"), status_code=303)
    parts.repo.save_tokens(stored.id, owner, result)
    audit_here(request, action="token.login", target=stored.conn.name, detail=which)
    label = "Shared token" if owner == SHARED or not owner else "your token"
    return RedirectResponse(back + "?flash=" + quote(
        f"Connected {stored.conn.name}: {label} is Active."), status_code=303)


routes: list[BaseRoute] = [
    Route(MANAGE, manage_list, methods=["GET"]),
    Route(MANAGE + "/new", new_form, methods=["GET"]),
    Route(MANAGE + "/new", save, methods=["POST"]),
    Route(MANAGE + "/{cid:int}", edit_form, methods=["GET"]),
    Route(MANAGE + "/{cid:int}", save, methods=["POST"]),
    Route(MANAGE + "/{cid:int}/login", shared_login, methods=["POST"]),
    Route(MANAGE + "/{cid:int}/delete", delete_connection, methods=["POST"]),
    Route(MINE, mine, methods=["GET"]),
    Route(MINE + "/{cid:int}/login", user_login, methods=["POST"]),
    Route(CALLBACK, callback, methods=["GET"]),
]
