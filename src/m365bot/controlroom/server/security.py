"""Who is asking, and what they may do: server-side web sessions (in the database, so any
server process can serve any request), CSRF on every form, security headers, and the
``require_*`` helpers every page and API route starts with.

* Session cookie: HttpOnly, SameSite=Lax, and with TLS ``Secure`` and the ``__Host-``
  name. The cookie holds a random id; the database holds only its SHA-256. A new id is
  issued at every sign-in (the old session is deleted), and sign-out deletes it.
* CSRF: every unsafe request (POST, PUT, PATCH, DELETE) outside ``/api/`` must carry the
  form field ``csrf_token``: the signed-in session's token, or before sign-in the value of
  the ``cr_csrf`` cookie (double submit). The check runs in :class:`SessionMiddleware`
  before any route, so no form can forget it. ``/api/`` routes take API keys in the
  ``Authorization`` header and never cookies, so cross-site requests cannot use them.
* Headers on every response: CSP (``default-src 'none'``, ``frame-ancestors 'none'``, no
  script), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (not
  ``no-referrer``: with it browsers send ``Origin: null`` on a form POST, which the origin
  check refuses), ``X-Frame-Options: DENY``, ``Cache-Control: no-store`` on pages.

Example (a route)::

    def my_page(request: Request) -> Response:
        user = require_user(request)          # 303 to /signin when signed out
        form = form_of(request)               # the parsed, CSRF-checked form (POST)
        return render(request, "my.html", items=[...])
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from sqlalchemy import delete, select, update
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from m365bot.controlroom import apikeys, audit
from m365bot.controlroom.accounts import User, aware, now, user_by_id
from m365bot.controlroom.apikeys import ApiKey
from m365bot.controlroom.db import web_sessions
from m365bot.controlroom.errors import Forbidden, Refused
from m365bot.errors import M365BotError

if TYPE_CHECKING:
    from m365bot.controlroom.server.config import ServerState

ANON_CSRF_COOKIE = "cr_csrf"
MAX_FORM_BYTES = 64 * 1024
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
_TOUCH_EVERY = dt.timedelta(seconds=60)


class SignInNeeded(M365BotError):
    """401: nobody is signed in (pages answer a GET with a redirect to /signin)."""

    status = 401


class ApiKeyRefused(M365BotError):
    """401 from the API: no API key, an unknown one, or a revoked one."""

    status = 401


@dataclass(frozen=True)
class WebSession:
    """The signed-in session of a request."""

    id_hash: str
    user: User
    csrf_token: str


def state(request: Request) -> ServerState:
    """The server's shared state (database, config, templates)."""
    return request.app.state.cr  # type: ignore[no-any-return]


def client_ip(request: Request) -> str:
    """The client's address as the socket saw it (proxy headers are not trusted)."""
    return request.client.host if request.client else ""


def cookie_name(tls: bool) -> str:
    """``__Host-cr_session`` with TLS (the browser then insists on Secure, Path=/ and no
    Domain), ``cr_session`` without."""
    return "__Host-cr_session" if tls else "cr_session"


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def current_session(request: Request) -> WebSession | None:
    """The request's signed-in session, or None."""
    return request.scope.get("state", {}).get("cr_session")  # type: ignore[no-any-return]


def current_user(request: Request) -> User | None:
    """The signed-in user, or None.

    Example::

        user = current_user(request)
        name = user.name if user else "-"
    """
    session = current_session(request)
    return session.user if session else None


def require_user(request: Request) -> User:
    """The signed-in user; raises SignInNeeded (a GET page redirects to /signin)."""
    user = current_user(request)
    if user is None:
        raise SignInNeeded("sign in first", advice="open /signin and sign in")
    return user


def require_admin(request: Request) -> User:
    """The signed-in administrator; 403 for other users."""
    user = require_user(request)
    if not user.is_admin:
        raise Forbidden("this page is for Control Room administrators",
                        advice="ask an administrator, or sign in as one")
    return user


def require_api_key(request: Request) -> ApiKey:
    """The API key of the request (``Authorization: Bearer m365cr_...``); raises
    ApiKeyRefused (401) when it is missing, unknown or revoked. A refused key is audited
    by its public prefix only, once a minute per client address.

    Example::

        key = require_api_key(request)
        if not key.may_run(bot): ...
    """
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiKeyRefused("this API needs a runner's API key",
                            advice="send 'Authorization: Bearer <API key>'; an administrator "
                            "creates keys under Administration > API keys")
    key = apikeys.check(state(request).db, presented.strip())
    if key is None:
        prefix = apikeys.prefix_of(presented.strip())
        if not audit.recent(state(request).db, action="apikey.refused",
                            ip=client_ip(request), within=60):
            # One entry a minute per address: a flood of made-up keys cannot fill the
            # append-only log (a key check costs a hash, unlike a password's argon2id).
            audit.record(state(request).db, action="apikey.refused",
                         actor=f"key-prefix:{prefix}" if prefix else "-",
                         ip=client_ip(request), target=request.url.path, outcome="refused",
                         detail="further refusals from this address within a minute are "
                         "not recorded")
        raise ApiKeyRefused("the API key is unknown or revoked",
                            advice="ask an administrator for a new key")
    return key


def csrf_token(request: Request) -> str:
    """The token every form on the page must carry as the hidden field ``csrf_token``."""
    session = current_session(request)
    if session is not None:
        return session.csrf_token
    return str(request.scope.get("state", {}).get("cr_anon_csrf", ""))


def form_of(request: Request) -> dict[str, str]:
    """The request's form fields (CSRF-checked by the middleware; the last value of a
    repeated field wins; use :func:`form_lists` for repeated fields)."""
    pairs: list[tuple[str, str]] = request.scope.get("state", {}).get("cr_form", [])
    return dict(pairs)


def form_lists(request: Request, name: str) -> list[str]:
    """Every value of a repeated form field (checkboxes)."""
    pairs: list[tuple[str, str]] = request.scope.get("state", {}).get("cr_form", [])
    return [v for k, v in pairs if k == name]


def start_session(request: Request, user: User) -> str:
    """Sign ``user`` in: a fresh session id (the old session, if any, is deleted:
    rotation on sign-in), and the ``signin`` audit entry in the same transaction (no
    session without its entry). Returns the cookie value; set it with
    :func:`set_session_cookie`."""
    st = state(request)
    old = current_session(request)
    session_id = secrets.token_urlsafe(32)
    t = now()
    with st.db.write() as conn:
        if old is not None:
            conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == old.id_hash))
        conn.execute(web_sessions.insert().values(
            id_hash=_hash(session_id), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
            created_at=t, last_seen=t,
            expires_at=t + dt.timedelta(seconds=st.config.session_max), ip=client_ip(request)))
        # Sessions past their end are swept at each sign-in.
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < t))
        audit.record(conn, action="signin", actor=user.name, ip=client_ip(request))
    return session_id


def end_session(request: Request) -> None:
    """Delete the request's session (sign-out)."""
    session = current_session(request)
    if session is not None:
        with state(request).db.write() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == session.id_hash))


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    """Put the session cookie on a response: HttpOnly, SameSite=Lax, Secure with TLS."""
    tls = state(request).config.tls
    response.set_cookie(cookie_name(tls), session_id, httponly=True, samesite="lax",
                        secure=tls, path="/", max_age=state(request).config.session_max)


def clear_session_cookie(response: Response, request: Request) -> None:
    """Remove the session cookie."""
    tls = state(request).config.tls
    response.delete_cookie(cookie_name(tls), path="/", secure=tls, httponly=True,
                           samesite="lax")


def _load_session(st: ServerState, session_id: str) -> WebSession | None:
    if not session_id or len(session_id) > 100:
        return None
    id_hash = _hash(session_id)
    t = now()
    with st.db.read() as conn:
        row = conn.execute(select(web_sessions).where(web_sessions.c.id_hash == id_hash)).first()
        user = user_by_id(conn, int(row.user_id)) if row else None
    if row is None or user is None or user.disabled:
        return None
    last_seen, expires = aware(row.last_seen), aware(row.expires_at)
    assert last_seen is not None and expires is not None
    if expires <= t or last_seen + dt.timedelta(seconds=st.config.session_idle) <= t:
        with st.db.write() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == id_hash))
        return None
    if t - last_seen > _TOUCH_EVERY:
        with st.db.write() as conn:
            conn.execute(update(web_sessions).where(web_sessions.c.id_hash == id_hash)
                         .values(last_seen=t))
    return WebSession(id_hash=id_hash, user=user, csrf_token=str(row.csrf_token))


def csp_allowing_form_action(*origins: str) -> str:
    """The CSP with ``form-action`` widened to ``origins``. Browsers apply the form's page
    form-action to the redirect a form's POST answers with, so a page whose form redirects
    to an OAuth provider's authorization URL needs that origin. Set it as that page's
    ``Content-Security-Policy`` header; the middleware then leaves it as it is.

    Example::

        response.headers["content-security-policy"] = csp_allowing_form_action(
            "https://login.microsoftonline.us")
    """
    extra = " ".join(o for o in origins if o and all(c not in o for c in " ;,'\"\n"))
    return CSP.replace("form-action 'self'", f"form-action 'self' {extra}".rstrip())


def _same_origin(headers: Headers, scope: Scope) -> bool:
    # Browsers send Origin with every cross-site POST; a request without one (a script,
    # curl) still needs the CSRF token below.
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    scheme = scope.get("scheme", "http")
    return origin == f"{scheme}://{host}"


class SessionMiddleware:
    """Loads the signed-in session into ``request.state``, and refuses an unsafe request
    outside ``/api/`` whose form lacks the right ``csrf_token`` (403), comes from another
    origin (403), is not a urlencoded form (415) or is larger than 64 KiB (413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(("/api/", "/static/")):
            await self.app(scope, receive, send)
            return
        st: ServerState = scope["app"].state.cr
        headers = Headers(scope=scope)
        cookies = Request(scope).cookies
        scope.setdefault("state", {})
        session = await run_in_threadpool(_load_session, st,
                                          cookies.get(cookie_name(st.config.tls), ""))
        scope["state"]["cr_session"] = session
        anon = cookies.get(ANON_CSRF_COOKIE, "")
        new_anon = ""
        if session is None and not (16 <= len(anon) <= 100):
            new_anon = anon = secrets.token_urlsafe(32)
        scope["state"]["cr_anon_csrf"] = anon
        if scope["method"] in UNSAFE:
            refusal, body = await self._check(scope, receive, headers, session, anon)
            if refusal is not None:  # the error page comes from FailSafeMiddleware, outside
                status, message, advice = refusal
                raise Refused(status, message, advice=advice)
            receive = _replay(body)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and new_anon:
                h = MutableHeaders(scope=message)
                secure = "; Secure" if st.config.tls else ""
                h.append("set-cookie", f"{ANON_CSRF_COOKIE}={new_anon}; Path=/; HttpOnly; "
                         f"SameSite=Lax{secure}")
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _check(self, scope: Scope, receive: Receive, headers: Headers,
                     session: WebSession | None, anon: str
                     ) -> tuple[tuple[int, str, str] | None, bytes]:
        if not _same_origin(headers, scope):
            return (403, "this form was sent from another site",
                    "open the Control Room page yourself and submit the form there"), b""
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return (415, "the Control Room's forms take application/x-www-form-urlencoded",
                    "submit the form from the Control Room page"), b""
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                return (413, "the form is larger than 64 KiB",
                        "shorten the values you entered"), b""
            if not message.get("more_body", False):
                break
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              strict_parsing=False, max_num_fields=500)
        except (UnicodeDecodeError, ValueError):
            return (400, "the form could not be read (not UTF-8, or too many fields)",
                    "submit the form from the Control Room page"), b""
        scope["state"]["cr_form"] = pairs
        sent = dict(pairs).get("csrf_token", "")
        expected = session.csrf_token if session is not None else anon
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return (403, "the form's security token is missing or out of date (CSRF check)",
                    "reload the page and submit the form again"), b""
        return None, body



def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class SecurityHeadersMiddleware:
    """Adds CSP, frame-ancestors, nosniff, referrer policy and no-store to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                if "content-security-policy" not in h:  # a route may widen form-action
                    h["content-security-policy"] = CSP
                h["x-content-type-options"] = "nosniff"
                h["referrer-policy"] = "same-origin"
                h["x-frame-options"] = "DENY"
                h["cross-origin-opener-policy"] = "same-origin"
                if not scope["path"].startswith("/static/"):
                    h["cache-control"] = "no-store"
                if scope.get("scheme") == "https":
                    h["strict-transport-security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def audit_here(request: Request, *, action: str, target: str = "", outcome: str = "ok",
               detail: str = "", actor: str = "", conn: Any = None) -> None:
    """Record an audit entry for this request: the signed-in user (or API key, or
    ``actor``) and the client's address filled in.

    Example::

        audit_here(request, action="connection.update", target="ops")
    """
    who = actor or (current_user(request).name if current_user(request) else "-")  # type: ignore[union-attr]
    audit.record(conn if conn is not None else state(request).db, action=action, actor=who,
                 target=target, outcome=outcome, ip=client_ip(request), detail=detail)


__all__ = [
    "ApiKeyRefused",
    "SecurityHeadersMiddleware",
    "SessionMiddleware",
    "SignInNeeded",
    "WebSession",
    "audit_here",
    "clear_session_cookie",
    "client_ip",
    "cookie_name",
    "csp_allowing_form_action",
    "csrf_token",
    "current_session",
    "current_user",
    "end_session",
    "form_lists",
    "form_of",
    "require_admin",
    "require_api_key",
    "require_user",
    "set_session_cookie",
    "start_session",
    "state",
]
