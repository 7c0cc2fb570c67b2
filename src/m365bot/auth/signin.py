"""The attended first sign-in of a delegated (per-user) provider such as
:class:`~m365bot.auth.modes.AuthCodePkce`, in one of three ways (``SignInOptions.method``):

``browser`` (default)
    1. Bind the loopback listener (port in use → ConfigError) before anything else.
    2. Build the authorize URL with msal (PKCE S256, 43-char ``secrets`` verifier, random
       ``state``); refuse anything that is not S256.
    3. Open the browser (``Settings.browser`` command, an ``open_browser`` callable, or the
       system browser). A browser command that exits non-zero ends the wait at once.
    4. Wait for one callback; compare ``state`` (constant time) BEFORE any token request.
    5. Under the connection lock: reload the cache, exchange the code with the verifier and
       the very same ``redirect_uri`` string, check the account is ``username``, persist.
    6. Only then answer the browser: "Sign-in finished", or a page saying what is wrong.
``url``
    The same, but nothing is opened: the sign-in URL is shown (``prompt``) and the listener
    waits for the redirect (a runner whose person opens the URL in a browser on that machine).
``device-code``
    The device code flow, for a runner without a browser: the code and the page to enter it
    on are shown; the token endpoint is polled until the person signed in (elsewhere).

This module knows the provider only through :class:`SignInTarget`, a small public
interface; the provider imports this module, never the other way round.

Example::

    token = sign_in(provider, SignInOptions(method="device-code", timeout=600))
"""

from __future__ import annotations

import hmac
import logging
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from m365bot.auth.advice import error_from_result
from m365bot.auth.cache import ConnectionLock, PersistentCache
from m365bot.auth.loopback import LoopbackListener
from m365bot.auth.tokens import AccessToken
from m365bot.clouds import Cloud
from m365bot.errors import AuthError, ConfigError

log = logging.getLogger(__name__)

SIGNIN_METHODS = ("browser", "url", "device-code")
BROWSER_FIX = ("fix the browser setting (M365BOT_BROWSER or Settings.browser), e.g. "
               "'firefox {url}', or sign in without one: --signin url (open the printed URL "
               "yourself) or --signin device-code")


class SignInTarget(Protocol):
    """What a delegated token provider offers the attended sign-in."""

    username: str
    scopes: list[str]
    cloud: Cloud
    tenant: str
    client_id: str
    redirect_url: str
    browser: str | None
    lock: ConnectionLock

    def load_cache(self) -> PersistentCache:
        """The provider's persisted token cache, freshly read."""
        ...

    def public_app(self, cache: PersistentCache) -> Any:
        """msal's PublicClientApplication on ``cache``."""
        ...

    def accept(self, result: dict[str, Any]) -> AccessToken:
        """The token of a successful token answer, remembered by the provider."""
        ...


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class SignInOptions:
    """How the attended sign-in runs: ``method`` (``browser``, ``url`` or ``device-code``),
    ``timeout`` (seconds to wait for the person), ``open_browser`` (a callable instead of
    the browser command) and ``prompt`` (shows the URL or the device code; default stderr).

    Example::

        SignInOptions(method="url", timeout=120, prompt=print)
    """

    method: str = "browser"
    timeout: float = 300.0
    open_browser: Callable[[str], None] | None = None
    prompt: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        if self.method not in SIGNIN_METHODS:
            raise ConfigError(f"sign-in method {self.method!r} is not one m365bot offers",
                              field="signin", advice="use browser, url or device-code")
        if (isinstance(self.timeout, bool) or not isinstance(self.timeout, int | float)
                or not 0 < self.timeout <= 86400):
            raise ConfigError(f"signin_timeout {self.timeout!r} is not a number of seconds",
                              field="signin_timeout",
                              advice="give the seconds to wait for the sign-in, e.g. 300")

    def show(self, text: str) -> None:
        """Show ``text`` to the person signing in."""
        (self.prompt or _stderr)(text)


def open_url(url: str, command: str | None) -> subprocess.Popen[bytes] | None:
    """Open ``url`` with a command template (``{url}`` replaced, else appended) or the system
    browser. The command runs without a shell; its process is returned, to be watched."""
    if command:
        argv = shlex.split(command)
        if any("{url}" in a for a in argv):
            argv = [a.replace("{url}", url) for a in argv]
        else:
            argv.append(url)
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise ConfigError(
                f"the browser command could not start ({exc.strerror})", field="browser",
                advice=BROWSER_FIX,
            ) from None
    import webbrowser

    if not webbrowser.open(url):
        raise AuthError(
            "no browser could be opened for the sign-in", code="no_browser",
            advice="set a browser command (M365BOT_BROWSER='chromium {url}'), or sign in "
            "without one: --signin url or --signin device-code",
        )
    return None


def browser_watch(proc: subprocess.Popen[bytes] | None) -> Callable[[], None] | None:
    """A check that raises ConfigError once the browser command exited non-zero (it will
    never deliver the sign-in), so the wait ends at once instead of at the timeout."""
    if proc is None:
        return None
    name = str(proc.args[0]) if isinstance(proc.args, list) else "browser"

    def check() -> None:
        status = proc.poll()
        if status is not None and status != 0:
            raise ConfigError(
                f"the browser command {name!r} exited with status {status} before the "
                "sign-in finished", field="browser", advice=BROWSER_FIX)

    return check


def _check_auth_uri(auth_uri: str) -> None:
    q = parse_qs(urlsplit(auth_uri).query)
    method = q.get("code_challenge_method", [""])
    challenge = q.get("code_challenge", [""])
    if method != ["S256"] or len(challenge[0]) < 43:
        raise AuthError("the sign-in request would not use PKCE S256; refusing to continue",
                        code="pkce", advice="upgrade msal")


def sign_in(t: SignInTarget, options: SignInOptions) -> AccessToken:
    """Sign ``t.username`` in the way ``options.method`` says; see the module docstring."""
    if options.method == "device-code":
        return _device_code_signin(t, options)
    return _loopback_signin(t, options)


def _probe_app(t: SignInTarget) -> Any:
    """msal's app, with the discovery documents fetched now persisted."""
    probe = t.load_cache()
    with t.lock:
        app = t.public_app(probe)
        probe.save()
    return app


def _loopback_signin(t: SignInTarget, o: SignInOptions) -> AccessToken:
    listener = LoopbackListener.open(t.redirect_url)
    try:
        app = _probe_app(t)
        with warnings.catch_warnings():
            # msal suggests form_post; a loopback listener that answers once, on loopback
            # only, with a page that never shows the code, is what RFC 8252 describes.
            warnings.simplefilter("ignore", UserWarning)
            flow: dict[str, Any] = app.initiate_auth_code_flow(
                t.scopes, redirect_uri=listener.redirect_uri, login_hint=t.username,
                prompt="select_account")
        url = flow["auth_uri"]
        _check_auth_uri(url)
        watch = None
        if o.method == "url":
            o.show(f"To sign in as {t.username}, open this URL in a browser on this machine "
                   f"(waiting {o.timeout:g} s for {listener.redirect_uri}):\n{url}")
        else:
            log.info("opening the browser for %s's sign-in (%s)", t.username, t.cloud.key)
            if o.prompt is not None:
                o.show(f"Opening the browser to sign in as {t.username}; if it does not "
                       f"open, open this URL on this machine:\n{url}")
            if o.open_browser is not None:
                o.open_browser(url)
            else:
                watch = _open_or_wait(url, t.browser, shown=o.prompt is not None)
        callback = listener.receive(timeout=o.timeout, poll=watch)
    finally:
        listener.close()
    return callback.settle(lambda params: _redeem(t, flow, params))


def _open_or_wait(url: str, command: str | None, *, shown: bool) -> Callable[[], None] | None:
    """Open the browser; when there is none but the URL was shown, wait for the person to
    open it (the shown message says so) instead of failing."""
    try:
        return browser_watch(open_url(url, command))
    except AuthError as exc:
        if exc.code != "no_browser" or not shown:
            raise
        log.info("no browser could be opened; waiting for the printed URL to be opened")
        return None


def _redeem(t: SignInTarget, flow: dict[str, Any], params: dict[str, str]) -> AccessToken:
    """Check the callback, exchange its code, check the account, persist."""
    got_state = params.get("state", "")
    if not got_state or not hmac.compare_digest(got_state.encode(), flow["state"].encode()):
        raise AuthError(
            "the sign-in answer did not carry this sign-in's state (possible cross-site request "
            "forgery); no token was requested", code="state_mismatch",
            advice="start the sign-in again, and use only the browser window m365bot opened",
        )
    if "error" in params:
        if params.get("error") == "access_denied":
            raise AuthError("the sign-in was cancelled or consent was declined",
                            code="access_denied",
                            advice="sign in again and accept the permissions, or ask an "
                            "administrator to grant admin consent")
        wanted = ("error", "error_description")
        raise _refused(t, {k: params[k] for k in wanted if k in params})
    if not params.get("code"):
        raise AuthError("the sign-in answer carried no authorization code", code="no_code",
                        advice="start the sign-in again")
    with t.lock:
        cache = t.load_cache()
        app = t.public_app(cache)
        return _keep(t, cache, app.acquire_token_by_auth_code_flow(flow, params,
                                                                   scopes=t.scopes))


def _device_code_signin(t: SignInTarget, o: SignInOptions) -> AccessToken:
    flow: dict[str, Any] = _probe_app(t).initiate_device_flow(scopes=t.scopes)
    if "user_code" not in flow:
        raise _refused(t, flow)
    o.show(f"Sign in as {t.username} on any device (waiting {o.timeout:g} s): "
           f"{flow.get('message') or flow['verification_uri']}")
    log.info("waiting for %s's device code sign-in (%s)", t.username, t.cloud.key)
    deadline = time.monotonic() + o.timeout
    while True:
        with t.lock:
            cache = t.load_cache()
            app = t.public_app(cache)
            # One poll per call; this loop does the waiting, within our own deadline.
            result = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
            if result.get("error") not in ("authorization_pending", "slow_down"):
                return _keep(t, cache, result)
        interval = float(flow.get("interval") or 5)  # polling sooner is refused
        remaining = deadline - time.monotonic()
        if remaining < interval:
            time.sleep(max(remaining, 0.0))
            raise AuthError(
                f"the device code was not used to sign in within {o.timeout:g} s",
                code="timeout",
                advice=f"open {flow['verification_uri']}, enter the code and sign in sooner, "
                "or allow more time (--signin-timeout)")
        time.sleep(interval)


def _keep(t: SignInTarget, cache: PersistentCache, result: dict[str, Any]) -> AccessToken:
    """Persist a token answer for ``t.username``; refuse an error or another account."""
    if "error" in result:
        raise _refused(t, result)
    claims = result.get("id_token_claims") or {}
    who = str(claims.get("preferred_username") or claims.get("upn") or "")
    if who.lower() != t.username.lower():
        # Nothing is persisted: the cache in memory is dropped with its app.
        raise AuthError(
            f"the browser signed in as {who or 'an unknown account'}, but the username "
            f"is {t.username}", code="wrong_account",
            advice=f"sign in as {t.username} (use a private window or sign out of the "
            "other account first), or change the username",
        )
    cache.save()
    return t.accept(result)


def _refused(t: SignInTarget, result: dict[str, Any]) -> AuthError:
    return error_from_result(result, cloud=t.cloud, tenant=t.tenant, client_id=t.client_id)


__all__ = ["SIGNIN_METHODS", "SignInOptions", "SignInTarget", "browser_watch", "open_url",
           "sign_in"]
