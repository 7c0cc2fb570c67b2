"""The Control Room's audit log: who did what, when, from where, and how it ended; never a
value. The table is append-only in the database (triggers refuse UPDATE and DELETE).

Actions recorded (``action``): ``signin``, ``signin.failed``, ``signin.locked``,
``signout``, ``user.create``, ``user.update``, ``role.create``, ``role.assign``,
``role.unassign``, ``apikey.create``, ``apikey.revoke``, ``apikey.refused``,
``credential.read``, ``credential.write``, ``locker.*``, ``token.issued`` and
``connection.*`` (the OAuth part). ``actor`` is a user name, ``key:NAME`` for an API key,
or ``-`` when nobody is known.

Example::

    from m365bot.controlroom import audit
    audit.record(db, action="token.issued", actor="key:runner-7",
                 target="Microsoft Entra/ops (shared)", ip="10.0.0.7")
    with db.write() as conn:          # or inside your own transaction
        ...
        audit.record(conn, action="connection.update", actor="admin", target="ops")
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.engine import Connection

from m365bot.controlroom.db import Database
from m365bot.controlroom.db import audit as audit_table

_LIMITS = {"actor": 200, "action": 60, "target": 500, "outcome": 40, "ip": 64}


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as read back."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    outcome: str
    ip: str
    detail: str


def _clip(value: str, name: str) -> str:
    # Printable, one line, bounded: a forged user name cannot forge log lines or fill rows.
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    limit = _LIMITS.get(name)
    return text[:limit] if limit else text[:2000]


def record(
    where: Database | Connection,
    *,
    action: str,
    actor: str = "-",
    target: str = "",
    outcome: str = "ok",
    ip: str = "",
    detail: str = "",
) -> None:
    """Append one entry. ``where`` is the :class:`Database` (a transaction of its own) or a
    connection inside your transaction (the entry commits or rolls back with your change).
    Never pass a secret, token or password in any field.

    A failed write raises (the caller's operation fails with it: audit fails closed).

    Example::

        audit.record(db, action="signin.failed", actor="alice", ip="10.0.0.7",
                     outcome="bad password")
    """
    row = {
        "at": dt.datetime.now(dt.UTC),
        "actor": _clip(actor or "-", "actor"),
        "action": _clip(action, "action"),
        "target": _clip(target, "target"),
        "outcome": _clip(outcome, "outcome"),
        "ip": _clip(ip, "ip"),
        "detail": _clip(detail, "detail"),
    }
    if isinstance(where, Database):
        with where.write() as conn:
            conn.execute(audit_table.insert().values(**row))
    else:
        where.execute(audit_table.insert().values(**row))


def recent(db: Database, *, action: str, ip: str, within: float) -> bool:
    """Whether an entry for ``action`` from ``ip`` was recorded in the last ``within``
    seconds (to record a flood of refusals once).

    Example::

        if not audit.recent(db, action="apikey.refused", ip=ip, within=60): ...
    """
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=within)
    stmt = (select(audit_table.c.id).where(audit_table.c.action == action,
                                           audit_table.c.ip == _clip(ip, "ip"),
                                           audit_table.c.at >= since).limit(1))
    with db.read() as conn:
        return conn.execute(stmt).first() is not None


def query(
    db: Database,
    *,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 200,
) -> list[AuditRow]:
    """Entries newest first, filtered: ``actor`` exact, ``action`` a prefix (``signin``
    matches ``signin.failed``), ``target`` a substring, ``since``/``until`` bounds.

    Example::

        audit.query(db, action="signin", limit=50)
    """
    stmt: Select[tuple[object, ...]] = select(audit_table)
    if actor:
        stmt = stmt.where(audit_table.c.actor == actor)
    if action:
        stmt = stmt.where(audit_table.c.action.startswith(action, autoescape=True))
    if target:
        stmt = stmt.where(audit_table.c.target.contains(target, autoescape=True))
    if since is not None:
        stmt = stmt.where(audit_table.c.at >= since)
    if until is not None:
        stmt = stmt.where(audit_table.c.at <= until)
    stmt = stmt.order_by(audit_table.c.id.desc()).limit(limit)
    with db.read() as conn:
        return [AuditRow(**dict(r._mapping)) for r in conn.execute(stmt)]


__all__ = ["AuditRow", "query", "recent", "record"]
