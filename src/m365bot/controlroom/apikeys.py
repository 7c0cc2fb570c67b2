"""API keys for bot runners: shown once, stored as a SHA-256 hash, revocable.

A key reads ``m365cr_<prefix>_<secret>``. The prefix (12 characters) is stored in clear
to find the row and to show the key in lists; the secret (43 characters, 256 random
bits) only as its SHA-256. A fast hash is right here: the secret is random, not a
password, and the token broker checks a key on every request.

Each key names the runner, the user its bots run as (``run_as``: whose User-specific
tokens and user-provided credential values it gets), the bots it may run (``*``: any)
and the roles it acts with (locker consumers and connection invitations are roles).

Example::

    from m365bot.controlroom import apikeys
    info, key = apikeys.create(db, "runner-7", run_as="alice", bots=["payroll"],
                               roles=["finance-bots"], by="admin")
    print(key.reveal())                   # shown once
    apikeys.check(db, key.reveal())       # the ApiKey, or None when unknown or revoked
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Row

from m365bot.controlroom import audit
from m365bot.controlroom.accounts import aware, check_name, now
from m365bot.controlroom.db import Database, api_keys, roles, users
from m365bot.controlroom.errors import BadInput, Conflict, NotFound
from m365bot.values import Secret

KEY_RE = re.compile(r"^m365cr_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$")
_TOUCH_EVERY = dt.timedelta(seconds=60)
# Built once: every broker call checks its key.
_BY_PREFIX = select(api_keys).where(api_keys.c.prefix == bindparam("prefix"))
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class ApiKey:
    """One runner's API key as stored (never the secret)."""

    id: int
    name: str
    prefix: str
    run_as: str
    bots: tuple[str, ...]
    roles: tuple[str, ...]
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @property
    def actor(self) -> str:
        """How the audit log names this key: ``key:NAME``."""
        return f"key:{self.name}"

    @property
    def revoked(self) -> bool:
        """True once revoked."""
        return self.revoked_at is not None

    def may_run(self, bot: str) -> bool:
        """Whether this key's runner may run ``bot``."""
        return "*" in self.bots or bot in self.bots


def _lines(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.splitlines() if x)


def _of(row: Row[tuple[object, ...]]) -> ApiKey:
    m = row._mapping
    return ApiKey(id=int(m["id"]), name=str(m["name"]), prefix=str(m["prefix"]),
                  run_as=str(m["run_as"]), bots=_lines(str(m["bots"])),
                  roles=_lines(str(m["roles"])), created_at=aware(m["created_at"]),  # type: ignore[arg-type]
                  created_by=str(m["created_by"]), revoked_at=aware(m["revoked_at"]),
                  last_used_at=aware(m["last_used_at"]))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_bots(value: object) -> tuple[str, ...]:
    """Bot names from a list or a comma/space/line separated text; ``*`` means any."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise BadInput("the key names no bot", field="bots",
                       advice="list the bots this runner may run, or * for any bot")
    out = []
    for b in items:
        if b != "*":
            check_name(b, "bot name")
        out.append(str(b))
    return tuple(dict.fromkeys(out))


def create(db: Database, name: str, *, run_as: str, bots: object, roles_: object = (),
           by: str, ip: str = "") -> tuple[ApiKey, Secret]:
    """Create a key; returns it and its text (a Secret: show it once, it is not kept)."""
    name = check_name(name, "runner name")
    run_as = check_name(run_as, "run as")
    bot_names = parse_bots(bots)
    role_list = roles_.replace(",", " ").split() if isinstance(roles_, str) else roles_
    if not isinstance(role_list, list | tuple):
        raise BadInput("roles must be a list of role names", field="roles",
                       advice="give role names separated by commas")
    role_names = tuple(dict.fromkeys(check_name(r, "role name") for r in role_list))
    prefix = "".join(secrets.choice(_ALNUM) for _ in range(12))
    secret = secrets.token_urlsafe(32)
    with db.write() as conn:
        if conn.execute(select(api_keys.c.id).where(api_keys.c.name == name)).first():
            raise Conflict(f"an API key named {name!r} already exists", field="runner name",
                           advice="choose another name, or revoke the old key first")
        if conn.execute(select(users.c.id).where(users.c.name == run_as)).first() is None:
            raise NotFound(f"there is no user named {run_as!r} to run as", field="run as",
                           advice="create the user first, or pick an existing one")
        known = {str(n) for n in conn.execute(select(roles.c.name)).scalars()}
        missing = [r for r in role_names if r not in known]
        if missing:
            raise NotFound(f"there is no role named {missing[0]!r}", field="roles",
                           advice="create the role first under Administration > Roles")
        conn.execute(api_keys.insert().values(
            name=name, prefix=prefix, key_hash=_digest(secret), run_as=run_as,
            bots="\n".join(bot_names), roles="\n".join(role_names), created_at=now(),
            created_by=by, revoked_at=None, last_used_at=None))
        audit.record(conn, action="apikey.create", actor=by, target=name, ip=ip,
                     detail=f"prefix={prefix} run_as={run_as}")
        row = conn.execute(select(api_keys).where(api_keys.c.name == name)).one()
    return _of(row), Secret(f"m365cr_{prefix}_{secret}")


def list_keys(db: Database) -> list[ApiKey]:
    """Every key, revoked ones included, by name."""
    with db.read() as conn:
        return [_of(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.name))]


def revoke(db: Database, name: str, *, by: str, ip: str = "") -> ApiKey:
    """Revoke a key: from now on every request with it gets 401."""
    with db.write() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.name == name.lower())).first()
        if row is None:
            raise NotFound(f"there is no API key named {name[:100]!r}", field="key",
                           advice="pick a key from Administration > API keys")
        if row.revoked_at is not None:
            raise Conflict(f"the API key {name!r} is revoked already", field="key",
                           advice="nothing to do")
        conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=now()))
        audit.record(conn, action="apikey.revoke", actor=by, target=name, ip=ip)
        return _of(conn.execute(select(api_keys).where(api_keys.c.id == row.id)).one())


def check(db: Database, presented: str) -> ApiKey | None:
    """The key when ``presented`` is a valid, unrevoked key; None otherwise."""
    m = KEY_RE.match(presented or "")
    if not m:
        return None
    with db.read() as conn:
        row = conn.execute(_BY_PREFIX, {"prefix": m.group(1)}).first()
    if row is None or not hmac.compare_digest(str(row.key_hash), _digest(m.group(2))):
        return None
    key = _of(row)
    if key.revoked:
        return None
    t = now()
    if key.last_used_at is None or t - key.last_used_at > _TOUCH_EVERY:
        # At most one write a minute per key: the token broker checks keys on every call.
        with db.write() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key.id)
                         .values(last_used_at=t))
    return key


def prefix_of(presented: str) -> str:
    """The public prefix of a key text (for the audit log of a refused key), or ''."""
    m = KEY_RE.match(presented or "")
    return m.group(1) if m else ""


__all__ = ["KEY_RE", "ApiKey", "check", "create", "list_keys", "parse_bots", "prefix_of",
           "revoke"]
