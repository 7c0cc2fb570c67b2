"""Who is acting, for the vault's locker roles and audit log: one rule for every command
(``m365bot vault``, ``connect``, ``controlroom``), so what one writes the others can read.

Example::

    from m365bot.cli.actor import default_actor
    Vault.open(path, actor=actor or default_actor())
"""

from __future__ import annotations


def default_actor() -> str:
    """The login name (``getpass.getuser()``: LOGNAME, USER, LNAME, USERNAME, then the
    password database), or ``bot`` when there is none (a service without an account)."""
    import getpass

    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "bot"
    return name or "bot"


__all__ = ["default_actor"]
