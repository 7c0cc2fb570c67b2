"""The attended sign-in of :class:`~m365bot.auth.modes.AuthCodePkce`.

1. Bind the loopback listener (port in use → ConfigError) before anything else.
2. Build the authorize URL with msal (PKCE S256, 43-char ``secrets`` verifier, random
   ``state``); refuse anything that is not S256.
3. Open the browser (``Settings.browser`` command, an ``open_browser`` callable, or the
   system browser).
4. Wait for one callback; compare ``state`` (constant time) BEFORE any token request.
5. Under the connection lock: reload the cache, exchange the code with the verifier and the
   very same ``redirect_uri`` string, check the account is ``username``, then persist.

Example::

    token = run_browser_signin(provider)
"""

from __future__ import annotations

import hmac
import logging
import shlex
import subprocess
import warnings
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from m365bot.auth.advice import error_from_result
from m365bot.auth.cache import PersistentCache
from m365bot.auth.loopback import LoopbackListener
from m365bot.errors import AuthError, ConfigError

if TYPE_CHECKING:
    from m365bot.auth.modes import AuthCodePkce
    from m365bot.auth.tokens import AccessToken

log = logging.getLogger(__name__)


def open_url(url: str, command: str | None) -> None:
    """Open ``url`` with a command template (``{url}`` replaced, else appended) or the system
    browser. The command runs without a shell."""
    if command:
        argv = shlex.split(command)
        if any("{url}" in a for a in argv):
            argv = [a.replace("{url}", url) for a in argv]
        else:
            argv.append(url)
        try:
            subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise ConfigError(
                f"the browser command could not start ({exc.strerror})", field="browser",
                advice="fix the browser setting (M365BOT_BROWSER), e.g. 'firefox {url}'",
            ) from None
        return
    import webbrowser

    if not webbrowser.open(url):
        raise AuthError(
            "no browser could be opened for the sign-in", code="no_browser",
            advice="set a browser command (M365BOT_BROWSER='chromium {url}') or run where a "
            "desktop browser is available",
        )


def _check_auth_uri(auth_uri: str) -> None:
    q = parse_qs(urlsplit(auth_uri).query)
    method = q.get("code_challenge_method", [""])
    challenge = q.get("code_challenge", [""])
    if method != ["S256"] or len(challenge[0]) < 43:
        raise AuthError("the sign-in request would not use PKCE S256; refusing to continue",
                        code="pkce", advice="upgrade msal")


def run_browser_signin(p: AuthCodePkce) -> AccessToken:
    """Sign ``p.username`` in through the browser; see the module docstring."""
    listener = LoopbackListener.open(p.redirect_url)
    try:
        probe = PersistentCache(p.store, p.cache_key, p.http_key).load()
        with p.lock:
            app = p._build(probe)
            probe.save()  # discovery documents, if fetched now
        with warnings.catch_warnings():
            # msal suggests form_post; a loopback listener that answers once, on loopback
            # only, with a page that never shows the code, is what RFC 8252 describes.
            warnings.simplefilter("ignore", UserWarning)
            flow: dict[str, Any] = app.initiate_auth_code_flow(
                p.scopes,
                redirect_uri=listener.redirect_uri,
                login_hint=p.username,
                prompt="select_account",
            )
        _check_auth_uri(flow["auth_uri"])
        log.info("opening the browser for %s's sign-in (%s)", p.username, p.cloud.key)
        if p.open_browser is not None:
            p.open_browser(flow["auth_uri"])
        else:
            open_url(flow["auth_uri"], p.browser)
        params = listener.wait(timeout=p.signin_timeout)
    finally:
        listener.close()

    got_state = params.get("state", "")
    if not got_state or not hmac.compare_digest(got_state.encode(), flow["state"].encode()):
        raise AuthError(
            "the sign-in answer did not carry this sign-in's state (possible cross-site request "
            "forgery); no token was requested", code="state_mismatch",
            advice="start the sign-in again, and use only the browser window m365bot opened",
        )
    if "error" in params:
        wanted = ("error", "error_description")
        result: dict[str, Any] = {k: params[k] for k in wanted if k in params}
        if params.get("error") == "access_denied":
            raise AuthError("the sign-in was cancelled or consent was declined",
                            code="access_denied",
                            advice="sign in again and accept the permissions, or ask an "
                            "administrator to grant admin consent")
        raise error_from_result(result, cloud=p.cloud, tenant=p.tenant, client_id=p.client_id)
    if not params.get("code"):
        raise AuthError("the sign-in answer carried no authorization code", code="no_code",
                        advice="start the sign-in again")

    with p.lock:
        cache = PersistentCache(p.store, p.cache_key, p.http_key).load()
        app = p._build(cache)
        result = app.acquire_token_by_auth_code_flow(flow, params, scopes=p.scopes)
        if "error" in result:
            raise error_from_result(result, cloud=p.cloud, tenant=p.tenant,
                                    client_id=p.client_id)
        claims = result.get("id_token_claims") or {}
        who = str(claims.get("preferred_username") or claims.get("upn") or "")
        if who.lower() != p.username.lower():
            # Nothing is persisted: the cache in memory is dropped with this app.
            raise AuthError(
                f"the browser signed in as {who or 'an unknown account'}, but the username "
                f"is {p.username}", code="wrong_account",
                advice=f"sign in as {p.username} (use a private window or sign out of the "
                "other account first), or change the username",
            )
        cache.save()
        return p._finish(result)


__all__ = ["open_url", "run_browser_signin"]
