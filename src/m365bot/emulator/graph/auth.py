"""Who is calling Graph, and may they touch this mailbox?

:func:`authenticate` turns the ``Authorization: Bearer`` header into a :class:`Principal`
(401 ``InvalidAuthenticationToken`` with ``WWW-Authenticate`` otherwise); :func:`authorize`
applies Graph's rules for app-only roles, the application access policy, delegated scopes
and mailbox grants (FullAccess, SendAs, SendOnBehalf).

Example::

    principal = authenticate(emu, request)
    authorize(principal, mailbox, "mail.read")   # raises GraphHTTPError(403, ...) if not
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from m365bot.emulator import hosts
from m365bot.emulator.graph.errors import GraphHTTPError, access_denied
from m365bot.emulator.state import Mailbox

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

NEEDS = ("mail.read", "mail.write", "mail.send", "calendar.read", "calendar.write")

# need -> (app roles, delegated scopes for one's own mailbox, scopes for someone else's)
_RULES: dict[str, tuple[set[str], set[str], set[str]]] = {
    "mail.read": (
        {"Mail.Read", "Mail.ReadWrite"},
        {"Mail.Read", "Mail.ReadWrite", "Mail.Read.Shared", "Mail.ReadWrite.Shared"},
        {"Mail.Read.Shared", "Mail.ReadWrite.Shared"},
    ),
    "mail.write": (
        {"Mail.ReadWrite"},
        {"Mail.ReadWrite", "Mail.ReadWrite.Shared"},
        {"Mail.ReadWrite.Shared"},
    ),
    "mail.send": ({"Mail.Send"}, {"Mail.Send", "Mail.Send.Shared"}, {"Mail.Send.Shared"}),
    "calendar.read": (
        {"Calendars.Read", "Calendars.ReadWrite"},
        {"Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared",
         "Calendars.ReadWrite.Shared"},
        {"Calendars.Read.Shared", "Calendars.ReadWrite.Shared"},
    ),
    "calendar.write": (
        {"Calendars.ReadWrite"},
        {"Calendars.ReadWrite", "Calendars.ReadWrite.Shared"},
        {"Calendars.ReadWrite.Shared"},
    ),
}
_SEND_RIGHTS = {"sendas", "sendonbehalf"}

MSG_EMPTY = "Access token is empty."
MSG_PARSE = "CompactToken parsing failed with error code: 80049217"
MSG_INVALID = "Access token validation failure."
MSG_AUDIENCE = "Access token validation failure. Invalid audience."
MSG_EXPIRED = "Access token has expired or is not yet valid."
MSG_POLICY = ("Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly "
              "AccessPolicy settings.")
MSG_SEND_AS = ("The user account which was used to submit this request does not have the right "
               "to send mail on behalf of the specified sending account., Cannot submit message.")


@dataclass(frozen=True)
class Principal:
    """The caller behind a valid Graph token.

    ``kind`` is ``"app"`` (app-only, ``roles``) or ``"user"`` (delegated, ``scopes``).
    """

    kind: str
    app_id: str
    tenant_id: str
    cloud: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    user_id: str | None = None
    upn: str | None = None
    access_policy: tuple[str, ...] | None = None
    claims: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def app_only(self) -> bool:
        return self.kind == "app"


def _unauthorized(message: str, cloud: str | None) -> GraphHTTPError:
    login = hosts.LOGIN_HOST.get(cloud or "global", hosts.LOGIN_HOST["global"])  # type: ignore[call-overload]
    challenge = (f'Bearer realm="", authorization_uri="https://{login}/common/oauth2/authorize", '
                 f'client_id="{GRAPH_APP_ID}"')
    return GraphHTTPError(401, "InvalidAuthenticationToken", message,
                          headers={"WWW-Authenticate": challenge})


def authenticate(emu: Any, request: Request) -> Principal:
    """The caller of ``request``, or 401 InvalidAuthenticationToken (with WWW-Authenticate)."""
    meta = request.scope.get("m365bot") or {}
    host_cloud: str | None = meta.get("cloud")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if not header.strip() or not token:
        raise _unauthorized(MSG_EMPTY, host_cloud)
    if scheme.lower() != "bearer" or token.count(".") != 2:
        raise _unauthorized(MSG_PARSE, host_cloud)
    from m365bot.emulator.tokens import TokenError

    try:
        claims = emu.tokens.decode_access_token(token)
    except TokenError:
        raise _unauthorized(MSG_INVALID, host_cloud) from None
    except Exception:  # anything odd inside the JWT library is still just a bad token
        raise _unauthorized(MSG_INVALID, host_cloud) from None
    token_cloud = hosts.cloud_of_graph_resource(str(claims.get("aud", "")))
    if token_cloud is None:
        raise _unauthorized(MSG_AUDIENCE, host_cloud)
    if host_cloud is not None and meta.get("mode") == "proxy" and token_cloud != host_cloud:
        raise _unauthorized(MSG_AUDIENCE, host_cloud)
    cloud = host_cloud or token_cloud
    now = emu.clock.now()
    try:
        exp = float(claims.get("exp", 0))
        nbf = float(claims.get("nbf", 0))
    except (TypeError, ValueError):
        raise _unauthorized(MSG_INVALID, cloud) from None
    if exp <= now or nbf > now + 300:
        raise _unauthorized(MSG_EXPIRED, cloud)
    tid = str(claims.get("tid", ""))
    tenant = emu.state.tenants.get(tid)
    if tenant is None or tenant.cloud != token_cloud:
        raise _unauthorized(MSG_INVALID, cloud)
    app_id = str(claims.get("appid") or claims.get("azp") or "")
    app = emu.state.apps.get(app_id)
    policy = tuple(a.lower() for a in app.access_policy) if app and app.access_policy is not None \
        else None
    if claims.get("idtyp") == "app" or "scp" not in claims:
        return Principal(kind="app", app_id=app_id, tenant_id=tid, cloud=token_cloud,
                         roles=frozenset(claims.get("roles") or []), access_policy=policy,
                         claims=claims)
    user_id = str(claims.get("oid", ""))
    user = emu.state.users.get(user_id)
    if user is None or not user.enabled:
        raise _unauthorized(MSG_INVALID, cloud)
    return Principal(kind="user", app_id=app_id, tenant_id=tid, cloud=token_cloud,
                     scopes=frozenset(str(claims.get("scp", "")).split()), user_id=user_id,
                     upn=str(claims.get("upn") or user.upn), claims=claims)


def _rights(mailbox: Mailbox, user_id: str | None) -> set[str]:
    out: set[str] = set()
    for grant in mailbox.grants:
        if grant.user_id == user_id:
            out.update(r.lower() for r in grant.rights)
    return out


def authorize(principal: Principal, mailbox: Mailbox, need: str) -> None:
    """Raise Graph's 403 unless ``principal`` may do ``need`` on ``mailbox``.

    Example::

        authorize(principal, box, "mail.send")  # ErrorAccessDenied / ErrorSendAsDenied
    """
    if need not in _RULES:
        raise ValueError(f"unknown need {need!r}; expected one of {NEEDS}")
    roles, own_scopes, shared_scopes = _RULES[need]
    if principal.app_only:
        if not roles & principal.roles:
            raise access_denied()
        if principal.access_policy is not None and \
                mailbox.address.lower() not in principal.access_policy:
            raise GraphHTTPError(403, "ErrorAccessDenied", MSG_POLICY, inner=False)
        return
    if mailbox.id == principal.user_id:
        if not own_scopes & principal.scopes:
            raise access_denied()
        return
    if not shared_scopes & principal.scopes:
        raise access_denied()
    rights = _rights(mailbox, principal.user_id)
    if need == "mail.send":
        if not rights & _SEND_RIGHTS:
            raise send_as_denied()
        return
    if "fullaccess" not in rights:
        raise access_denied()


def send_as_denied() -> GraphHTTPError:
    return GraphHTTPError(403, "ErrorSendAsDenied", MSG_SEND_AS, inner=False)


def may_send_as(principal: Principal, mailbox: Mailbox) -> bool:
    """True when the principal may put ``mailbox`` in a message's ``from``."""
    if principal.app_only:
        return principal.access_policy is None or \
            mailbox.address.lower() in principal.access_policy
    if mailbox.id == principal.user_id:
        return True
    return bool(_rights(mailbox, principal.user_id) & _SEND_RIGHTS)
