"""Control Room users, roles and sign-in: argon2id passwords, lockout with backoff shared
by every server process (kept in the database), and role membership.

Example::

    from m365bot.controlroom import accounts
    accounts.create_user(db, "admin", Secret("a long passphrase"), is_admin=True, by="cli")
    user = accounts.authenticate(db, "admin", "a long passphrase", ip="127.0.0.1")
    accounts.create_role(db, "finance-bots", by="admin")
    accounts.assign_role(db, "alice", "finance-bots", by="admin")
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from m365bot.controlroom import audit
from m365bot.controlroom.db import Database, roles, user_roles, users, web_sessions
from m365bot.controlroom.errors import BadInput, Conflict, NotFound, SignInRefused
from m365bot.values import Secret

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024


@dataclass(frozen=True)
class Lockout:
    """After ``threshold`` failed sign-ins in a row, a user is locked for ``base`` seconds,
    doubling with each further failure, at most ``maximum`` seconds."""

    threshold: int = 5
    base: int = 30
    maximum: int = 900

    def seconds(self, failures: int) -> int:
        """How long a user with ``failures`` failures in a row is locked (0: not)."""
        if failures < self.threshold:
            return 0
        return int(min(self.maximum, self.base * 2 ** min(failures - self.threshold, 20)))


@dataclass(frozen=True)
class User:
    """A Control Room user as the pages and the API see it (never the password hash)."""

    id: int
    name: str
    is_admin: bool
    disabled: bool
    roles: tuple[str, ...] = ()
    locked_until: dt.datetime | None = None


def now() -> dt.datetime:
    """The current time, UTC."""
    return dt.datetime.now(dt.UTC)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as UTC-aware (SQLite returns naive datetimes)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


@functools.cache
def hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's recommended parameters (RFC 9106 low-memory profile)."""
    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the user does not exist, so that case takes as long.
    return hasher().hash("not a password of anyone")


def check_name(name: object, what: str = "name") -> str:
    """A user, role or runner name: 1-100 letters, digits and ``. _ @ + -``, lower-cased
    (names are case-insensitive, as the Credential Vault's locker members are)."""
    if not isinstance(name, str) or not name.strip():
        raise BadInput(f"the {what} is missing", field=what, advice=f"fill in the {what}")
    name = name.strip()
    if not NAME_RE.match(name):
        raise BadInput(f"the {what} {name[:40]!r} is not valid", field=what,
                       advice="use 1 to 100 letters, digits and . _ @ + - "
                       "(starting with a letter or digit)")
    return name.lower()


def check_password(password: object) -> str:
    """A new password: 12 to 1024 characters."""
    text = password.reveal() if isinstance(password, Secret) else password
    if not isinstance(text, str) or len(text) < MIN_PASSWORD:
        raise BadInput(f"the password is shorter than {MIN_PASSWORD} characters",
                       field="password", advice=f"choose at least {MIN_PASSWORD} characters; "
                       "a passphrase of several words is easiest")
    if len(text) > MAX_PASSWORD:
        raise BadInput(f"the password is longer than {MAX_PASSWORD} characters",
                       field="password", advice="choose a shorter password")
    return text


def _user_row(conn: Connection, name: str) -> dict[str, object] | None:
    row = conn.execute(select(users).where(users.c.name == name.lower())).first()
    return dict(row._mapping) if row else None


def _roles_of(conn: Connection, user_id: int) -> tuple[str, ...]:
    stmt = (select(roles.c.name).join(user_roles, user_roles.c.role_id == roles.c.id)
            .where(user_roles.c.user_id == user_id).order_by(roles.c.name))
    return tuple(str(n) for n in conn.execute(stmt).scalars())


def _user(conn: Connection, row: dict[str, object]) -> User:
    uid = int(row["id"])  # type: ignore[call-overload]
    return User(id=uid, name=str(row["name"]), is_admin=bool(row["is_admin"]),
                disabled=bool(row["disabled"]), roles=_roles_of(conn, uid),
                locked_until=aware(row["locked_until"]))  # type: ignore[arg-type]


def create_user(db: Database, name: str, password: str | Secret, *, is_admin: bool = False,
                by: str, ip: str = "") -> User:
    """Create a user with an argon2id password hash. Conflict when the name is taken."""
    name = check_name(name, "user name")
    digest = hasher().hash(check_password(password))
    with db.write() as conn:
        if _user_row(conn, name) is not None:
            raise Conflict(f"a user named {name!r} already exists", field="user name",
                           advice="choose another name, or edit the existing user")
        conn.execute(users.insert().values(
            name=name, password_hash=digest, is_admin=is_admin, disabled=False,
            failed_count=0, locked_until=None, created_at=now(), created_by=by))
        audit.record(conn, action="user.create", actor=by, target=name, ip=ip,
                     detail="admin" if is_admin else "")
        row = _user_row(conn, name)
        assert row is not None
        return _user(conn, row)


def get_user(db: Database, name: str) -> User:
    """The user named; NotFound otherwise."""
    with db.read() as conn:
        row = _user_row(conn, name)
        if row is None:
            raise NotFound(f"there is no user named {name[:100]!r}", field="user",
                           advice="pick a user from Administration > Users")
        return _user(conn, row)


def user_by_id(conn: Connection, user_id: int) -> User | None:
    """The user with this id (None if deleted), inside a transaction."""
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return _user(conn, dict(row._mapping)) if row else None


def list_users(db: Database) -> list[User]:
    """Every user, by name."""
    with db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(users).order_by(users.c.name))]
        return [_user(conn, r) for r in rows]


def update_user(db: Database, name: str, *, by: str, ip: str = "",
                is_admin: bool | None = None, disabled: bool | None = None,
                password: str | Secret | None = None, unlock: bool = False) -> User:
    """Change a user's admin flag, disabled flag, password or lockout. An admin cannot
    take away the last admin (Conflict)."""
    values: dict[str, object] = {}
    changed: list[str] = []
    if password is not None:
        values["password_hash"] = hasher().hash(check_password(password))
        changed.append("password")
    if is_admin is not None:
        values["is_admin"] = is_admin
        changed.append(f"admin={'yes' if is_admin else 'no'}")
    if disabled is not None:
        values["disabled"] = disabled
        changed.append(f"disabled={'yes' if disabled else 'no'}")
    if unlock or password is not None:
        values.update(failed_count=0, locked_until=None)
        changed.append("unlocked")
    with db.write() as conn:
        row = _user_row(conn, name)
        if row is None:
            raise NotFound(f"there is no user named {name[:100]!r}", field="user",
                           advice="pick a user from Administration > Users")
        if row["is_admin"] and (is_admin is False or disabled is True):
            admins = conn.execute(select(users.c.id).where(
                users.c.is_admin.is_(True), users.c.disabled.is_(False))).all()
            if len(admins) <= 1:
                raise Conflict("this is the last active administrator", field="admin",
                               advice="make another user an administrator first")
        if values:
            conn.execute(update(users).where(users.c.id == row["id"]).values(**values))
            audit.record(conn, action="user.update", actor=by, target=name, ip=ip,
                         detail=", ".join(changed))
        if disabled or password is not None:
            # A disabled user, or one whose password changed, is signed out everywhere.
            conn.execute(delete(web_sessions).where(web_sessions.c.user_id == row["id"]))
        new = _user_row(conn, name)
        assert new is not None
        return _user(conn, new)


def change_own_password(db: Database, name: str, current: str, new: str | Secret, *,
                        ip: str = "") -> None:
    """A user changes their own password: the current one must match (BadInput naming
    ``current_password`` otherwise; a failure counts towards the lockout like a failed
    sign-in). Every session of the user ends; sign in again afterwards."""
    check_password(new)
    try:
        authenticate(db, name, current, ip=ip)
    except SignInRefused as exc:
        if exc.retry_after:
            raise
        raise BadInput("the current password is wrong", field="current_password",
                       advice="type your current password again") from None
    update_user(db, name, by=name, ip=ip, password=new)


def authenticate(db: Database, name: str, password: str, *, ip: str = "",
                 lockout: Lockout = Lockout()) -> User:
    """The user when the name and password match; SignInRefused otherwise (the same
    message whether the name or the password is wrong). Failures are counted per user in
    the database, so lockout holds across server processes; while locked, even the right
    password is refused, with ``retry_after`` seconds."""
    name = name.strip() if isinstance(name, str) else ""
    wrong = SignInRefused("wrong user name or password",
                          advice="check both and try again; after 5 failures in a row the "
                          "account is locked for a while")
    with db.read() as conn:
        row = _user_row(conn, name) if name else None
    if row is None:
        with contextlib.suppress(VerificationError):
            hasher().verify(_dummy_hash(), password or "-")
        audit.record(db, action="signin.failed", actor=name[:200] or "-", ip=ip,
                     outcome="unknown user")
        raise wrong
    locked_until = aware(row["locked_until"])  # type: ignore[arg-type]
    t = now()
    if locked_until is not None and locked_until > t:
        wait = int((locked_until - t).total_seconds()) + 1
        audit.record(db, action="signin.locked", actor=name, ip=ip, outcome="locked")
        raise SignInRefused(f"too many failed sign-ins: this account is locked for {wait} "
                            "more seconds", advice="wait and try again, or ask an "
                            "administrator to unlock it", retry_after=wait)
    ok: bool
    try:
        ok = hasher().verify(str(row["password_hash"]), password or "-")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    with db.write() as conn:
        # Re-read under the lock (SQLite: the write lock; PostgreSQL: the row's lock), so
        # concurrent failures on other processes all count.
        locked = conn.execute(select(users).where(users.c.name == name.lower())
                              .with_for_update()).first()
        cur = dict(locked._mapping) if locked else None
        if cur is None:
            raise wrong
        if not ok:
            failures = int(cur["failed_count"]) + 1  # type: ignore[call-overload]
            wait = lockout.seconds(failures)
            conn.execute(update(users).where(users.c.id == cur["id"]).values(
                failed_count=failures,
                locked_until=(t + dt.timedelta(seconds=wait)) if wait else None))
            audit.record(conn, action="signin.failed", actor=name, ip=ip,
                         outcome="bad password", detail=f"failures={failures}")
        elif cur["disabled"]:
            audit.record(conn, action="signin.failed", actor=name, ip=ip, outcome="disabled")
        else:
            conn.execute(update(users).where(users.c.id == cur["id"]).values(
                failed_count=0, locked_until=None))
            if hasher().check_needs_rehash(str(cur["password_hash"])):
                conn.execute(update(users).where(users.c.id == cur["id"]).values(
                    password_hash=hasher().hash(password)))
            return _user(conn, cur)
    if not ok:
        raise wrong
    raise SignInRefused("this user is disabled", advice="ask an administrator to enable it")


def create_role(db: Database, name: str, *, description: str = "", by: str,
                ip: str = "") -> None:
    """Create a role (what lockers and connections are shared with)."""
    name = check_name(name, "role name")
    if not isinstance(description, str) or len(description) > 500:
        raise BadInput("the description is longer than 500 characters", field="description",
                       advice="shorten it")
    with db.write() as conn:
        if conn.execute(select(roles.c.id).where(roles.c.name == name)).first():
            raise Conflict(f"a role named {name!r} already exists", field="role name",
                           advice="choose another name")
        conn.execute(roles.insert().values(name=name, description=description.strip(),
                                           created_at=now()))
        audit.record(conn, action="role.create", actor=by, target=name, ip=ip)


def list_roles(db: Database) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every role: (name, description, member user names)."""
    with db.read() as conn:
        out = []
        for r in conn.execute(select(roles).order_by(roles.c.name)).all():
            members = conn.execute(
                select(users.c.name).join(user_roles, user_roles.c.user_id == users.c.id)
                .where(user_roles.c.role_id == r.id).order_by(users.c.name)).scalars()
            out.append((str(r.name), str(r.description), tuple(str(m) for m in members)))
        return out


def role_names(db: Database) -> set[str]:
    """The names of every role."""
    with db.read() as conn:
        return {str(n) for n in conn.execute(select(roles.c.name)).scalars()}


def _ids(conn: Connection, user: str, role: str) -> tuple[int, int]:
    uid = conn.execute(select(users.c.id).where(users.c.name == user.lower())).scalar()
    if uid is None:
        raise NotFound(f"there is no user named {user[:100]!r}", field="user",
                       advice="pick a user from Administration > Users")
    rid = conn.execute(select(roles.c.id).where(roles.c.name == role.lower())).scalar()
    if rid is None:
        raise NotFound(f"there is no role named {role[:100]!r}", field="role",
                       advice="create the role first under Administration > Roles")
    return int(uid), int(rid)


def assign_role(db: Database, user: str, role: str, *, by: str, ip: str = "") -> None:
    """Give a user a role (Conflict if the user has it already)."""
    with db.write() as conn:
        uid, rid = _ids(conn, user, role)
        if conn.execute(select(user_roles).where(user_roles.c.user_id == uid,
                                                 user_roles.c.role_id == rid)).first():
            raise Conflict(f"{user!r} has the role {role!r} already", field="role",
                           advice="pick another role")
        conn.execute(user_roles.insert().values(user_id=uid, role_id=rid))
        audit.record(conn, action="role.assign", actor=by, target=f"{user} <- {role}", ip=ip)


def unassign_role(db: Database, user: str, role: str, *, by: str, ip: str = "") -> None:
    """Take a role away from a user (NotFound if the user does not have it)."""
    with db.write() as conn:
        uid, rid = _ids(conn, user, role)
        gone = conn.execute(delete(user_roles).where(user_roles.c.user_id == uid,
                                                     user_roles.c.role_id == rid)).rowcount
        if not gone:
            raise NotFound(f"{user!r} does not have the role {role!r}", field="role",
                           advice="pick one of the user's roles")
        audit.record(conn, action="role.unassign", actor=by, target=f"{user} -x {role}",
                     ip=ip)


__all__ = [
    "Lockout",
    "User",
    "assign_role",
    "authenticate",
    "change_own_password",
    "check_name",
    "check_password",
    "create_role",
    "create_user",
    "get_user",
    "list_roles",
    "list_users",
    "role_names",
    "unassign_role",
    "update_user",
    "user_by_id",
]
