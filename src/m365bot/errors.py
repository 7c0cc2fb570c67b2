"""The errors m365bot raises.

One root, with a branch only where a caller acts differently::

    M365BotError                 every error m365bot raises
    ├── ConfigError              bad input: names the field and the fix
    ├── VaultError               the Credential Vault
    │   ├── VaultLockedError     no master key yet: unlock the vault first
    │   ├── VaultIntegrityError  a record failed authentication (tampered or swapped)
    │   ├── VaultAccessDenied    the caller's locker role does not allow this
    │   └── NotFoundError        (also raised for an unknown locker, credential or attribute)
    ├── AuthError                the identity platform refused, or the token is unusable
    │   │                        (Graph: a 401 again after one token refresh)
    │   └── ReauthRequired       an unattended run needs a person to sign in again
    ├── SessionError             unknown, duplicate, closed or version-mismatched session
    ├── GraphError               Graph answered with an error (code, message, request_id, status)
    │   ├── ThrottledError       429 past the request's time budget (retry_after: seconds)
    │   └── NotFoundError        404: ErrorItemNotFound and friends
    └── TransportError           no answer: DNS, TLS, connection reset (after the one resend
                                 of an idempotent or guarded request), timeout

Every error carries ``advice``: one sentence that says what to fix. Messages never
contain a secret; callers pass secrets as :class:`m365bot.values.Secret`, whose ``str``
is masked.

Example::

    try:
        session = m365bot.connect(...)
    except m365bot.errors.AuthError as e:
        print(e.code, e.advice)
"""

from __future__ import annotations


class M365BotError(Exception):
    """Root of every m365bot error. ``advice`` says what to fix."""

    def __init__(self, message: str, *, advice: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice

    def __str__(self) -> str:
        if self.advice:
            return f"{self.message} Fix: {self.advice}"
        return self.message


class ConfigError(M365BotError):
    """Bad input: names the field and the fix. ``field`` is the field's name."""

    def __init__(self, message: str, *, field: str = "", advice: str = "") -> None:
        super().__init__(message, advice=advice)
        self.field = field


class VaultError(M365BotError):
    """A Credential Vault operation failed."""


class VaultLockedError(VaultError):
    """The vault is locked: no master key has been given yet."""


class VaultIntegrityError(VaultError):
    """A stored record failed authenticated decryption: tampered, swapped or wrong key."""


class VaultAccessDenied(VaultError):
    """The caller's locker role does not allow this operation."""


class AuthError(M365BotError):
    """The identity platform refused, or a token is unusable.

    ``code`` is the AADSTS number (for example ``7000215``) or the OAuth ``error`` string.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        advice: str = "",
        correlation_id: str = "",
    ) -> None:
        super().__init__(message, advice=advice)
        self.code = code
        self.correlation_id = correlation_id


class ReauthRequired(AuthError):
    """An unattended run needs a person to sign in again (refresh token expired or revoked)."""


class SessionError(M365BotError):
    """A session name is unknown or taken, the session is closed, or its version differs."""


class GraphError(M365BotError):
    """Graph answered with an error envelope."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int = 0,
        request_id: str = "",
        advice: str = "",
    ) -> None:
        super().__init__(message, advice=advice)
        self.code = code
        self.status = status
        self.request_id = request_id


class ThrottledError(GraphError):
    """Graph kept answering 429 past the request's time budget, or asked for a wait longer
    than the budget. ``retry_after`` is the server's last wait, in seconds."""

    def __init__(self, message: str, *, retry_after: float = 0.0, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class NotFoundError(GraphError, VaultError):
    """The thing named does not exist (a Graph item, or a vault locker/credential/attribute)."""


class TransportError(M365BotError):
    """No usable answer: DNS, TLS, connection reset or timeout."""


__all__ = [
    "AuthError",
    "ConfigError",
    "GraphError",
    "M365BotError",
    "NotFoundError",
    "ReauthRequired",
    "SessionError",
    "ThrottledError",
    "TransportError",
    "VaultAccessDenied",
    "VaultError",
    "VaultIntegrityError",
    "VaultLockedError",
]
