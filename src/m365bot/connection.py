"""The Connect action: open a session to one Microsoft 365 mailbox, failing fast.

Connect resolves every field (Credential / Variable / insecure string), gets a token for the
chosen mode, checks the granted permissions from the token itself (naming the missing one
before Graph is asked), then makes exactly ONE Graph request (the mailbox's Inbox id) so that
a mailbox the identity cannot reach fails now, with advice, rather than in the first action.

Example::

    import m365bot
    from m365bot.values import CredentialRef
    s = m365bot.connect(cloud="Azure Global", mode="client-credentials",
                        client_id=cid, tenant_id=tid, username="ops@contoso.com",
                        client_secret=CredentialRef("bots", "o365", "client_secret"),
                        session=m365bot.LocalSession("mail"), settings=settings, vault=vault)
    m365bot.disconnect(s)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from m365bot._version import __version__
from m365bot.clouds import Cloud
from m365bot.config import Settings
from m365bot.errors import AuthError, ConfigError, GraphError, M365BotError
from m365bot.sessions import (
    DESCRIPTOR_FORMAT,
    VARIABLE,
    BotRun,
    GlobalSession,
    LocalSession,
    Session,
    SessionSpec,
    check_name,
    check_version,
)
from m365bot.values import CredentialRef, Insecure, Value, VariableRef, resolve

log = logging.getLogger(__name__)

MODES = {"clientcredentials": "client-credentials", "clientcred": "client-credentials",
         "client": "client-credentials", "authcode": "auth-code", "authorizationcode": "auth-code",
         "authorizationcodewithpkce": "auth-code", "authcodepkce": "auth-code",
         "pkce": "auth-code", "controlroom": "control-room",
         "controlroommanaged": "control-room"}
READ_ROLES = ("Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All", "Mail.ReadBasic")


def parse_mode(mode: str) -> str:
    """``client-credentials``, ``auth-code`` or ``control-room`` from the seed's labels too."""
    norm = "".join(c for c in str(mode).lower() if c.isalnum())
    found = MODES.get(norm)
    if found is None:
        raise ConfigError(f"mode {mode!r} is not an OAuth2 authentication mode", field="mode",
                          advice="use client-credentials, auth-code or control-room")
    return found


class MemoryStore:
    """A non-persistent blob store, for Connect without a vault (tokens live in memory)."""

    def __init__(self) -> None:
        self._blobs: dict[tuple[str, str], bytes] = {}

    def get_blob(self, kind: str, key: str) -> bytes | None:
        return self._blobs.get((kind, key))

    def put_blob(self, kind: str, key: str, data: bytes) -> int:
        self._blobs[(kind, key)] = bytes(data)
        return 1


def _text(value: Value | None, field: str, *, vault: Any, variables: Any,
          required: bool = True) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConfigError(f"{field} is empty", field=field, advice=f"give a value for {field}")
        return ""
    if isinstance(value, str):
        return value.strip()  # a plain identifier, not a secret: no insecure warning
    if isinstance(value, Insecure):
        return value.value.strip()
    return resolve(value, vault=vault, variables=variables, field=field).reveal().strip()


def _ref_text(value: Any) -> str | None:
    """A reference a child process can resolve again (never a value)."""
    return str(value) if isinstance(value, CredentialRef | VariableRef) else None


def connect(
    *,
    cloud: str | Cloud,
    mode: str,
    username: Value,
    client_id: Value | None = None,
    tenant_id: Value | None = None,
    client_secret: Value | None = None,
    certificate: Any = None,
    redirect_url: Value | None = None,
    connection: dict[str, str] | None = None,
    mailbox: Value | None = None,
    session: SessionSpec = VARIABLE,
    settings: Settings | None = None,
    vault: Any = None,
    variables: dict[str, Any] | None = None,
    interactive: bool | None = None,
    open_browser: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> Session:
    """Connect to a mailbox and return the :class:`~m365bot.sessions.Session`.

    ``username`` is the mailbox for client credentials (a shared mailbox's address works);
    for auth code and Control Room it is the signed-in user, and ``mailbox`` (default: the
    user's own) may name a shared mailbox the user has access to. ``client_id`` and
    ``tenant_id`` are required except in Control Room managed mode. ``connection`` picks a
    Control Room OAuth connection: ``{"provider_type", "connection_name", "token_type":
    "shared"|"user"}``. ``session``: ``LocalSession(name)``, ``GlobalSession(name)`` or
    ``"variable"``.

    Example::

        connect(cloud="gcchigh", mode="auth-code", client_id=cid, tenant_id=tid,
                username="alice@fabrikam.us", redirect_url="http://localhost:9999/Callback",
                session=GlobalSession("mail"), settings=settings, vault=vault)
    """
    if settings is None:
        settings = Settings()
    if timeout is not None:
        from dataclasses import replace

        settings = replace(settings, timeout=timeout)
    cl = Cloud.parse(cloud, field="cloud")
    md = parse_mode(mode)
    spec = _check_spec(session)
    run = BotRun.current()
    run.ensure_free(spec)
    r = {"vault": vault, "variables": variables}
    user = _text(username, "username", **r)
    if "@" not in user:
        raise ConfigError(f"username {user!r} is not an email address", field="username",
                          advice="give the mailbox's (or user's) email address")
    box = _text(mailbox, "mailbox", required=False, **r) or user
    data: dict[str, Any] = {
        "format": DESCRIPTOR_FORMAT, "version": __version__, "cloud": cl.key, "mode": md,
        "username": user, "mailbox": box,
        "network": {"proxy": settings.proxy, "ca_bundle": settings.ca_bundle,
                    "data_dir": str(settings.data_dir), "timeout": settings.timeout},
    }
    if md == "control-room":
        provider = _control_room_provider(connection, user, cl, settings, vault, data)
    else:
        cid = _text(client_id, "client_id", **r)
        tid = _text(tenant_id, "tenant_id", **r)
        data.update({"client_id": cid, "tenant_id": tid})
        store = vault if vault is not None else MemoryStore()
        if md == "client-credentials":
            provider = _app_provider(cl, cid, tid, client_secret, certificate, settings, store,
                                     r, data)
        else:
            redirect = _text(redirect_url, "redirect_url", **r)
            data["redirect_url"] = redirect
            from m365bot.auth.modes import AuthCodePkce

            provider = AuthCodePkce(cloud=cl, tenant=tid, client_id=cid, username=user,
                                    redirect_url=redirect, interactive=interactive,
                                    open_browser=open_browser, settings=settings, store=store)
    data["cache_key"] = getattr(provider, "cache_key", getattr(provider, "key", ""))
    try:
        s = _open(provider, cl, md, user, box, settings, data, spec)
    except BaseException:
        close_provider = getattr(provider, "close", None)
        if callable(close_provider):
            close_provider()  # a failed Connect leaves no sign-in connection open
        raise
    if s.kind != "variable":
        try:
            run.register(spec, s)
        except M365BotError:
            s.close()
            raise
    log.info("Connect %s to %s (%s, %s) as %s", s.name or "(variable)", box, cl.key, md,
             s.identity)
    return s


def _check_spec(session: SessionSpec) -> SessionSpec:
    if isinstance(session, LocalSession | GlobalSession):
        return type(session)(check_name(session.name))
    if session == VARIABLE:
        return session
    raise ConfigError(f"session {session!r} is not a session choice", field="session",
                      advice='use LocalSession("name"), GlobalSession("name") or "variable"')


def _app_provider(cl: Cloud, cid: str, tid: str, client_secret: Value | None, certificate: Any,
                  settings: Settings, store: Any, r: dict[str, Any],
                  data: dict[str, Any]) -> Any:
    from m365bot.auth.modes import CertificateCredential, ClientCredentials, SecretCredential

    cred: SecretCredential | CertificateCredential
    if certificate is not None:
        if not isinstance(certificate, CertificateCredential):
            raise ConfigError("certificate must be a CertificateCredential", field="certificate",
                              advice="use CertificateCredential.from_pem(key, cert) or from_pfx")
        cred = certificate
    elif client_secret is None:
        raise ConfigError("client_secret is empty", field="client_secret",
                          advice="give the client secret's value (or a certificate)")
    else:
        cred = SecretCredential(resolve(client_secret, field="client_secret", **r))
        data["secret_ref"] = _ref_text(client_secret)
    return ClientCredentials(cloud=cl, tenant=tid, client_id=cid, credential=cred,
                             settings=settings, store=store)


def _control_room_provider(connection: dict[str, str] | None, user: str, cl: Cloud,
                           settings: Settings, vault: Any, data: dict[str, Any]) -> Any:
    if not connection or not connection.get("connection_name"):
        raise ConfigError("Control Room managed needs a connection", field="connection",
                          advice='pick one: connection={"provider_type": "Microsoft Entra", '
                          '"connection_name": "...", "token_type": "shared"}')
    if vault is None:
        raise ConfigError("Control Room managed needs the vault that holds the connections",
                          field="vault", advice="open and unlock the vault and pass vault=...")
    from m365bot.controlroom import ConnectionStore

    store = ConnectionStore(vault)
    pick = {"provider_type": connection.get("provider_type", "Microsoft Entra"),
            "connection_name": connection["connection_name"],
            "token_type": connection.get("token_type", "shared")}
    data["connection"] = pick
    return store.token_source(pick["provider_type"], pick["connection_name"],
                              token_type=pick["token_type"], user=user, settings=settings)


def _open(provider: Any, cl: Cloud, md: str, user: str, box: str, settings: Settings,
          data: dict[str, Any], spec: SessionSpec) -> Session:
    tok = provider.get_token()
    claims = tok.claims
    _check_audience(claims, cl)
    app_only = claims.get("idtyp") == "app" or ("roles" in claims and "scp" not in claims)
    perms = tok.roles if app_only else tok.scopes
    identity = tok.identity
    if md != "client-credentials" and not app_only:
        signed = str(claims.get("upn") or claims.get("unique_name") or "").lower()
        if signed and signed != user.lower():
            raise AuthError(f"the token is for {signed}, not for username {user}",
                            code="wrong_account",
                            advice="sign in as the username, or change username to the "
                            "account that signed in")
    _check_permissions(perms, app_only=app_only, own=box.lower() == user.lower() or app_only,
                       box=box, cl=cl, md=md)
    from m365bot.graph.client import GraphClient
    from m365bot.graph.core import mailbox_path

    client = GraphClient(cl.graph_url, provider, settings, mailbox=box)
    try:
        client.get(mailbox_path(box) + "/mailFolders/inbox", params={"$select": "id"})
    except GraphError as exc:
        client.close()
        raise _mailbox_error(exc, box, identity, app_only) from None
    except M365BotError:
        client.close()
        raise
    kind = "variable" if spec == VARIABLE else (
        "local" if isinstance(spec, LocalSession) else "global")
    name = None if isinstance(spec, str) else spec.name
    return Session(kind=kind, name=name, cloud=cl.label, mode=md, mailbox=box,
                   identity=identity, identity_type="app" if app_only else "user",
                   permissions=sorted(perms), expires_on=tok.expires_on, descriptor_data=data,
                   token_provider=provider, client=client)


def _check_audience(claims: dict[str, Any], cl: Cloud) -> None:
    aud = str(claims.get("aud") or "").rstrip("/")
    if aud and aud.startswith("https://") and aud != cl.graph_url:
        raise AuthError(f"the token is for {aud}, not for {cl.graph_url} ({cl.label})",
                        code="wrong_cloud",
                        advice="set the Azure cloud to the one the tenant lives in")


def _check_permissions(perms: list[str], *, app_only: bool, own: bool, box: str, cl: Cloud,
                       md: str) -> None:
    have = {p.lower() for p in perms}
    if app_only:
        if not have & {r.lower() for r in READ_ROLES}:
            raise AuthError(
                "the app's token has no Mail permission (granted: "
                f"{', '.join(perms) or 'none'}); missing application permission Mail.ReadWrite",
                code="missing_permission",
                advice="add the Microsoft Graph application permission Mail.ReadWrite (and "
                "Mail.Send) and grant admin consent in the Azure portal")
        return
    need = ("Mail.Read", "Mail.ReadWrite") if own else ("Mail.Read.Shared",
                                                        "Mail.ReadWrite.Shared")
    if not have & {n.lower() for n in need}:
        raise AuthError(
            f"the token has no {need[1]} delegated permission (granted: "
            f"{', '.join(perms) or 'none'}); missing {need[1]}",
            code="missing_permission",
            advice=f"add the delegated permission {need[1]} to the app registration, grant "
            "consent, and sign in again")


def _mailbox_error(exc: GraphError, box: str, identity: str, app_only: bool) -> GraphError:
    who = f"the app {identity}" if app_only else f"user {identity}"
    if exc.code == "ErrorAccessDenied" or exc.status == 403:
        advice = ("an application access policy may exclude this mailbox: have an Exchange "
                  "administrator add it to the policy's group (New-ApplicationAccessPolicy / "
                  "Test-ApplicationAccessPolicy)" if app_only else
                  "have an Exchange administrator give the user FullAccess to the mailbox, "
                  "and consent to Mail.ReadWrite.Shared")
        cause = f"{who} cannot open mailbox {box} ({exc.code})"
    elif exc.code == "MailboxNotEnabledForRESTAPI":
        cause = f"mailbox {box} is not enabled for Graph (MailboxNotEnabledForRESTAPI)"
        advice = ("use an Exchange Online mailbox: this one is on-premises, inactive, "
                  "soft-deleted or unlicensed")
    elif exc.status == 404 or exc.code in ("ErrorInvalidUser", "ResourceNotFound"):
        cause = f"there is no mailbox {box} in this tenant ({exc.code})"
        advice = "check the username (for a shared mailbox, its email address)"
    else:
        return exc
    return GraphError(cause, code=exc.code, status=exc.status, request_id=exc.request_id,
                      advice=advice)


def reconnect(data: dict[str, Any], *, settings: Settings | None = None, vault: Any = None,
              variables: dict[str, Any] | None = None) -> Session:
    """Re-create a session from its :meth:`Session.descriptor` (a child bot, maybe in another
    process), from the shared encrypted token cache. Raises SessionError for another version.

    Example::

        s = reconnect(json.loads(os.environ["MAIL_SESSION"]), vault=vault)
    """
    check_version(data)
    net = data.get("network") or {}
    if settings is None:
        from pathlib import Path

        settings = Settings(data_dir=Path(net.get("data_dir") or Settings().data_dir),
                            proxy=net.get("proxy"), ca_bundle=net.get("ca_bundle"),
                            timeout=float(net.get("timeout") or 30))
    cl = Cloud.parse(data["cloud"])
    md = data["mode"]
    store = vault if vault is not None else MemoryStore()
    provider: Any
    if md == "control-room":
        provider = _control_room_provider(data["connection"], data["username"], cl, settings,
                                          vault, dict(data))
    elif md == "auth-code":
        from m365bot.auth.modes import AuthCodePkce

        provider = AuthCodePkce(cloud=cl, tenant=data["tenant_id"], client_id=data["client_id"],
                                username=data["username"], redirect_url=data["redirect_url"],
                                interactive=False, settings=settings, store=store)
    else:
        provider = _child_app_provider(data, cl, settings, store, vault, variables)
    return _open(provider, cl, md, data["username"], data["mailbox"], settings, dict(data),
                 VARIABLE)


def _child_app_provider(data: dict[str, Any], cl: Cloud, settings: Settings, store: Any,
                        vault: Any, variables: dict[str, Any] | None) -> Any:
    from m365bot.auth.modes import ClientCredentials, SecretCredential
    from m365bot.values import parse_value

    ref = data.get("secret_ref")
    if ref:
        secret = resolve(parse_value(ref), vault=vault, variables=variables,
                         field="client_secret")
        return ClientCredentials(cloud=cl, tenant=data["tenant_id"], client_id=data["client_id"],
                                 credential=SecretCredential(secret), settings=settings,
                                 store=store)
    return CachedAppToken(store, data.get("cache_key", ""), data["client_id"], cl)


class CachedAppToken:
    """An app token read from the shared encrypted msal cache only: for a child bot whose
    parent gave the secret as an insecure string (which is never written down)."""

    def __init__(self, store: Any, cache_key: str, client_id: str, cloud: Cloud) -> None:
        self.store, self.cache_key, self.client_id, self.cloud = store, cache_key, client_id, cloud

    def get_token(self, *, force_refresh: bool = False) -> Any:
        import time

        from m365bot.auth.tokens import make_access_token

        raw = None if force_refresh else self.store.get_blob("token_cache", self.cache_key)
        best: tuple[float, str] | None = None
        for entry in (json.loads(raw).get("AccessToken", {}) if raw else {}).values():
            exp = float(entry.get("expires_on", 0))
            if entry.get("client_id") == self.client_id and exp - time.time() > 60 and (
                best is None or exp > best[0]
            ):
                best = (exp, entry["secret"])
        if best is None:
            raise AuthError(
                "the parent's token has expired and this child bot has no client secret",
                code="no_secret",
                advice="give the client secret as a Credential (credential:LOCKER/CRED/ATTR) "
                "so child bots can renew the token, or Connect in the child bot")
        return make_access_token(best[1], best[0] - time.time(), "cache")

    def __repr__(self) -> str:
        return f"<CachedAppToken {self.cache_key!r}>"


def disconnect(session_or_name: Session | str) -> None:
    """Disconnect a session (object or Local/Global name). Example: ``disconnect("mail")``."""
    from m365bot.sessions import disconnect as _disconnect

    _disconnect(session_or_name)


__all__ = ["CachedAppToken", "MemoryStore", "connect", "disconnect", "parse_mode", "reconnect"]
