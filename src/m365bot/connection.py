"""The Connect action: open a session to one Microsoft 365 mailbox, failing fast.

Connect resolves every field (Credential / Variable / insecure string), gets a token for the
chosen mode, checks the granted permissions from the token itself (naming the missing one
before Graph is asked), then makes exactly ONE Graph request (the mailbox's Inbox id) so that
a mailbox the identity cannot reach fails now, with advice, rather than in the first action.
That check is remembered with the token cache: a later Connect with the same cached token
skips it, and its session runs it on its first 403/404 instead (m365bot.connect_check).

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

import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from m365bot._version import __version__
from m365bot.bots.run import BotRun
from m365bot.clouds import Cloud
from m365bot.config import Settings
from m365bot.errors import AuthError, ConfigError, M365BotError, SessionError
from m365bot.outlook.session import OutlookSession
from m365bot.protocols import BlobStore
from m365bot.protocols import Vault as VaultLike
from m365bot.sessions import (
    DESCRIPTOR_FORMAT,
    VARIABLE,
    GlobalSession,
    LocalSession,
    Session,
    SessionSpec,
    check_name,
    check_version,
)
from m365bot.values import CredentialRef, Insecure, Secret, Value, VariableRef, resolve

if TYPE_CHECKING:
    from m365bot.auth.tokens import AccessToken, TokenProvider

log = logging.getLogger(__name__)

MODES = {"clientcredentials": "client-credentials", "clientcred": "client-credentials",
         "client": "client-credentials", "authcode": "auth-code", "authorizationcode": "auth-code",
         "authorizationcodewithpkce": "auth-code", "authcodepkce": "auth-code",
         "pkce": "auth-code", "controlroom": "control-room",
         "controlroommanaged": "control-room"}
READ_ROLES = ("Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All", "Mail.ReadBasic")


def parse_mode(mode: str) -> str:
    """``client-credentials``, ``auth-code`` or ``control-room``, also from the RPA platform's
    labels ("Client Credentials", "Control Room managed", ...)."""
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


@dataclass(frozen=True)
class _Fields:
    """Where Connect's fields find their Credential and Variable references."""

    vault: VaultLike | None
    variables: Mapping[str, Any] | None

    def text(self, value: Value | None, field: str, *, required: bool = True) -> str:
        """A non-secret field (client id, username...) as text; insecure without a warning."""
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise ConfigError(f"{field} is empty", field=field,
                                  advice=f"give a value for {field}")
            return ""
        if isinstance(value, str):
            return value.strip()  # a plain identifier, not a secret: no insecure warning
        if isinstance(value, Insecure):
            return value.value.strip()
        return self.secret(value, field).reveal().strip()

    def secret(self, value: Value, field: str) -> Secret:
        return resolve(value, vault=self.vault, variables=self.variables, field=field)


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
    connection: Mapping[str, str] | None = None,
    connections: ConnectionTokens | None = None,
    mailbox: Value | None = None,
    session: SessionSpec = VARIABLE,
    settings: Settings | None = None,
    vault: VaultLike | None = None,
    variables: Mapping[str, Any] | None = None,
    interactive: bool | None = None,
    open_browser: Callable[[str], None] | None = None,
    signin: str = "browser",
    signin_timeout: float = 300.0,
    prompt: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> OutlookSession:
    """Connect to a mailbox and return the session (:class:`~m365bot.sessions.Session` with
    the Outlook actions: :class:`~m365bot.outlook.session.OutlookSession`).

    ``username`` is the mailbox for client credentials (a shared mailbox's address works);
    for auth code and Control Room it is the signed-in user, and ``mailbox`` (default: the
    user's own) may name a shared mailbox the user has access to. ``client_id`` and
    ``tenant_id`` are required except in Control Room managed mode. ``connection`` picks a
    Control Room OAuth connection: ``{"provider_type", "connection_name", "token_type":
    "shared"|"user"}``, found in ``connections`` (``ConnectionStore(vault)``). ``session``:
    ``LocalSession(name)``, ``GlobalSession(name)`` or ``"variable"``. For auth code,
    ``signin`` is how a needed first sign-in runs:
    ``"browser"`` (open it), ``"url"`` (print the URL to stderr and wait for the redirect) or
    ``"device-code"`` (print a code to enter on another device; no redirect URL needed), and
    ``signin_timeout`` how many seconds to wait for the person; ``prompt`` shows the URL or
    the code (default: stderr).

    Example::

        connect(cloud="gcchigh", mode="auth-code", client_id=cid, tenant_id=tid,
                username="alice@fabrikam.us", redirect_url="http://localhost:9999/Callback",
                session=GlobalSession("mail"), settings=settings, vault=vault)
    """
    _check_types(settings=settings, vault=vault, connection=connection, variables=variables)
    if settings is None:
        settings = Settings()  # fixed defaults: the environment is read by from_env() only
    if timeout is not None:
        from dataclasses import replace

        settings = replace(settings, timeout=timeout)
    cl = Cloud.parse(cloud, field="cloud")
    md = parse_mode(mode)
    spec = _check_spec(session)
    run = BotRun.current()
    run.ensure_free(spec)
    r = _Fields(vault, variables)
    user = r.text(username, "username")
    if "@" not in user:
        raise ConfigError(f"username {user!r} is not an email address", field="username",
                          advice="give the mailbox's (or user's) email address")
    box = r.text(mailbox, "mailbox", required=False) or user
    data: dict[str, Any] = {
        "format": DESCRIPTOR_FORMAT, "version": __version__, "cloud": cl.key, "mode": md,
        "username": user, "mailbox": box,
    }  # no network settings: a child uses its own, never ones read back from a file
    if md == "control-room":
        provider = _control_room_provider(connection, user, settings, connections, data)
    else:
        cid = r.text(client_id, "client_id")
        tid = r.text(tenant_id, "tenant_id")
        data.update({"client_id": cid, "tenant_id": tid})
        store: BlobStore = vault if vault is not None else MemoryStore()
        if md == "client-credentials":
            provider = _app_provider(cl, cid, tid, client_secret, certificate, settings, store,
                                     r, data)
        else:
            redirect = r.text(redirect_url, "redirect_url",
                              required=signin != "device-code") or "http://localhost"
            data["redirect_url"] = redirect
            from m365bot.auth.modes import AuthCodePkce

            provider = AuthCodePkce(cloud=cl, tenant=tid, client_id=cid, username=user,
                                    redirect_url=redirect, interactive=interactive,
                                    signin=signin, signin_timeout=signin_timeout,
                                    open_browser=open_browser, prompt=prompt,
                                    settings=settings, store=store)
    data["cache_key"] = getattr(provider, "cache_key", getattr(provider, "key", ""))
    try:
        s = _open(provider, cl, md, user, box, settings, data, spec, vault)
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


def _check_types(*, settings: object, vault: object, connection: object,
                 variables: object) -> None:
    """Wrong Python types fail here, naming the parameter, before anything is sent."""
    if settings is not None and not isinstance(settings, Settings):
        raise ConfigError(f"settings must be a Settings, not {type(settings).__name__}",
                          field="settings", advice="pass settings=Settings.from_env() or "
                          "Settings(proxy=..., ca_bundle=...)")
    if vault is not None and not isinstance(vault, VaultLike):
        raise ConfigError(f"vault must be an open Credential Vault, not {type(vault).__name__}",
                          field="vault", advice="pass vault=Vault.open(path, actor=...) after "
                          "vault.unlock(...)")
    if connection is not None and not (
        isinstance(connection, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in connection.items())
    ):
        raise ConfigError("connection must be a dict of strings", field="connection",
                          advice='pass connection={"provider_type": "Microsoft Entra", '
                          '"connection_name": "...", "token_type": "shared"}')
    if variables is not None and not isinstance(variables, Mapping):
        raise ConfigError(f"variables must be a dict of the bot's variables, not "
                          f"{type(variables).__name__}", field="variables",
                          advice='pass variables={"name": value, ...}')


def _check_spec(session: SessionSpec) -> SessionSpec:
    if isinstance(session, LocalSession | GlobalSession):
        return type(session)(check_name(session.name))
    if session == VARIABLE:
        return session
    raise ConfigError(f"session {session!r} is not a session choice", field="session",
                      advice='use LocalSession("name"), GlobalSession("name") or "variable"')


def _app_provider(cl: Cloud, cid: str, tid: str, client_secret: Value | None, certificate: Any,
                  settings: Settings, store: BlobStore, r: _Fields,
                  data: dict[str, Any]) -> TokenProvider:
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
        cred = SecretCredential(r.secret(client_secret, "client_secret"))
        data["secret_ref"] = _ref_text(client_secret)
    return ClientCredentials(cloud=cl, tenant=tid, client_id=cid, credential=cred,
                             settings=settings, store=store)


class ConnectionTokens(Protocol):
    """The Control Room's OAuth connections, as Connect reaches them: one token source per
    connection and token type. :class:`m365bot.controlroom.ConnectionStore` is one; Connect
    never imports the Control Room.

    Example::

        connect(..., mode="control-room", connection={"connection_name": "ops"},
                connections=ConnectionStore(vault))
    """

    def token_source(self, provider_type: str, name: str, *, token_type: str, user: str,
                     settings: Settings) -> TokenProvider: ...


def _control_room_provider(connection: Mapping[str, str] | None, user: str,
                           settings: Settings, connections: ConnectionTokens | None,
                           data: dict[str, Any]) -> TokenProvider:
    if not connection or not connection.get("connection_name"):
        raise ConfigError("Control Room managed needs a connection", field="connection",
                          advice='pick one: connection={"provider_type": "Microsoft Entra", '
                          '"connection_name": "...", "token_type": "shared"}')
    if connections is None:
        raise ConfigError("Control Room managed needs the Control Room's OAuth connections",
                          field="connections", advice="pass connections=ConnectionStore(vault) "
                          "(from m365bot.controlroom import ConnectionStore)")
    pick = {"provider_type": connection.get("provider_type", "Microsoft Entra"),
            "connection_name": connection["connection_name"],
            "token_type": connection.get("token_type", "shared")}
    data["connection"] = pick
    return connections.token_source(pick["provider_type"], pick["connection_name"],
                                    token_type=pick["token_type"], user=user,
                                    settings=settings)


def _open(provider: TokenProvider, cl: Cloud, md: str, user: str, box: str, settings: Settings,
          data: dict[str, Any], spec: SessionSpec, store: BlobStore | None) -> OutlookSession:
    """Get the token, check it, and check the mailbox (unless that passed for this token
    before: m365bot.connect_check); ``store`` remembers the check (None: it is not)."""
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
    from m365bot.connect_check import MailboxCheck
    from m365bot.graph.client import GraphClient

    client = GraphClient(cl.graph_url, provider, settings, mailbox=box)
    check = MailboxCheck(store, str(data.get("cache_key") or ""), box, tok, identity=identity,
                         app_only=app_only)
    try:
        if check.remembered():  # it passed for this very token: the first 403/404 reruns it
            check.defer(client)
            log.info("Connect: the mailbox check passed for this token before; skipped")
        else:
            check.run(client)
    except M365BotError:
        client.close()
        raise
    kind = "variable" if spec == VARIABLE else (
        "local" if isinstance(spec, LocalSession) else "global")
    name = None if isinstance(spec, str) else spec.name
    return OutlookSession(kind=kind, name=name, cloud=cl.label, mode=md, mailbox=box,
                          identity=identity, identity_type="app" if app_only else "user",
                          permissions=sorted(perms), expires_on=tok.expires_on,
                          descriptor_data=data, token_provider=provider, client=client)


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


def reconnect(data: dict[str, Any], *, settings: Settings | None = None,
              vault: VaultLike | None = None, variables: Mapping[str, Any] | None = None,
              connections: ConnectionTokens | None = None) -> OutlookSession:
    """Re-create a session from its :meth:`Session.descriptor` (a child bot, maybe in another
    process), from the shared encrypted token cache. Raises SessionError for another version
    or a descriptor that is not one.

    The network settings are the child's own: ``settings``, else :meth:`Settings.from_env`
    (what the parent passed in :meth:`BotRun.child_env`); never read from the descriptor.

    Example::

        s = reconnect(json.loads(os.environ["MAIL_SESSION"]), vault=vault)
    """
    if not isinstance(data, dict):
        raise _bad_descriptor("it is not a JSON object")
    _check_types(settings=settings, vault=vault, connection=None, variables=variables)
    check_version(data)
    if settings is None:
        settings = Settings.from_env()
    cloud, md, user, box = (_descriptor_text(data, k)
                            for k in ("cloud", "mode", "username", "mailbox"))
    try:
        cl = Cloud.parse(cloud)
    except ConfigError:
        raise _bad_descriptor(f"its cloud {cloud!r} is not known") from None
    store: BlobStore = vault if vault is not None else MemoryStore()
    provider: TokenProvider
    if md == "control-room":
        pick = data.get("connection")
        if not isinstance(pick, dict) or not all(isinstance(v, str) for v in pick.values()):
            raise _bad_descriptor("its Control Room connection is missing")
        provider = _control_room_provider(pick, user, settings, connections, dict(data))
    elif md == "auth-code":
        from m365bot.auth.modes import AuthCodePkce

        provider = AuthCodePkce(cloud=cl, tenant=_descriptor_text(data, "tenant_id"),
                                client_id=_descriptor_text(data, "client_id"), username=user,
                                redirect_url=_descriptor_text(data, "redirect_url"),
                                interactive=False, settings=settings, store=store)
    elif md == "client-credentials":
        provider = _child_app_provider(data, cl, settings, store, vault, variables)
    else:
        raise _bad_descriptor(f"its mode {md!r} is not known")
    return _open(provider, cl, md, user, box, settings, dict(data), VARIABLE, vault)


def _descriptor_text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _bad_descriptor(f"its {key!r} is missing")
    return value


def _bad_descriptor(why: str) -> SessionError:
    return SessionError(f"this session descriptor cannot be used: {why}",
                        advice="pass the Session from Connect, or its unchanged descriptor()")


def _child_app_provider(data: dict[str, Any], cl: Cloud, settings: Settings,
                        store: BlobStore,
                        vault: VaultLike | None,
                        variables: Mapping[str, Any] | None) -> TokenProvider:
    from m365bot.auth.modes import ClientCredentials, SecretCredential
    from m365bot.values import parse_value

    ref = data.get("secret_ref")
    if ref:
        secret = resolve(parse_value(ref), vault=vault, variables=variables,
                         field="client_secret")
        return ClientCredentials(cloud=cl, tenant=_descriptor_text(data, "tenant_id"),
                                 client_id=_descriptor_text(data, "client_id"),
                                 credential=SecretCredential(secret), settings=settings,
                                 store=store)
    return CachedAppToken(store, str(data.get("cache_key") or ""),
                          _descriptor_text(data, "client_id"), cl)


class CachedAppToken:
    """An app token read from the shared encrypted msal cache only: for a child bot whose
    parent gave the secret as an insecure string (which is never written down)."""

    def __init__(self, store: BlobStore, cache_key: str, client_id: str, cloud: Cloud) -> None:
        self.store, self.cache_key, self.client_id, self.cloud = store, cache_key, client_id, cloud

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
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


def get_session(name: str, *, settings: Settings | None = None,
                vault: VaultLike | None = None, variables: Mapping[str, Any] | None = None,
                connections: ConnectionTokens | None = None) -> OutlookSession:
    """The open session with this Local or Global name; a Global session opened by another
    process is re-created with :func:`reconnect` (and this bot's ``settings``).

    Example::

        s = get_session("mail", vault=vault)
    """
    def reopen(data: dict[str, Any]) -> Session:
        return reconnect(data, settings=settings, vault=vault, variables=variables,
                         connections=connections)

    # every session in the registry came from connect or reconnect
    return cast(OutlookSession, BotRun.current().lookup(check_name(name), reopen))


def disconnect(session_or_name: Session | str) -> None:
    """Disconnect: close the session and its HTTP connections; using it afterwards (or its
    name) raises SessionError.

    Example::

        disconnect("mail")
    """
    if isinstance(session_or_name, Session):
        s = session_or_name
        if s.name and s.kind in ("local", "global"):
            with contextlib.suppress(SessionError):
                BotRun.current().unregister(s.name)
        s.close()
        return
    name = check_name(session_or_name)
    found = BotRun.current().unregister(name)
    if found is not None:
        found.close()
    log.info("Disconnect %s", name)


__all__ = ["CachedAppToken", "ConnectionTokens", "MemoryStore", "connect", "disconnect",
           "get_session", "parse_mode", "reconnect"]
