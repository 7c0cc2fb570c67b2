"""Scope parsing and consent, as the v2.0 endpoint applies them.

* ``https://graph.microsoft.com/.default`` (or ``00000003-...-000000000000/.default``) asks
  for everything consented: application permissions as ``roles`` for app-only tokens, all
  consented delegated permissions for user tokens.
* Bare names (``Mail.Read``) mean Microsoft Graph of the tenant's cloud.
* One resource per request (AADSTS70011); another cloud's Graph, or any unknown resource,
  is not a principal in the tenant (AADSTS500011, ``invalid_resource``).
* Delegated scopes need consent: the admin's (``"admin"`` in the app registration), or the
  user's own (from the registration, or given on the consent page).

Example::

    req = parse_scopes("openid offline_access Mail.Read", tenant)
    granted = delegated_grant(state, app, user, req)   # ["Mail.Read"] or EntraError 65001
"""

from __future__ import annotations

from dataclasses import dataclass, field

from m365bot.emulator import hosts
from m365bot.emulator.entra import errors
from m365bot.emulator.state import App, State, Tenant, User

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


@dataclass
class ScopeRequest:
    """A parsed ``scope`` parameter."""

    raw: str
    oidc: list[str] = field(default_factory=list)  # lower-case OIDC scopes, as requested
    perms: list[str] = field(default_factory=list)  # Graph permission names or ".default"
    resource: str = ""  # the cloud's Graph resource URL ("" when only OIDC scopes)
    prefixed: bool = False  # whether the client spelled scopes with the resource URL

    @property
    def wants_default(self) -> bool:
        return any(p.lower() == ".default" for p in self.perms)

    @property
    def offline(self) -> bool:
        return "offline_access" in self.oidc

    @property
    def openid(self) -> bool:
        return "openid" in self.oidc


def _known_resources() -> dict[str, hosts.Cloud]:
    out: dict[str, hosts.Cloud] = {}
    for cloud, url in hosts.GRAPH_RESOURCE.items():
        out[url.lower()] = cloud
    return out


def parse_scopes(raw: str, tenant: Tenant) -> ScopeRequest:
    """Split ``raw`` into OIDC scopes and Graph permissions; raise 70011 / 500011."""
    req = ScopeRequest(raw=raw)
    resources: list[str] = []
    known = _known_resources()
    own_graph = hosts.GRAPH_RESOURCE[tenant.cloud]
    for item in raw.split():
        low = item.lower()
        if low in OIDC_SCOPES:
            if low not in req.oidc:
                req.oidc.append(low)
            continue
        if "/" not in item:
            if item.startswith("."):
                raise errors.invalid_scope(raw)
            resources.append(own_graph)
            req.perms.append(item)
            continue
        resource, _, perm = item.rpartition("/")
        resource = resource.rstrip("/")
        if not perm:
            raise errors.invalid_scope(raw)
        if resource.lower() == GRAPH_APP_ID:
            resource = own_graph
        elif resource.lower() in known:
            resource = hosts.GRAPH_RESOURCE[known[resource.lower()]]
        req.prefixed = True
        resources.append(resource)
        req.perms.append(perm)
    distinct = {r.lower() for r in resources}
    if len(distinct) > 1:
        raise errors.invalid_scope(
            raw, "Scopes for more than one resource were requested; ask for one resource at a time."
        )
    if resources:
        resource = resources[0]
        if resource.lower() != own_graph.lower():
            raise errors.invalid_resource(resource, tenant.display_name or tenant.domain)
        req.resource = own_graph
    return req


def client_credentials_roles(req: ScopeRequest, app: App) -> list[str]:
    """Validate a client_credentials scope (exactly ``{resource}/.default``); return roles."""
    if req.oidc or len(req.perms) != 1 or not req.wants_default:
        raise errors.invalid_scope(
            req.raw,
            "Client credential flows must have a scope value with /.default suffixed to the "
            "resource identifier (application ID URI).",
        )
    return list(app.application_permissions)


def consented(state: State, app: App, user: User) -> dict[str, str]:
    """Delegated permissions this user may use with this app: lower-case name -> spelling."""
    out: dict[str, str] = {}
    for perm, who in app.delegated_permissions.items():
        if who == "admin" or (
            isinstance(who, list | tuple) and any(str(w).lower() == user.upn.lower() for w in who)
        ):
            out[perm.lower()] = perm
    for perm in state.user_consents.get(f"{app.client_id}|{user.id}", []):
        out.setdefault(perm.lower(), perm)
    for name in OIDC_SCOPES:
        out.pop(name, None)
    return out


def missing_consent(state: State, app: App, user: User, req: ScopeRequest) -> list[str]:
    """Requested permissions the user has not consented to (empty: nothing to ask)."""
    have = consented(state, app, user)
    if req.wants_default:
        return [] if have else [".default"]
    return [p for p in req.perms if p.lower() not in have]


def delegated_grant(state: State, app: App, user: User, req: ScopeRequest) -> list[str]:
    """The Graph permissions to put in ``scp``; AADSTS65001 when consent is missing."""
    if missing_consent(state, app, user, req):
        raise errors.consent_required(app.client_id, app.display_name)
    have = consented(state, app, user)
    if req.wants_default:
        return sorted(have.values())
    if not req.perms:
        # Only OIDC scopes: Entra still issues a Graph token carrying User.Read when consented.
        return [have["user.read"]] if "user.read" in have else []
    return [have[p.lower()] for p in req.perms]


def record_user_consent(state: State, app: App, user: User, perms: list[str]) -> None:
    """The user accepted the consent page for ``perms``."""
    key = f"{app.client_id}|{user.id}"
    with state.lock:
        current = state.user_consents.setdefault(key, [])
        for p in perms:
            if p != ".default" and p.lower() not in (c.lower() for c in current):
                current.append(p)


def response_scope(req: ScopeRequest, granted: list[str]) -> str:
    """The ``scope`` field of a user token response."""
    parts = [f"{req.resource}/{p}" if req.prefixed else p for p in granted]
    parts += [s for s in req.oidc if s != "offline_access"]
    if req.offline:
        parts.append("offline_access")
    return " ".join(parts)
