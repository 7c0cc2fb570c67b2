"""OAuth connections, invited roles and token slots in the Control Room database: the one
implementation behind the server's pages and broker and the embedded store of
``m365bot controlroom connection`` on one machine.

Client secrets and tokens are sealed (:class:`~m365bot.controlroom.sealing.TokenSealer`)
before they reach the database; what stays readable (expiry, "has a refresh token", the last
refusal) is enough to show a status without decrypting anything. A client secret kept in the
Credential Vault is stored as its reference only and read when a token is requested
(:meth:`OAuthRepo.with_client_secret`, :mod:`m365bot.controlroom.secret_refs`).

Example::

    repo = OAuthRepo(Database.open(path), TokenSealer.from_vault(vault))
    cid = repo.save(OAuthConnection.outlook("ops", cloud="gcc", tenant=t, client_id=c))
    repo.set_roles(cid, ["mailbots"])
    repo.status(cid, owner="")      # 'Not connected'
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from m365bot.auth.refresh import REFUSED
from m365bot.controlroom.connections import (
    ACTIVE,
    EXPIRED,
    NOT_CONNECTED,
    OAuthConnection,
)
from m365bot.controlroom.db import Database, roles, user_roles, users
from m365bot.controlroom.oauth_tables import connection_roles, oauth_connections, oauth_tokens
from m365bot.controlroom.sealing import TokenSealer
from m365bot.controlroom.secret_refs import ClientSecretUnavailable, not_here
from m365bot.errors import ConfigError
from m365bot.values import CredentialRef, Secret

_C, _T = oauth_connections.c, oauth_tokens.c
# A connection's columns without its secret (pages and the broker).
_VIEW_COLS = [_C.id, _C.provider_type, _C.name, _C.client_id, _C.token_url,
              _C.authorization_url, _C.grant_type, _C.scopes, _C.cloud, _C.updated_by,
              _C.client_secret_locker, _C.client_secret_credential,
              _C.client_secret_attribute, _C.client_secret_error,
              _C.client_secret.isnot(None).label("has_secret")]
_NO_REF = {"client_secret_locker": None, "client_secret_credential": None,
           "client_secret_attribute": None, "client_secret_error": None}
_SLOT = select(oauth_tokens).where(_T.connection_id == bindparam("cid"),
                                   _T.owner == bindparam("owner"))
_SLOT_FOR_UPDATE = _SLOT.with_for_update()
_RUNNER_CONNECTION = select(*_VIEW_COLS).where(_C.key == bindparam("key"))
# Shared with one of the run-as user's roles, or one of the API key's own roles.
_RUNNER_SHARED = select(connection_roles.c.role_id).where(
    connection_roles.c.connection_id == bindparam("cid"),
    or_(connection_roles.c.role_id.in_(
        select(user_roles.c.role_id).join(users, users.c.id == user_roles.c.user_id)
        .where(func.lower(users.c.name) == bindparam("run_as"))),
        connection_roles.c.role_id.in_(
            select(roles.c.id).where(roles.c.name.in_(bindparam("roles", expanding=True)))),
        )).limit(1)


@dataclass(frozen=True)
class StoredConnection:
    """A connection as stored: its id, the connection (its secret only when asked for; a
    Credential Vault reference always, never its value), its invited roles, whether a client
    secret is kept (typed, or a reference) and why the reference could not be read the last
    time (``secret_error``, "" when it could).

    Example::

        row = repo.get("Custom", "ops"); row.id, row.conn.token_url, row.roles
    """

    id: int
    conn: OAuthConnection
    roles: tuple[str, ...]
    has_secret: bool
    updated_at: datetime | None = None
    updated_by: str = ""
    secret_error: str = ""


def status_of(expires_on: float | None, renewable: bool, refused: str | None, grant_type: str,
              has_secret: bool, now: float) -> str:
    """Active, Expired or Not connected from a token slot's readable columns (None: no slot).

    Example::

        status_of(None, False, None, "authorization_code", False, time.time())  # Not connected
    """
    if expires_on is None:
        return NOT_CONNECTED
    if refused:
        return EXPIRED
    if renewable or (grant_type == "client_credentials" and has_secret):
        return ACTIVE
    return ACTIVE if expires_on > now else EXPIRED


def _now() -> datetime:
    return datetime.now(UTC)


class OAuthRepo:
    """Connections, roles and token slots on a :class:`~m365bot.controlroom.db.Database`."""

    def __init__(self, db: Database, sealer: TokenSealer, *,
                 vault_secrets: Callable[[OAuthConnection], Secret] | None = None) -> None:
        self.db = db
        self.sealer = sealer
        # reads a client secret kept in the Credential Vault (None: none can be read here)
        self.vault_secrets = vault_secrets

    # -- connections -----------------------------------------------------------------------

    def save(self, conn: OAuthConnection, *, actor: str = "", connection_id: int | None = None,
             keep_secret: bool = False, roles: Iterable[str] | None = None,
             replace: bool = True) -> int:
        """Create a connection, or replace the one with this provider type and name (or with
        ``connection_id``, which may rename it). ``keep_secret``: an edit that leaves the
        secret field empty keeps the stored one. ``roles``: invite exactly these (None:
        leave them). ``replace=False``: a new connection may not take an existing name. Tokens
        are kept. One transaction: a refusal saves nothing. Returns
        the id.

        A typed secret is sealed into the row; a ``client_secret_ref`` is stored as its names
        (never a value: the secret stays in the vault); each replaces the other."""
        values: dict[str, Any] = {
            "key": conn.key, "provider_type": conn.provider_type, "name": conn.name,
            "cloud": conn.cloud, "grant_type": conn.grant_type, "client_id": conn.client_id,
            "authorization_url": conn.authorization_url, "token_url": conn.token_url,
            "scopes": " ".join(conn.scopes), "updated_at": _now(), "updated_by": actor}
        with self.db.write() as c:
            clash = c.execute(select(_C.id).where(_C.key == conn.key)).scalar()
            if connection_id is None and replace:
                connection_id = clash
            elif clash is not None and clash != connection_id:
                raise ConfigError(f"there is already a {conn.provider_type} connection named "
                                  f"{conn.name!r}", field="connection_name",
                                  advice="give another name")
            if connection_id is None:
                pk = c.execute(insert(oauth_connections).values(
                    created_at=values["updated_at"], **values)).inserted_primary_key
                assert pk is not None
                connection_id = int(pk[0])
            elif c.execute(update(oauth_connections).where(_C.id == connection_id)
                           .values(**values)).rowcount == 0:
                raise _unknown_id(connection_id)
            ref = conn.client_secret_ref
            if ref is not None:
                c.execute(update(oauth_connections).where(_C.id == connection_id).values(
                    client_secret=None, client_secret_locker=ref.locker,
                    client_secret_credential=ref.credential,
                    client_secret_attribute=ref.attribute, client_secret_error=None))
            elif conn.client_secret is not None or not keep_secret:
                sealed = (self.sealer.seal(conn.client_secret.reveal().encode(), "secret",
                                           connection_id)
                          if conn.client_secret is not None else None)
                c.execute(update(oauth_connections).where(_C.id == connection_id)
                          .values(client_secret=sealed, **_NO_REF))
            elif conn.grant_type == "client_credentials" and c.execute(
                    select(_C.id).where(_C.id == connection_id, _C.client_secret.is_(None),
                                        _C.client_secret_locker.is_(None))).first() is not None:
                raise ConfigError("a client_credentials connection needs its client secret",
                                  field="client_secret", advice="give the client secret")
            if roles is not None:
                self._set_roles(c, connection_id, roles)
        return connection_id

    def get(self, provider_type: str, name: str, *, secret: bool = True) -> StoredConnection:
        """A connection by provider type and name; ConfigError naming it if unknown."""
        found = self._select(_C.key == f"{provider_type.lower()}|{name.lower()}", secret)
        if not found:
            raise self._missing(provider_type, name)
        return found[0]

    @staticmethod
    def _missing(provider_type: str, name: str) -> ConfigError:
        return ConfigError(f"there is no {provider_type} OAuth connection named {name!r}",
                           field="connection",
                           advice="create it with 'm365bot controlroom connection add' (or "
                           "under Manage > OAuth connections), or check the provider type "
                           "and name")

    def get_by_id(self, connection_id: int, *, secret: bool = True) -> StoredConnection:
        """A connection by id; ConfigError if there is none."""
        found = self._select(_C.id == connection_id, secret)
        if not found:
            raise _unknown_id(connection_id)
        return found[0]

    def find(self, *, search: str = "", provider_type: str = "",
             visible_to_roles: Iterable[int] | None = None) -> list[StoredConnection]:
        """Connections by name (no secrets opened): ``search`` in the name or client id,
        ``provider_type`` exactly, ``visible_to_roles`` only those shared with these role ids.
        """
        cond: list[Any] = []
        if search:
            like = f"%{search.lower()}%"
            cond.append(or_(func.lower(_C.name).like(like), func.lower(_C.client_id).like(like)))
        if provider_type:
            cond.append(_C.provider_type == provider_type)
        if visible_to_roles is not None:
            ids = list(visible_to_roles)
            cond.append(_C.id.in_(select(connection_roles.c.connection_id)
                                  .where(connection_roles.c.role_id.in_(ids))))
        return self._select(and_(True, *cond), False)

    def _select(self, where: Any, secret: bool) -> list[StoredConnection]:
        with self.db.read() as c:
            return self._select_in(c, where, secret)

    def _select_in(self, c: Connection, where: Any, secret: bool) -> list[StoredConnection]:
        cols = [*_VIEW_COLS, _C.client_secret, _C.updated_at] if secret else _VIEW_COLS
        rows = c.execute(select(*cols).where(where)
                         .order_by(func.lower(_C.name), _C.provider_type)).all()
        return self._stored(rows, self._role_names(c, [r.id for r in rows]), secret)

    def _stored(self, rows: Iterable[Any], names: dict[int, list[str]],
                secret: bool) -> list[StoredConnection]:
        out = []
        new, trusted = object.__new__, OAuthConnection
        for r in rows:
            sec = (Secret(self.sealer.open(r.client_secret, "secret", r.id).decode())
                   if secret and r.client_secret is not None else None)
            ref = (CredentialRef(r.client_secret_locker, r.client_secret_credential,
                                 r.client_secret_attribute)
                   if r.client_secret_locker is not None else None)
            # stored rows were checked when saved: no re-validation (a page of 1,000)
            conn = new(trusted)
            conn.__dict__.update(provider_type=r.provider_type, name=r.name,
                                 client_id=r.client_id, token_url=r.token_url,
                                 authorization_url=r.authorization_url,
                                 grant_type=r.grant_type, client_secret=sec,
                                 scopes=r.scopes.split(), cloud=r.cloud,
                                 client_secret_ref=ref)
            out.append(StoredConnection(r.id, conn, tuple(names.get(r.id, ())),
                                        bool(r.has_secret) or ref is not None,
                                        r.updated_at if secret else None, r.updated_by,
                                        r.client_secret_error or ""))
        return out

    def with_client_secret(self, stored: StoredConnection) -> StoredConnection:
        """The connection with its client secret in hand, for a token request: opened from
        the row, or read from the Credential Vault now (a rotated secret is used at once).
        A failed vault read is recorded on the connection (its status and pages say why)
        and raised as :class:`~m365bot.controlroom.secret_refs.ClientSecretUnavailable`;
        the next successful one clears it. Call it outside a write transaction."""
        conn = stored.conn
        if conn.client_secret_ref is None:
            if stored.has_secret and conn.client_secret is None:
                return self.get_by_id(stored.id)  # the sealed secret was not opened
            return stored
        try:
            if self.vault_secrets is None:
                raise not_here(conn)
            secret = self.vault_secrets(conn)
        except ClientSecretUnavailable as exc:
            self._secret_error(stored.id, exc.message[:500])
            raise
        if stored.secret_error:
            self._secret_error(stored.id, None)
        return replace(stored, conn=replace(conn, client_secret=secret), secret_error="")

    def _secret_error(self, connection_id: int, why: str | None) -> None:
        with self.db.write() as c:
            c.execute(update(oauth_connections).where(_C.id == connection_id)
                      .values(client_secret_error=why))

    @staticmethod
    def _role_names(c: Connection, ids: list[int]) -> dict[int, list[str]]:
        if not ids:
            return {}
        out: dict[int, list[str]] = {}
        q = (select(connection_roles.c.connection_id, roles.c.name)
             .join(roles, roles.c.id == connection_roles.c.role_id)
             .order_by(roles.c.name))
        if len(ids) < 500:
            q = q.where(connection_roles.c.connection_id.in_(ids))
        for cid, name in c.execute(q):
            out.setdefault(cid, []).append(name)
        return out

    def delete(self, connection_id: int) -> None:
        """Delete a connection, its invited roles and every token of it."""
        with self.db.write() as c:
            c.execute(delete(oauth_tokens).where(_T.connection_id == connection_id))
            c.execute(delete(connection_roles)
                      .where(connection_roles.c.connection_id == connection_id))
            if c.execute(delete(oauth_connections)
                         .where(_C.id == connection_id)).rowcount == 0:
                raise _unknown_id(connection_id)

    def set_roles(self, connection_id: int, names: Iterable[str]) -> None:
        """Invite exactly these roles (by name); ConfigError naming an unknown role."""
        with self.db.write() as c:
            self._set_roles(c, connection_id, names)

    @staticmethod
    def _set_roles(c: Connection, connection_id: int, names: Iterable[str]) -> None:
        wanted = sorted({n.strip() for n in names if n.strip()})
        found = dict(c.execute(select(roles.c.name, roles.c.id)
                               .where(roles.c.name.in_(wanted))).all())
        missing = [n for n in wanted if n not in found]
        if missing:
            raise ConfigError(f"there is no role named {missing[0]!r}", field="roles",
                              advice="create the role under Administration > Roles first, or "
                              "pick one of the listed roles")
        c.execute(delete(connection_roles)
                  .where(connection_roles.c.connection_id == connection_id))
        if wanted:
            c.execute(insert(connection_roles), [{"connection_id": connection_id,
                                                  "role_id": found[n]} for n in wanted])

    def role_ids(self, names: Iterable[str]) -> list[int]:
        """Role ids by name (unknown names are left out)."""
        wanted = [n for n in names if n]
        if not wanted:
            return []
        with self.db.read() as c:
            return list(c.execute(select(roles.c.id).where(roles.c.name.in_(wanted))).scalars())

    def runner_view(self, provider_type: str, name: str, *, roles_: Iterable[str],
                    run_as: str, owner: str) -> tuple[StoredConnection, bool, Any]:
        """What the broker needs for a runner, in one read: the connection (no secret
        opened), whether it is shared with the key's roles or the run-as user's, and the
        token slot's row (None before the first login)."""
        key = f"{provider_type.lower()}|{name.lower()}"
        role_list = [r for r in roles_ if r]
        # Statements built once (_RUNNER_*): a cached-token call is mostly these reads.
        with self.db.read() as c:
            found = self._stored(c.execute(_RUNNER_CONNECTION, {"key": key}), {}, False)
            if not found:
                raise self._missing(provider_type, name)
            stored = found[0]
            shared = c.execute(_RUNNER_SHARED, {"cid": stored.id, "run_as": run_as.lower(),
                                                "roles": role_list}).first() is not None
            row = c.execute(_SLOT, {"cid": stored.id, "owner": owner.lower()}).first()
        return stored, shared, row

    # -- token slots -----------------------------------------------------------------------

    def slot_row(self, c: Connection, connection_id: int, owner: str, *,
                 lock: bool = False) -> Any:
        """The token slot's row (locked ``FOR UPDATE`` on PostgreSQL when ``lock``)."""
        return c.execute(_SLOT_FOR_UPDATE if lock else _SLOT,
                         {"cid": connection_id, "owner": owner.lower()}).first()

    def unseal(self, row: Any) -> dict[str, Any]:
        """A slot row's tokens and readable columns as one state dict."""
        state: dict[str, Any] = json.loads(self.sealer.open(row.sealed, "token",
                                                            row.connection_id, row.owner))
        state["expires_on"] = row.expires_on
        if row.refused:
            state[REFUSED] = row.refused
        return state

    def write_slot(self, c: Connection, connection_id: int, owner: str,
                   state: dict[str, Any], *, refused: str | None = None,
                   now: float | None = None) -> None:
        """Insert or replace a slot (inside the caller's write transaction)."""
        owner = owner.lower()
        t = time.time() if now is None else now
        tokens = {k: state.get(k) for k in ("access_token", "refresh_token") if state.get(k)}
        values = {"sealed": self.sealer.seal(json.dumps(tokens).encode(), "token",
                                             connection_id, owner),
                  "expires_on": float(state.get("expires_on") or 0),
                  "renewable": bool(tokens.get("refresh_token")),
                  "refused": refused, "refused_at": t if refused else None}
        if refused is None:
            values["refreshed_at"] = t
        done = c.execute(update(oauth_tokens).where(_T.connection_id == connection_id,
                                                    _T.owner == owner).values(**values))
        if done.rowcount == 0:
            c.execute(insert(oauth_tokens).values(
                **{"refreshed_at": t, **values, "connection_id": connection_id, "owner": owner}))

    def save_tokens(self, connection_id: int, owner: str, result: dict[str, Any]) -> None:
        """Store a token endpoint's answer (after a login) in a slot, clearing a refusal."""
        state = {"access_token": result.get("access_token"),
                 "expires_on": time.time() + float(result.get("expires_in") or 0),
                 "refresh_token": result.get("refresh_token")}
        with self.db.write() as c:
            self.write_slot(c, connection_id, owner, state)

    def set_slot(self, connection_id: int, owner: str, **changes: Any) -> None:
        """Change a slot's readable columns (an administrator's repair; tests move expiry)."""
        with self.db.write() as c:
            c.execute(update(oauth_tokens).where(_T.connection_id == connection_id,
                                                 _T.owner == owner.lower()).values(**changes))

    def status(self, stored: StoredConnection, owner: str, *, now: float | None = None) -> str:
        """One slot's status."""
        return self.statuses([stored], owner, now=now)[stored.id]

    def statuses(self, stored: list[StoredConnection], owner: str, *,
                 now: float | None = None) -> dict[int, str]:
        """Each connection's status for one slot (``""``: the Shared token), in one query."""
        t = time.time() if now is None else now
        ids = [s.id for s in stored]
        with self.db.read() as c:
            q = select(_T.connection_id, _T.expires_on, _T.renewable, _T.refused).where(
                _T.owner == owner.lower())
            if len(ids) < 500:
                q = q.where(_T.connection_id.in_(ids))
            rows = {r.connection_id: r for r in c.execute(q)}
        out = {}
        for s in stored:
            r = rows.get(s.id)
            # a client secret the vault could not give: nothing renews the token once expired
            usable = not s.secret_error
            out[s.id] = status_of(None if r is None else r.expires_on,
                                  bool(r and r.renewable) and usable, r.refused if r else None,
                                  s.conn.grant_type, s.has_secret and usable, t)
        return out


def _unknown_id(connection_id: int) -> ConfigError:
    return ConfigError(f"there is no OAuth connection with id {connection_id}",
                       field="connection", advice="pick a connection from the list")


__all__ = ["OAuthRepo", "StoredConnection", "status_of"]
