"""Locker roles and who may see which credential (Automation Anywhere's model).

Example::

    strongest_role(["consumer", "manager"])   # 'manager'
"""

from __future__ import annotations

from collections.abc import Iterable

ROLES = ("owner", "manager", "participant", "consumer")  # strongest first
_RANK = {role: i for i, role in enumerate(ROLES)}


def strongest_role(roles: Iterable[str]) -> str | None:
    """The strongest of the caller's roles in a locker, or None when not a member."""
    known = [r for r in roles if r in _RANK]
    return min(known, key=_RANK.__getitem__) if known else None


def can_see(role: str, credential_owner: str, actor: str) -> bool:
    """Participants see only their own credentials; every other role sees all."""
    return role != "participant" or credential_owner == actor


__all__ = ["ROLES", "can_see", "strongest_role"]
