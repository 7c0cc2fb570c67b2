"""``POST /{tenant}/oauth2/v2.0/token``: the grants, and the token responses.

Grants: ``client_credentials`` (secret or certificate assertion), ``authorization_code``
(with PKCE), ``refresh_token`` (with rotation) and the device code grant. Every request goes
through ``emu.control.run(op="token")``. Bad input always gets Entra's 400 JSON.

Example (what msal sends)::

    POST /contoso.onmicrosoft.com/oauth2/v2.0/token
    grant_type=client_credentials&client_id=...&client_secret=...&scope=https://graph.microsoft.com/.default
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from m365bot.emulator.entra import errors, grants, scopes
from m365bot.emulator.entra.clientauth import authenticate_client, presented
from m365bot.emulator.entra.context import EmuLike, Site, error_response, run_op, setting
from m365bot.emulator.entra.runtime import DEVICE_CODE_LIFETIME, Runtime
from m365bot.emulator.state import App, Tenant, User
from m365bot.emulator.tokens import ACCESS_TOKEN_LIFETIME, b64url

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANTS = ("client_credentials", "authorization_code", "refresh_token", "password", DEVICE_GRANT)


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded body as a dict; 9002313 for anything else (never a 500)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise errors.malformed("The request body must be application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise errors.malformed("The request body is too large.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise errors.malformed("The request body is not valid form data.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise errors.malformed(f"The parameter '{name}' appears more than once.")
        form[name] = value
    return form


def _basic_client_id(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except ValueError:
        return None
    return unquote_plus(decoded.partition(":")[0]) or None


async def token_endpoint(emu: EmuLike, rt: Runtime, request: Request) -> Response:
    """The Starlette endpoint; parses, then runs the grant through ``control.run``."""
    try:
        if request.method != "POST":
            raise errors.post_only(request.method)
        form = await read_form(request)
    except errors.EntraError as err:
        failure = err

        async def fail() -> Response:
            return error_response(emu, request, failure)

        return await run_op(emu, "token", request, None, fail)
    client_id = form.get("client_id") or _basic_client_id(request)

    async def call() -> Response:
        try:
            body = _grant(emu, rt, request, form, client_id)
        except errors.EntraError as err:
            log.info(
                "token grant=%s client=%s -> AADSTS%s",
                form.get("grant_type", "?"),
                client_id,
                err.code,
            )
            return error_response(emu, request, err)
        log.info("token grant=%s client=%s -> ok", form.get("grant_type"), client_id)
        return JSONResponse(
            body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        )

    return await run_op(emu, "token", request, client_id, call)


def _grant(
    emu: EmuLike, rt: Runtime, request: Request, form: Mapping[str, str], client_id: str | None
) -> dict[str, Any]:
    grant = form.get("grant_type")
    if not grant:
        raise errors.missing_parameter("grant_type")
    if grant not in GRANTS:
        raise errors.unsupported_grant_type(grant)
    if not client_id:
        raise errors.missing_parameter("client_id")
    site = Site.of(request)
    segment = request.path_params["tenant"]
    tenant, app = site.resolve_app_tenant(emu.state, segment, client_id)
    now = emu.clock.now()
    creds = presented(form, request.headers.get("authorization"))
    audiences = {site.token_endpoint(t).rstrip("/") for t in {segment, tenant.id, tenant.domain}}

    def auth(required: bool) -> str:
        return authenticate_client(app, creds, now=now, audiences=audiences, required=required)

    if grant == "client_credentials":
        return _client_credentials(emu, form, tenant, app, auth)
    if grant == "authorization_code":
        return _authorization_code(emu, site, form, tenant, app, auth(not app.public_client))
    if grant == "refresh_token":
        return _refresh(emu, site, form, tenant, app, auth(not app.public_client))
    if grant == "password":
        return _password(emu, site, form, tenant, app, auth(not app.public_client))
    return _device_code(emu, rt, site, form, tenant, app, auth(not app.public_client))


def _password(
    emu: EmuLike, site: Site, form: Mapping[str, str], tenant: Tenant, app: App, appidacr: str
) -> dict[str, Any]:
    """ROPC: documented by Entra (and discouraged); here for fidelity of AADSTS50126."""
    for name in ("username", "password", "scope"):
        if not form.get(name):
            raise errors.missing_parameter(name)
    user = emu.state.user_by_upn(form["username"])
    if user is None or user.tenant_id != tenant.id:
        raise errors.user_not_in_tenant(form["username"], tenant.display_name or tenant.domain)
    if not hmac.compare_digest(form["password"].encode(), user.password.encode()):
        raise errors.bad_password()
    req = scopes.parse_scopes(form["scope"], tenant)
    return user_response(
        emu, site, form, tenant, app, _user(emu, user.id, tenant), req, appidacr, nonce=None
    )


def _client_credentials(
    emu: EmuLike, form: Mapping[str, str], tenant: Tenant, app: App, auth: Any
) -> dict[str, Any]:
    scope = form.get("scope")
    if not scope:
        raise errors.missing_parameter("scope")
    appidacr = auth(True)
    if appidacr == "0":
        raise errors.no_credential()
    req = scopes.parse_scopes(scope, tenant)
    roles = scopes.client_credentials_roles(req, app)
    oid = app.service_principal_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{app.client_id}"))
    token = emu.tokens.issue_access_token(
        tenant_id=tenant.id,
        cloud=tenant.cloud,
        client_id=app.client_id,
        app_name=app.display_name,
        oid=oid,
        roles=roles,
        appidacr=appidacr,
    )
    return {
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "ext_expires_in": ACCESS_TOKEN_LIFETIME,
        "access_token": token,
    }


def _user(emu: EmuLike, user_id: str, tenant: Tenant) -> User:
    user = emu.state.users.get(user_id)
    if user is None or user.tenant_id != tenant.id:
        raise errors.invalid_grant("The user of this grant no longer exists.")
    if not user.enabled:
        raise errors.EntraError(50057, "invalid_grant", "The user account is disabled.")
    return user


def _authorization_code(
    emu: EmuLike, site: Site, form: Mapping[str, str], tenant: Tenant, app: App, appidacr: str
) -> dict[str, Any]:
    code = form.get("code")
    if not code:
        raise errors.missing_parameter("code")
    redirect_uri = form.get("redirect_uri")
    if not redirect_uri:
        raise errors.missing_parameter("redirect_uri")
    now = emu.clock.now()

    def check(record: dict[str, Any]) -> None:
        if record["client_id"] != app.client_id or record["tenant_id"] != tenant.id:
            raise errors.invalid_grant(
                "The authorization code was issued to a different client."
            )
        if record["redirect_uri"] != redirect_uri:
            raise errors.EntraError(
                50011,
                "invalid_grant",
                f"The redirect URI '{redirect_uri}' specified in the request does not match "
                "the redirect URI used to obtain the authorization code.",
            )
        grants.verify_pkce(record, form.get("code_verifier"))

    record = grants.redeem_code(emu.state, now, code, check)
    user = _user(emu, record["user_id"], tenant)
    req = scopes.parse_scopes(form.get("scope") or record["scope"], tenant)
    # The code's own consent covers offline_access/openid even if the token call omits them.
    orig = scopes.parse_scopes(record["scope"], tenant)
    for s in orig.oidc:
        if s not in req.oidc:
            req.oidc.append(s)
    return user_response(
        emu, site, form, tenant, app, user, req, appidacr, nonce=record.get("nonce")
    )


def _refresh(
    emu: EmuLike, site: Site, form: Mapping[str, str], tenant: Tenant, app: App, appidacr: str
) -> dict[str, Any]:
    token = form.get("refresh_token")
    if not token:
        raise errors.missing_parameter("refresh_token")
    policy = str(setting(emu, "refresh_token_policy", "entra")).lower()
    record = grants.use_refresh_token(
        emu.state, emu.clock.now(), token, client_id=app.client_id, policy=policy
    )
    if record["tenant_id"] != tenant.id:
        raise errors.invalid_grant("The refresh token was issued by a different tenant.")
    user = _user(emu, record["user_id"], tenant)
    req = scopes.parse_scopes(form.get("scope") or record["scope"], tenant)
    if "offline_access" not in req.oidc:
        req.oidc.append("offline_access")
    return user_response(emu, site, form, tenant, app, user, req, appidacr, nonce=None)


def _device_code(
    emu: EmuLike,
    rt: Runtime,
    site: Site,
    form: Mapping[str, str],
    tenant: Tenant,
    app: App,
    appidacr: str,
) -> dict[str, Any]:
    device_code = form.get("device_code") or form.get("code")
    if not device_code:
        raise errors.missing_parameter("device_code")
    flow = rt.device_flows.get(device_code)
    if flow is None or flow.client_id != app.client_id:
        raise errors.invalid_grant("The device code is not valid.")
    if emu.clock.now() - flow.created > DEVICE_CODE_LIFETIME:
        raise errors.device_code_expired()
    if flow.declined:
        raise errors.EntraError(
            70000, "authorization_declined", "The end user denied the authorization request."
        )
    if flow.user_id is None:
        raise errors.authorization_pending()
    if flow.done:
        raise errors.code_redeemed()
    flow.done = True
    user = _user(emu, flow.user_id, tenant)
    req = scopes.parse_scopes(flow.scope, tenant)
    return user_response(emu, site, form, tenant, app, user, req, appidacr, nonce=None)


def client_info(user: User, tenant: Tenant) -> str:
    """base64url ``{"uid","utid"}``: msal's home_account_id is ``uid.utid``."""
    raw = json.dumps({"uid": user.id, "utid": tenant.id}, separators=(",", ":")).encode()
    return b64url(raw)


def user_response(
    emu: EmuLike,
    site: Site,
    form: Mapping[str, str],
    tenant: Tenant,
    app: App,
    user: User,
    req: scopes.ScopeRequest,
    appidacr: str,
    *,
    nonce: str | None,
) -> dict[str, Any]:
    """Access token (+ refresh token, ID token, client_info) for a signed-in user."""
    granted = scopes.delegated_grant(emu.state, app, user, req)
    now = emu.clock.now()
    scp = granted + [s for s in req.oidc if s in ("openid", "profile", "email")]
    access = emu.tokens.issue_access_token(
        tenant_id=tenant.id,
        cloud=tenant.cloud,
        client_id=app.client_id,
        app_name=app.display_name,
        oid=user.id,
        scp=scp,
        upn=user.upn,
        name=user.display_name,
        appidacr=appidacr,
    )
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": scopes.response_scope(req, granted),
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "ext_expires_in": ACCESS_TOKEN_LIFETIME,
        "access_token": access,
    }
    if req.offline:
        body["refresh_token"] = grants.issue_refresh_token(
            emu.state,
            now,
            client_id=app.client_id,
            user_id=user.id,
            tenant_id=tenant.id,
            scope=req.raw,
        )
    if req.openid:
        body["id_token"] = emu.tokens.issue_id_token(
            issuer=site.issuer(tenant.id),
            client_id=app.client_id,
            tenant_id=tenant.id,
            oid=user.id,
            upn=user.upn,
            name=user.display_name,
            nonce=nonce,
            email=(user.mail or user.upn) if "email" in req.oidc else None,
        )
    if form.get("client_info") == "1":
        body["client_info"] = client_info(user, tenant)
    return body
