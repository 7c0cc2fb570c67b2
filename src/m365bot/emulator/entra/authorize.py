"""``GET /{tenant}/oauth2/v2.0/authorize`` and the pages behind it.

The request is validated in Entra's order: tenant (90002), app (700016) and redirect URI
(50011) errors are shown as a page, because the redirect URI cannot be trusted yet; every
later error goes back to the app as ``error`` / ``error_description`` (query or form_post).

Then: sign-in page (``prompt=login``, no session, or a ``login_hint`` for someone else),
account picker (``prompt=select_account``), consent page (missing consent or
``prompt=consent``), and the redirect with ``code``, ``state`` and ``client_info``.
``prompt=none`` never shows a page: ``login_required`` or ``consent_required``.

Loopback redirect URIs (``http://localhost``, ``http://127.0.0.1``, ``http://[::1]``) match
a registered one whatever the port, as Entra and RFC 8252 §7.3 do.

Example::

    GET /contoso.onmicrosoft.com/oauth2/v2.0/authorize?client_id=...&response_type=code
        &redirect_uri=http://localhost:53100&scope=openid offline_access Mail.Read
        &code_challenge=...&code_challenge_method=S256&state=xyz
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from m365bot.emulator.entra import errors, grants, pages, scopes
from m365bot.emulator.entra.context import EmuLike, Site, correlation_id, run_op
from m365bot.emulator.entra.runtime import SESSION_COOKIE, Runtime, Transaction
from m365bot.emulator.entra.token import client_info, read_form
from m365bot.emulator.state import App, Tenant, User

log = logging.getLogger(__name__)

PROMPTS = ("none", "login", "consent", "select_account", "")
LOOPBACK = ("localhost", "127.0.0.1", "::1")
_PKCE_ALPHABET = re.compile(r"[A-Za-z0-9._~-]*")


def redirect_matches(registered: list[str], given: str) -> bool:
    """Exact match, or a loopback URI that differs from a registered one only by port."""
    if given in registered:
        return True
    try:
        g = urlsplit(given)
        if g.scheme != "http" or g.hostname not in LOOPBACK or g.fragment:
            return False
        _ = g.port  # raises ValueError on a bad port
        for r in registered:
            rr = urlsplit(r)
            if (
                rr.scheme == "http"
                and rr.hostname == g.hostname
                and (rr.path or "/") == (g.path or "/")
                and rr.query == g.query
            ):
                return True
    except ValueError:
        return False
    return False


class Authorizer:
    """The authorize endpoint and its pages, sharing the identity runtime."""

    def __init__(self, emu: EmuLike, rt: Runtime) -> None:
        self.emu = emu
        self.rt = rt

    # -- entry points -------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        params = {k: v for k, v in request.query_params.items()}
        if request.method == "POST":
            params.update(await _form(request))
        client = params.get("client_id")

        async def call() -> Response:
            return self._authorize(request, params)

        return await run_op(self.emu, "authorize", request, client, call)

    async def _step(
        self, request: Request, step: Callable[[Transaction, dict[str, str]], Response]
    ) -> Response:
        """Run one sign-in page POST for its transaction; problems become an error page."""
        form = await _form(request)
        tx = self.rt.transaction(form.get("ctx", ""), self.emu.clock.now())

        async def call() -> Response:
            try:
                if tx is None:
                    raise errors.malformed("The sign-in session expired; start again.")
                return step(tx, form)
            except errors.EntraError as err:
                return self._page_error(request, err)

        return await run_op(self.emu, "authorize", request, tx.client_id if tx else None, call)

    async def login(self, request: Request) -> Response:
        return await self._step(request, lambda tx, form: self._login(request, tx, form))

    async def consent(self, request: Request) -> Response:
        return await self._step(
            request, lambda tx, form: self._consent(request, tx, form.get("accept") == "yes")
        )

    async def pick(self, request: Request) -> Response:
        def step(tx: Transaction, form: dict[str, str]) -> Response:
            user = self._session_user(request, tx)
            if form.get("choice") == "session" and user is not None:
                return self._after_signin(request, tx, user)
            return self._signin_page(request, tx)

        return await self._step(request, step)

    async def logout(self, request: Request) -> Response:
        self.rt.end_session(request.cookies.get(SESSION_COOKIE))
        target = request.query_params.get("post_logout_redirect_uri")
        registered = [u for a in self.emu.state.apps.values() for u in a.redirect_uris]
        if target and redirect_matches(registered, target):
            resp: Response = pages.to_client(target, "query", {})
            resp.headers["location"] = target
        else:
            resp = pages.render(
                "done.html",
                title="You signed out of your account",
                message="It's a good idea to close all browser windows.",
            )
        resp.delete_cookie(SESSION_COOKIE, path="/")
        log.info("logout host=%s", Site.of(request).hostname)
        return resp

    # -- validation ---------------------------------------------------------------------------

    def _authorize(self, request: Request, params: dict[str, str]) -> Response:
        emu = self.emu
        site = Site.of(request)
        segment = request.path_params["tenant"]
        try:
            client_id = params.get("client_id")
            if not client_id:
                raise errors.missing_parameter("client_id")
            tenant, app = site.resolve_app_tenant(emu.state, segment, client_id)
            redirect_uri = params.get("redirect_uri")
            if not redirect_uri:
                if len(app.redirect_uris) != 1:
                    raise errors.missing_parameter("redirect_uri")
                redirect_uri = app.redirect_uris[0]
                params["redirect_uri"] = redirect_uri
            if not redirect_matches(app.redirect_uris, redirect_uri):
                raise errors.reply_url_mismatch(redirect_uri, app.client_id)
        except errors.EntraError as err:
            log.info("authorize client=%s -> page AADSTS%s", params.get("client_id"), err.code)
            return self._page_error(request, err)
        try:
            self._validate(params, tenant)
        except errors.EntraError as err:
            return self._redirect_error(request, params, err)
        tx = self.rt.new_transaction(
            tenant_segment=segment,
            tenant_id=tenant.id,
            client_id=app.client_id,
            params=params,
            created=emu.clock.now(),
        )
        prompt = params.get("prompt", "")
        user = self._session_user(request, tx)
        hint = params.get("login_hint", "").lower()
        if user is not None and hint and hint != user.upn.lower():
            user = None
        if prompt == "none":
            if user is None:
                return self._redirect_error(request, params, errors.login_required())
            return self._after_signin(request, tx, user)
        if prompt == "login" or user is None:
            return self._signin_page(request, tx)
        if prompt == "select_account":
            return pages.render(
                "picker.html",
                app_name=app.display_name,
                upn=user.upn,
                ctx=tx.id,
                action=f"/{segment}/oauth2/v2.0/authorize/pick",
            )
        return self._after_signin(request, tx, user)

    def _validate(self, params: dict[str, str], tenant: Tenant) -> None:
        response_type = params.get("response_type")
        if not response_type:
            raise errors.missing_parameter("response_type")
        kinds = response_type.split()
        if "code" not in kinds or not set(kinds) <= {"code", "id_token"}:
            raise errors.unsupported_response_type(response_type)
        if "id_token" in kinds and not params.get("nonce"):
            raise errors.missing_parameter("nonce")
        mode = params.get("response_mode", "query")
        if mode not in ("query", "form_post", "fragment"):
            raise errors.malformed(f"Unsupported response_mode '{mode}'; use query or form_post.")
        if params.get("prompt", "") not in PROMPTS:
            raise errors.EntraError(
                90023, "invalid_request", f"Invalid prompt value '{params['prompt']}'."
            )
        scope = params.get("scope")
        if not scope:
            raise errors.missing_parameter("scope")
        scopes.parse_scopes(scope, tenant)
        method = params.get("code_challenge_method")
        challenge = params.get("code_challenge")
        if method is not None and method not in ("S256", "plain"):
            raise errors.EntraError(
                50149,
                "invalid_request",
                "The code_challenge_method is not valid; use S256 or plain.",
            )
        if method is not None and not challenge:
            raise errors.missing_parameter("code_challenge")
        if challenge is not None and not _PKCE_ALPHABET.fullmatch(challenge):
            raise errors.EntraError(
                9002313,
                "invalid_request",
                "Invalid request. Request is malformed or invalid. - The code_challenge may "
                "contain only the letters A-Z and a-z, digits and - . _ ~ (RFC 7636).",
            )
        if challenge is not None and not 43 <= len(challenge) <= 128:
            raise errors.EntraError(
                501491,
                "invalid_request",
                "Invalid size of Code_Challenge parameter: it must be 43 to 128 characters.",
            )

    # -- steps --------------------------------------------------------------------------------

    def _tenant_app(self, tx: Transaction) -> tuple[Tenant, App]:
        tenant = self.emu.state.tenants.get(tx.tenant_id)
        app = self.emu.state.apps.get(tx.client_id)
        if tenant is None or app is None:  # the world was reset mid sign-in
            raise errors.malformed("The sign-in session expired; start again.")
        return tenant, app

    def _session_user(self, request: Request, tx: Transaction) -> User | None:
        uid = self.rt.session_user(request.cookies.get(SESSION_COOKIE))
        user = self.emu.state.users.get(uid) if uid else None
        if user is None or user.tenant_id != tx.tenant_id or not user.enabled:
            return None
        return user

    def _signin_page(
        self, request: Request, tx: Transaction, error: str = "", status: int = 200
    ) -> Response:
        tenant, app = self._tenant_app(tx)
        return pages.render(
            "signin.html",
            status=status,
            app_name=app.display_name,
            tenant_name=tenant.display_name or tenant.domain,
            login_hint=tx.params.get("login_hint", ""),
            ctx=tx.id,
            error=error,
            action=f"/{tx.tenant_segment}/login",
        )

    def _login(self, request: Request, tx: Transaction, form: dict[str, str]) -> Response:
        tenant, _app = self._tenant_app(tx)
        upn = form.get("login", "").strip()
        password = form.get("passwd", "")
        user = self.emu.state.user_by_upn(upn) if upn else None
        if user is None or user.tenant_id != tenant.id:
            err = errors.user_not_in_tenant(upn or "(empty)", tenant.display_name or tenant.domain)
            log.info("sign-in client=%s -> AADSTS%s", tx.client_id, err.code)
            return self._signin_page(request, tx, f"AADSTS{err.code}: {err.message}", status=200)
        if not hmac.compare_digest(password.encode(), user.password.encode()):
            err = errors.bad_password()
            log.info("sign-in client=%s -> AADSTS%s", tx.client_id, err.code)
            return self._signin_page(
                request,
                tx,
                f"Your account or password is incorrect. (AADSTS{err.code}: {err.message})",
            )
        if not user.enabled:
            return self._signin_page(request, tx, "AADSTS50057: The user account is disabled.")
        sid = self.rt.new_session(user.id, tenant.id, self.emu.clock.now())
        log.info("sign-in client=%s user=%s -> ok", tx.client_id, user.upn)
        resp = self._after_signin(request, tx, user)
        resp.set_cookie(SESSION_COOKIE, sid, path="/", secure=True, httponly=True, samesite="none")
        return resp

    def _after_signin(self, request: Request, tx: Transaction, user: User) -> Response:
        tenant, app = self._tenant_app(tx)
        tx.user_id = user.id
        req = scopes.parse_scopes(tx.params["scope"], tenant)
        missing = scopes.missing_consent(self.emu.state, app, user, req)
        forced = tx.params.get("prompt") == "consent" and not tx.params.get("_consented")
        if missing or forced:
            if tx.params.get("prompt") == "none":
                err = errors.consent_required(app.client_id, app.display_name)
                err.error = "consent_required"
                return self._redirect_error(request, tx.params, err)
            shown = (
                missing
                if missing and missing != [".default"]
                else (req.perms or list(app.delegated_permissions))
            )
            return pages.render(
                "consent.html",
                app_name=app.display_name,
                upn=user.upn,
                permissions=[p for p in shown if p != ".default"] + req.oidc,
                ctx=tx.id,
                action=f"/{tx.tenant_segment}/Consent/Set",
            )
        return self._finish(request, tx, user)

    def _consent(self, request: Request, tx: Transaction, accepted: bool) -> Response:
        tenant, app = self._tenant_app(tx)
        user = self.emu.state.users.get(tx.user_id or "")
        if user is None or tx.user_id is None:
            raise errors.malformed("The sign-in session expired; start again.")
        if not accepted:
            log.info("consent client=%s user=%s -> declined", app.client_id, user.upn)
            self.rt.finish_transaction(tx.id)
            err = errors.EntraError(
                65004, "access_denied", "User declined to consent to access the app."
            )
            return self._redirect_error(request, tx.params, err)
        req = scopes.parse_scopes(tx.params["scope"], tenant)
        perms = req.perms if not req.wants_default else list(app.delegated_permissions)
        scopes.record_user_consent(self.emu.state, app, user, perms)
        tx.params["_consented"] = "1"
        log.info("consent client=%s user=%s -> granted", app.client_id, user.upn)
        return self._finish(request, tx, user)

    def _finish(self, request: Request, tx: Transaction, user: User) -> Response:
        tenant, app = self._tenant_app(tx)
        self.rt.finish_transaction(tx.id)
        if tx.device_code is not None:
            flow = self.rt.device_flows.get(tx.device_code)
            if flow is not None:
                flow.user_id = user.id
            return pages.render(
                "done.html",
                title=app.display_name,
                message=f"You have signed in to the {app.display_name} application on your "
                "device. You may now close this window.",
            )
        p = tx.params
        code = grants.issue_code(
            self.emu.state,
            self.emu.clock.now(),
            client_id=app.client_id,
            tenant_id=tenant.id,
            user_id=user.id,
            redirect_uri=p["redirect_uri"],
            scope=p["scope"],
            nonce=p.get("nonce"),
            code_challenge=p.get("code_challenge"),
            code_challenge_method=p.get("code_challenge_method")
            or ("plain" if p.get("code_challenge") else None),
        )
        fields: dict[str, str] = {"code": code}
        if "id_token" in p.get("response_type", "").split():
            # Hybrid flow: the ID token comes straight back with the code.
            fields["id_token"] = self.emu.tokens.issue_id_token(
                issuer=Site.of(request).issuer(tenant.id),
                client_id=app.client_id,
                tenant_id=tenant.id,
                oid=user.id,
                upn=user.upn,
                name=user.display_name,
                nonce=p.get("nonce"),
            )
        if p.get("client_info") == "1":
            fields["client_info"] = client_info(user, tenant)
        if "state" in p:
            fields["state"] = p["state"]
        fields["session_state"] = tx.id[:36]
        log.info("authorize client=%s user=%s -> code", app.client_id, user.upn)
        return pages.to_client(p["redirect_uri"], p.get("response_mode", "query"), fields)

    # -- errors -------------------------------------------------------------------------------

    def _page_error(self, request: Request, err: errors.EntraError) -> Response:
        return pages.error_page(
            err, now=self.emu.clock.now(), correlation_id=correlation_id(request)
        )

    def _redirect_error(
        self, request: Request, params: dict[str, Any], err: errors.EntraError
    ) -> Response:
        log.info(
            "authorize client=%s -> redirect %s AADSTS%s",
            params.get("client_id"),
            err.error,
            err.code,
        )
        fields = pages.error_fields(
            err,
            now=self.emu.clock.now(),
            state=params.get("state"),
            correlation_id=correlation_id(request),
            login_host=Site.of(request).hostname,
        )
        mode = params.get("response_mode", "query")
        if mode not in ("query", "form_post", "fragment"):
            mode = "query"
        return pages.to_client(params["redirect_uri"], mode, fields)


async def _form(request: Request) -> dict[str, str]:
    """A page's urlencoded form, size-capped like /token's; anything else (multipart, bad
    encoding, repeated fields) is an empty form (the page re-asks), never a 500."""
    try:
        return await read_form(request)
    except errors.EntraError:
        return {}
