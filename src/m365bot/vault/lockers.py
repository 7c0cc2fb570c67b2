"""Lockers, members, credentials and attributes, with Automation Anywhere's locker roles.

Roles (strongest first):

- **owner**: everything, including adding owners, managers and participants;
- **manager**: like an owner, but may add only consumers;
- **participant**: sees the locker, adds credentials of their own, sees only their own;
- **consumer**: uses (reads) credentials and fills in their own user-provided values.

Members are users (``alice``) or roles (``role:bots``). Every read of a value writes an
audit record first; if the record cannot be written, the read fails.

Example::

    vault.create_locker("finance")
    vault.add_member("finance", "role:bots", "consumer")
    vault.set_credential("finance", "o365", {"client_secret": AttributeSpec("...")})
    names = [c.name for c in vault.list_credentials("finance")]
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.engine import Connection

from m365bot.errors import (
    ConfigError,
    M365BotError,
    VaultAccessDenied,
    VaultError,
    VaultIntegrityError,
    VaultNotFoundError,
)
from m365bot.values import Secret
from m365bot.vault import crypto
from m365bot.vault.models import attributes, blobs, credentials, lockers, members
from m365bot.vault.roles import ROLES, can_see, strongest_role
from m365bot.vault.types import (
    AttributeInfo,
    AttributeSpec,
    CredentialInfo,
    LockerInfo,
    check_name,
)

log = logging.getLogger(__name__)
CREDENTIAL_KIND = "credential"


def _principal(member: str) -> str:
    """A locker member: a user name, or ``role:NAME`` with a non-empty role name."""
    principal = check_name(member, "member")
    if principal.startswith("role:") and not principal[len("role:"):].strip():
        raise ConfigError(
            f"the member {member!r} names no role", field="member",
            advice="write a role member as role:NAME, for example role:bots")
    return principal


def _value_bytes(value: object, field: str = "value") -> bytes:
    """A value as UTF-8 bytes; empty values, non-strings and text that is not valid
    Unicode (lone surrogates, as undecodable stdin bytes become) are refused."""
    text = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(text, str):
        raise ConfigError(f"the {field} must be a str or Secret, not {type(text).__name__}",
                          field=field, advice="pass the value as text")
    if not text:
        raise ConfigError(f"the {field} is empty", field=field,
                          advice="give a non-empty value (define an attribute without a "
                          "value with AttributeSpec() / --no-value)")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"the {field} is not valid UTF-8 text", field=field,
                          advice="give the value as UTF-8 text (on stdin: UTF-8 bytes)"
                          ) from None


def _value_key(locker_id: int, cred_id: int, attr_id: int, user: str) -> str:
    # Ids, not names: the AEAD binds the value to this exact locker/credential/attribute/user.
    return f"{locker_id}/{cred_id}/{attr_id}/{user}"


class LockerOps:
    """Locker and credential operations, written once for every database; the base of
    :class:`m365bot.vault.Vault`, which provides the transactions, records and audit."""

    actor: str
    roles: tuple[str, ...]
    _write_lock: threading.RLock

    def _tx(self, doing: str, *, write: bool = True) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _require_ring(self) -> crypto.Keyring:
        raise NotImplementedError

    def _audit(self, conn: Connection, action: str, *, outcome: str, **where: str) -> None:
        raise NotImplementedError

    def _audit_best_effort(self, action: str, outcome: str, **where: str) -> None:
        raise NotImplementedError

    def _write_blob(self, conn: Connection, kind: str, key: str, data: bytes, *,
                    if_version: int | None = None) -> int:
        raise NotImplementedError

    def _read_blob(self, conn: Connection, kind: str, key: str) -> bytes | None:
        raise NotImplementedError

    def _delete_blobs(self, conn: Connection, kind: str, prefix: str) -> int:
        raise NotImplementedError

    # -- lookups ----------------------------------------------------------------------

    def _principals(self) -> set[str]:
        return {self.actor} | {f"role:{r}" for r in self.roles}

    def _locker(self, conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(select(lockers).where(
            lockers.c.name == check_name(name, "locker"))).first()
        if row is None:
            raise VaultNotFoundError(f"no locker named {name!r}", advice="check the locker name "
                                "with 'm365bot vault list'")
        return row

    def _role(self, conn: Connection, locker: Row[Any]) -> str | None:
        rows = conn.execute(select(members.c.principal, members.c.role)
                            .where(members.c.locker_id == locker.id))
        return strongest_role(m.role for m in rows if m.principal in self._principals())

    def _require_role(
        self, conn: Connection, locker: Row[Any], allowed: tuple[str, ...], doing: str
    ) -> str:
        role = self._role(conn, locker)
        if role not in allowed:
            raise VaultAccessDenied(
                f"{self.actor!r} may not {doing} in locker {locker.name!r} "
                f"(role: {role or 'not a member'})",
                advice="ask a locker owner to add you with a role that allows it",
            )
        assert role is not None
        return role

    def _credential(self, conn: Connection, locker: Row[Any], name: str) -> Row[Any]:
        row = conn.execute(select(credentials).where(
            credentials.c.locker_id == locker.id,
            credentials.c.name == check_name(name, "credential"))).first()
        if row is None:
            raise VaultNotFoundError(f"no credential {name!r} in locker {locker.name!r}",
                                advice="list them with 'm365bot vault list LOCKER'")
        return row

    def _attribute(self, conn: Connection, cred: Row[Any], name: str) -> Row[Any]:
        row = conn.execute(select(attributes).where(
            attributes.c.credential_id == cred.id,
            attributes.c.name == check_name(name, "attribute"))).first()
        if row is None:
            raise VaultNotFoundError(f"no attribute {name!r} in credential {cred.name!r}",
                                advice="list them with 'm365bot vault attributes LOCKER "
                                "CREDENTIAL'")
        return row

    def _can_see(self, role: str, cred: Row[Any]) -> bool:
        return can_see(role, cred.owner, self.actor)

    # -- lockers and members ----------------------------------------------------------

    def create_locker(self, name: str) -> None:
        """Create a locker; the caller becomes its owner."""
        self._require_ring()
        lname = check_name(name, "locker")
        with self._write_lock, self._tx("creating a locker") as conn:
            if conn.execute(select(lockers.c.id)
                            .where(lockers.c.name == lname)).first() is not None:
                raise VaultError(f"a locker named {lname!r} already exists",
                                 advice="pick another name")
            pk = conn.execute(lockers.insert().values(
                name=lname, created_by=self.actor,
                created_at=datetime.now(UTC))).inserted_primary_key
            assert pk is not None
            conn.execute(members.insert().values(locker_id=pk[0], principal=self.actor,
                                                 role="owner"))
            self._audit(conn, "locker.create", locker=lname, outcome="ok")
        log.info("vault locker %s created", lname)

    def add_member(self, locker: str, member: str, role: str) -> None:
        """Add (or change) a member: a user name or ``role:NAME``. Owners add any role;
        managers add consumers only."""
        if role not in ROLES:
            raise ConfigError(f"unknown locker role {role!r}", field="role",
                              advice=f"use one of: {', '.join(ROLES)}")
        self._require_ring()
        principal = _principal(member)
        check_name(locker, "locker")  # a bad name fails before the write lock is taken
        with self._write_lock, self._tx("adding a locker member") as conn:
            lk = self._locker(conn, locker)
            mine = self._require_role(conn, lk, ("owner", "manager"), "add members")
            if mine == "manager" and role != "consumer":
                raise VaultAccessDenied(
                    f"a manager may add only consumers to locker {lk.name!r}",
                    advice="ask a locker owner to add owners, managers or participants",
                )
            row = self._member(conn, lk, principal)
            if row is not None and row.role == "owner" and role != "owner":
                self._keep_an_owner(conn, lk, principal)
            if row is None:
                conn.execute(members.insert().values(locker_id=lk.id, principal=principal,
                                                     role=role))
            elif row.role != role:
                conn.execute(members.update().where(members.c.id == row.id).values(role=role))
            self._audit(conn, "member.add", locker=lk.name, subject=f"{principal}={role}",
                        outcome="ok")
        log.info("vault locker %s: %s is now %s", lk.name, principal, role)

    @staticmethod
    def _member(conn: Connection, lk: Row[Any], principal: str) -> Row[Any] | None:
        return conn.execute(select(members).where(members.c.locker_id == lk.id,
                                                  members.c.principal == principal)).first()

    def _keep_an_owner(self, conn: Connection, lk: Row[Any], leaving: str) -> None:
        owners = list(conn.execute(select(members.c.principal).where(
            members.c.locker_id == lk.id, members.c.role == "owner")).scalars())
        if owners == [leaving]:
            raise VaultError(f"locker {lk.name!r} must keep at least one owner",
                             advice="add another owner first")

    def remove_member(self, locker: str, member: str) -> None:
        """Remove a member (owners only); a locker always keeps one owner."""
        self._require_ring()
        principal = _principal(member)
        check_name(locker, "locker")  # a bad name fails before the write lock is taken
        with self._write_lock, self._tx("removing a locker member") as conn:
            lk = self._locker(conn, locker)
            self._require_role(conn, lk, ("owner",), "remove members")
            row = self._member(conn, lk, principal)
            if row is None:
                raise VaultNotFoundError(f"{principal!r} is not a member of locker {lk.name!r}")
            if row.role == "owner":
                self._keep_an_owner(conn, lk, principal)
            conn.execute(members.delete().where(members.c.id == row.id))
            self._audit(conn, "member.remove", locker=lk.name, subject=principal, outcome="ok")

    def list_lockers(self) -> list[LockerInfo]:
        """The lockers the caller belongs to, with the caller's role and the members."""
        out = []
        with self._tx("listing lockers", write=False) as conn:
            for lk in conn.execute(select(lockers).order_by(lockers.c.name)).all():
                role = self._role(conn, lk)
                if role is None:
                    continue
                who = {m.principal: m.role for m in conn.execute(
                    select(members.c.principal, members.c.role)
                    .where(members.c.locker_id == lk.id).order_by(members.c.principal))}
                out.append(LockerInfo(lk.name, role, who))
        return out

    # -- credentials ------------------------------------------------------------------

    def set_credential(
        self,
        locker: str,
        name: str,
        attributes: Mapping[str, AttributeSpec],
        *,
        description: str = "",
    ) -> None:
        """Create or update a credential and its attributes (values are optional).

        Owners and managers write any credential; participants only their own.
        """
        if not attributes:
            raise ConfigError("a credential needs at least one attribute", field="attributes")
        self._require_ring()
        specs = {check_name(k, "attribute"): v for k, v in attributes.items()}
        if len(specs) > 50:
            raise ConfigError("a credential has at most 50 attributes", field="attributes")
        for aname, spec in specs.items():
            if not isinstance(spec, AttributeSpec):
                raise ConfigError(f"attribute {aname!r} must be an AttributeSpec, not "
                                  f"{type(spec).__name__}", field="attributes",
                                  advice="pass {'name': AttributeSpec(value)}")
            if spec.value is not None:
                _value_bytes(spec.value)
        check_name(locker, "locker")  # a bad name fails before the write lock is taken
        with self._write_lock, self._tx("writing a credential") as conn:
            lk = self._locker(conn, locker)
            role = self._require_role(conn, lk, ("owner", "manager", "participant"),
                                      "write credentials")
            cname = check_name(name, "credential")
            cred = conn.execute(select(credentials).where(
                credentials.c.locker_id == lk.id, credentials.c.name == cname)).first()
            if cred is None:
                conn.execute(credentials.insert().values(
                    locker_id=lk.id, name=cname, owner=self.actor, description=description,
                    created_at=datetime.now(UTC)))
                cred = self._credential(conn, lk, cname)
            elif not self._can_see(role, cred):
                raise VaultAccessDenied(
                    f"credential {cname!r} in locker {lk.name!r} belongs to another participant",
                    advice="participants may change only their own credentials")
            elif description:
                conn.execute(credentials.update().where(credentials.c.id == cred.id)
                             .values(description=description))
            for aname, spec in specs.items():
                self._put_attribute(conn, lk, cred, aname, spec)
        log.info("vault credential %s/%s written (%d attributes)", lk.name, cname, len(specs))

    def _put_attribute(self, conn: Connection, lk: Row[Any], cred: Row[Any], aname: str,
                       spec: AttributeSpec) -> None:
        attr_id = conn.execute(select(attributes.c.id).where(
            attributes.c.credential_id == cred.id, attributes.c.name == aname)).scalar()
        values = {"masked": spec.masked, "user_provided": spec.user_provided,
                  "description": spec.description}
        if attr_id is None:
            pk = conn.execute(attributes.insert().values(
                credential_id=cred.id, name=aname, **values)).inserted_primary_key
            assert pk is not None
            attr_id = pk[0]
        else:
            conn.execute(attributes.update().where(attributes.c.id == attr_id).values(**values))
        if spec.value is not None:
            user = self.actor if spec.user_provided else ""
            self._write_blob(conn, CREDENTIAL_KIND, _value_key(lk.id, cred.id, attr_id, user),
                             _value_bytes(spec.value))
            self._audit(conn, "value.write", locker=lk.name, credential=cred.name,
                        attribute=aname, subject=user, outcome="ok")

    def set_attribute(self, locker: str, credential: str, attribute: str,
                      value: str | Secret) -> None:
        """Set one attribute's value. For a user-provided attribute this sets the caller's own
        value, and consumers may do it; standard values need owner, manager or own-participant.
        """
        data = _value_bytes(value)
        self._require_ring()
        check_name(locker, "locker")  # a bad name fails before the write lock is taken
        with self._write_lock, self._tx("writing an attribute") as conn:
            lk = self._locker(conn, locker)
            role = self._require_role(conn, lk, ROLES, "use credentials")
            cred = self._credential(conn, lk, credential)
            attr = self._attribute(conn, cred, attribute)
            if not attr.user_provided and (role == "consumer" or not self._can_see(role, cred)):
                raise VaultAccessDenied(
                    f"{self.actor!r} may not change standard attribute {attr.name!r} "
                    f"of {lk.name}/{cred.name} (role: {role})",
                    advice="owners and managers set standard values; consumers fill in "
                    "user-provided ones")
            user = self.actor if attr.user_provided else ""
            self._write_blob(conn, CREDENTIAL_KIND, _value_key(lk.id, cred.id, attr.id, user),
                             data)
            self._audit(conn, "value.write", locker=lk.name, credential=cred.name,
                        attribute=attr.name, subject=user, outcome="ok")
        log.info("vault attribute %s/%s/%s written", lk.name, cred.name, attr.name)

    def get(self, locker: str, credential: str, attribute: str) -> Secret:
        """The attribute's value (the caller's own for a user-provided one), as a Secret.

        Audited before it returns; if the audit record cannot be written, the read fails.

        Example::

            secret = vault.get("bots", "o365", "client_secret")
        """
        return self._get(locker, credential, attribute, on_behalf_of="")

    def get_for(self, locker: str, credential: str, attribute: str, *,
                on_behalf_of: str) -> Secret:
        """A standard attribute's value read by the holder of the vault's key itself, for a
        stored reference (``on_behalf_of`` names it, e.g. a Control Room OAuth connection):
        no locker role is asked, because whoever saved the reference was checked then (see
        :mod:`m365bot.controlroom.secret_refs`). A user-provided attribute holds one value per
        user, so it has none to give here. Audited like :meth:`get`, with ``on_behalf_of`` as
        the record's subject.

        Example::

            vault.get_for("apps", "demo", "client_secret",
                          on_behalf_of="oauth connection Custom/ops")
        """
        if not isinstance(on_behalf_of, str) or not on_behalf_of.strip():
            raise ConfigError("a read for a stored reference must say whose it is",
                              field="on_behalf_of",
                              advice="pass on_behalf_of='oauth connection Custom/ops'")
        # printable only: a control character would forge lines in the audit log's text
        subject = "".join(ch if ch.isprintable() else "?" for ch in on_behalf_of[:500])
        return self._get(locker, credential, attribute, on_behalf_of=subject)

    def _get(self, locker: str, credential: str, attribute: str, *,
             on_behalf_of: str) -> Secret:
        self._require_ring()
        where = {"locker": check_name(locker, "locker"),
                 "credential": check_name(credential, "credential"),
                 "attribute": check_name(attribute, "attribute")}
        stage = "lookup"
        try:
            with self._write_lock, self._tx("reading a credential") as conn:
                lk = self._locker(conn, locker)
                if not on_behalf_of:
                    role = self._require_role(conn, lk, ROLES, "read credentials")
                cred = self._credential(conn, lk, credential)
                if not on_behalf_of and not self._can_see(role, cred):
                    raise VaultAccessDenied(
                        f"credential {cred.name!r} belongs to another participant",
                        advice="participants may read only their own credentials")
                attr = self._attribute(conn, cred, attribute)
                if on_behalf_of and attr.user_provided:
                    raise VaultNotFoundError(
                        f"attribute {attr.name!r} of {lk.name}/{cred.name} is user-provided: "
                        "it holds one value per user, none for a stored reference",
                        advice="use a standard attribute")
                user = self.actor if attr.user_provided else ""
                data = self._read_blob(conn, CREDENTIAL_KIND,
                                       _value_key(lk.id, cred.id, attr.id, user))
                if data is None:
                    mine = " for you" if user else ""
                    raise VaultNotFoundError(
                        f"attribute {attr.name!r} of {lk.name}/{cred.name} has no value{mine}",
                        advice="set it with 'm365bot vault set "
                        f"{lk.name} {cred.name} {attr.name}'")
                stage = "audit"
                self._audit(conn, "value.read", outcome="ok", subject=on_behalf_of or user,
                            **where)
        except (VaultAccessDenied, VaultIntegrityError) as exc:
            outcome = "denied" if isinstance(exc, VaultAccessDenied) else "integrity-error"
            self._audit_best_effort("value.read", outcome, **where)
            raise
        except M365BotError as exc:
            if stage != "audit":
                raise
            raise VaultError(
                "the read was refused because its audit record could not be written "
                f"({exc.message})",
                advice="fix the vault database (disk full, read-only, or a trigger on "
                "vault_audit) and retry") from None
        log.info("vault value %s/%s/%s read", where["locker"], where["credential"],
                 where["attribute"])
        return Secret(data.decode("utf-8"))

    def list_credentials(self, locker: str) -> list[CredentialInfo]:
        """Credential names and attribute metadata the caller may see; never values."""
        out = []
        check_name(locker, "locker")  # a bad name fails before a connection is taken
        with self._tx("listing credentials", write=False) as conn:
            lk = self._locker(conn, locker)
            role = self._require_role(conn, lk, ROLES, "list credentials")
            creds = conn.execute(select(credentials).where(credentials.c.locker_id == lk.id)
                                 .order_by(credentials.c.name)).all()
            for cred in creds:
                if self._can_see(role, cred):
                    out.append(CredentialInfo(lk.name, cred.name, cred.owner, cred.description,
                                              tuple(self._attr_infos(conn, lk, cred))))
        return out

    def _attr_infos(self, conn: Connection, lk: Row[Any],
                    cred: Row[Any]) -> Iterator[AttributeInfo]:
        for attr in conn.execute(select(attributes).where(attributes.c.credential_id == cred.id)
                                 .order_by(attributes.c.name)).all():
            user = self.actor if attr.user_provided else ""
            has = conn.execute(select(blobs.c.id).where(
                blobs.c.kind == CREDENTIAL_KIND,
                blobs.c.key == _value_key(lk.id, cred.id, attr.id, user))).first()
            yield AttributeInfo(attr.name, attr.masked, attr.user_provided, has is not None,
                                attr.description)

    def delete_credential(self, locker: str, credential: str) -> None:
        """Delete a credential and its values (owner, manager, or its participant owner)."""
        self._require_ring()
        check_name(locker, "locker")  # a bad name fails before the write lock is taken
        with self._write_lock, self._tx("deleting a credential") as conn:
            lk = self._locker(conn, locker)
            role = self._require_role(conn, lk, ("owner", "manager", "participant"),
                                      "delete credentials")
            cred = self._credential(conn, lk, credential)
            if not self._can_see(role, cred):
                raise VaultAccessDenied(f"credential {cred.name!r} belongs to another participant")
            self._delete_blobs(conn, CREDENTIAL_KIND, f"{lk.id}/{cred.id}/")
            conn.execute(attributes.delete().where(attributes.c.credential_id == cred.id))
            conn.execute(credentials.delete().where(credentials.c.id == cred.id))
            self._audit(conn, "credential.delete", locker=lk.name, credential=cred.name,
                        outcome="ok")


__all__ = ["CREDENTIAL_KIND", "LockerOps"]
