"""Client secrets that stay in the Credential Vault: an OAuth connection may keep a reference
(locker, credential, attribute) instead of a sealed copy, and the Control Room reads the
value at each token request (client credentials, a sign-in's code redemption, a refresh,
"Save changes and test connection"), so a secret rotated in the vault is used at the next
token request without editing the connection. As the RPA platform says of vault values:
resolved only at run time, never logged.

Who reads it:

* when an administrator saves the reference, the vault reads it as that administrator
  (their locker roles decide; the read is audited under their name). Nobody can point a
  connection at a secret they may not read;
* at each token request the server reads it as itself: the vault's own identity
  (``controlroom``, the actor the server opens its vault with) through
  :meth:`m365bot.vault.Vault.get_for`, which asks no locker role, and the vault's audit log
  records a ``value.read`` whose subject names the connection
  (``oauth connection Microsoft 365 Outlook/ops``). A runner's read through the credentials
  API is recorded under the user its bots run as; this one is the server's own, on behalf
  of the connection.

A failed read says what failed and what to fix, naming the reference and never a value:
:class:`ClientSecretUnavailable` (an :class:`~m365bot.errors.AuthError`, so the broker
answers 409: a person must act).

Example::

    read = VaultSecrets(server_vault)
    secret = read(conn)     # conn.client_secret_ref = CredentialRef("apps", "ops", "secret")
"""

from __future__ import annotations

import logging
from typing import Any

from m365bot.controlroom.connections import OAuthConnection, ref_text
from m365bot.errors import AuthError, M365BotError, VaultLockedError, VaultNotFoundError
from m365bot.values import Secret

log = logging.getLogger(__name__)

CODE = "client_secret_unavailable"


class ClientSecretUnavailable(AuthError):
    """A connection's client secret could not be read from the Credential Vault (locked, or
    the locker, credential, attribute or value is gone); no token was requested."""

    def __init__(self, message: str, *, advice: str) -> None:
        super().__init__(message, code=CODE, advice=advice)


def on_behalf_of(conn: OAuthConnection) -> str:
    """The subject of the vault's audit record for a connection's read."""
    return f"oauth connection {conn.provider_type}/{conn.name}"


def _where(conn: OAuthConnection) -> str:
    assert conn.client_secret_ref is not None
    return (f"connection {conn.provider_type}/{conn.name}: its client secret is read from the "
            f"Credential Vault ({ref_text(conn.client_secret_ref)})")


def _repick(conn: OAuthConnection) -> str:
    return ("or an administrator picks the current one under Manage > OAuth connections "
            f"({conn.name!r}, Or client secret from the Credential Vault)")


def locked(conn: OAuthConnection, why: str = "") -> ClientSecretUnavailable:
    """The error for a vault this process cannot read."""
    return ClientSecretUnavailable(
        f"{_where(conn)}, but the Credential Vault is locked on this Control Room server"
        + (f" ({why})" if why else ""),
        advice="restart the Control Room server with the vault's current key "
        "(--vault-key-file or M365BOT_VAULT_KEY)")


def not_here(conn: OAuthConnection) -> ClientSecretUnavailable:
    """The error where no Credential Vault reader is set up (the embedded store)."""
    return ClientSecretUnavailable(
        f"{_where(conn)}, which only a Control Room server reads",
        advice="use the connection through the Control Room server (M365BOT_CONTROLROOM_URL), "
        "or give it a typed client secret")


class VaultSecrets:
    """Reads connections' client secrets from the server's Credential Vault, as the server
    itself (see the module docstring). ``vault``: the server's unlocked vault, or None.

    Example::

        VaultSecrets(state.vault)(stored.conn).reveal()
    """

    def __init__(self, vault: Any) -> None:
        self._vault = vault

    def __call__(self, conn: OAuthConnection) -> Secret:
        """The current value of ``conn.client_secret_ref``; ClientSecretUnavailable if not."""
        ref = conn.client_secret_ref
        assert ref is not None
        if self._vault is None:
            raise locked(conn)
        try:
            secret: Secret = self._vault.get_for(*ref, on_behalf_of=on_behalf_of(conn))
        except VaultLockedError as exc:
            raise locked(conn, exc.message) from None
        except VaultNotFoundError as exc:
            raise ClientSecretUnavailable(
                f"{_where(conn)}, which cannot be read: {exc.message}",
                advice=f"restore {ref_text(ref)} in the Credential Vault (locker "
                f"{ref.locker!r}), " + _repick(conn)) from None
        except M365BotError as exc:  # an integrity error, an audit record not written...
            raise ClientSecretUnavailable(
                f"{_where(conn)}, which cannot be read: {exc.message}",
                advice=exc.advice or "check the Credential Vault, " + _repick(conn)) from None
        log.info("client secret of %s/%s read from the Credential Vault",
                 conn.provider_type, conn.name)
        return secret


__all__ = ["CODE", "ClientSecretUnavailable", "VaultSecrets", "locked", "not_here",
           "on_behalf_of"]
