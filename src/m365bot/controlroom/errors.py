"""The Control Room server's refusals, each with the HTTP status a page or the API answers.

All are :class:`m365bot.errors.ConfigError` (bad input: the field and the fix) or
:class:`m365bot.errors.M365BotError`, so the CLI prints them as ``Error: ... Fix: ...``.

Example::

    raise NotFound("there is no user 'bob'", field="user", advice="pick a user from the list")
"""

from __future__ import annotations

from m365bot.errors import (
    ConfigError,
    M365BotError,
    VaultAccessDenied,
    VaultError,
    VaultIntegrityError,
    VaultLockedError,
    VaultNotFoundError,
)


class BadInput(ConfigError):
    """400: a field is missing or malformed."""

    status = 400


class NotFound(ConfigError):
    """404: the user, role, API key, locker or credential named does not exist."""

    status = 404


class Conflict(ConfigError):
    """409: the name is taken, or the change clashes with the current state."""

    status = 409


class Forbidden(M365BotError):
    """403: signed in, but the user's roles do not allow this."""

    status = 403


class DatabaseUnavailable(M365BotError):
    """503: the database refused or could not be reached (nothing was changed)."""

    status = 503


class SignInRefused(M365BotError):
    """401 (wrong name or password, disabled user) or 429 (locked out for a while:
    ``retry_after`` seconds)."""

    def __init__(self, message: str, *, advice: str = "", retry_after: int = 0) -> None:
        super().__init__(message, advice=advice)
        self.retry_after = retry_after
        self.status = 429 if retry_after else 401


class Refused(M365BotError):
    """A request refused before any page sees it (a missing CSRF token, a form too large),
    with the HTTP ``status`` of that refusal."""

    def __init__(self, status: int, message: str, *, advice: str = "") -> None:
        super().__init__(message, advice=advice)
        self.status = status


def status_of(exc: M365BotError) -> int:
    """The HTTP status for an error: its ``status``; else for the Credential Vault's
    errors 403 denied, 404 not found, 503 locked, 500 integrity, 409 the other refusals
    (name taken, a locker's last owner); else 400 for bad input, else 500."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    if isinstance(exc, VaultAccessDenied):
        return 403
    if isinstance(exc, VaultNotFoundError):
        return 404
    if isinstance(exc, VaultLockedError):
        return 503
    if isinstance(exc, VaultIntegrityError):
        return 500
    if isinstance(exc, VaultError):
        return 409
    return 400 if isinstance(exc, ConfigError) else 500


__all__ = ["BadInput", "Conflict", "DatabaseUnavailable", "Forbidden", "NotFound", "SignInRefused",
           "status_of"]
