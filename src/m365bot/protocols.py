"""The small Protocols the layers meet through (floor 1: they import nothing above
:mod:`m365bot.values`).

* :class:`BlobStore`: where token caches and connection state are kept (the Credential
  Vault is one; :class:`m365bot.connection.MemoryStore` is another);
* :class:`SecretStore`: where a Credential reference is read (the vault);
* :class:`Vault`: both, what Connect takes as ``vault=``.

The token source is :class:`m365bot.auth.tokens.TokenProvider`; Connect reaches the Control
Room through :class:`m365bot.connection.ConnectionTokens`.

Example::

    from m365bot.protocols import Vault
    def run(vault: Vault) -> None:
        vault.get("bots", "o365", "client_secret")     # a Secret
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from m365bot.values import Secret


@runtime_checkable
class BlobStore(Protocol):
    """Opaque, encrypted-at-rest blobs by kind and key (``put_blob`` returns the version).

    Example::

        store.put_blob("token_cache", key, data); store.get_blob("token_cache", key)
    """

    def get_blob(self, kind: str, key: str) -> bytes | None: ...

    def put_blob(self, kind: str, key: str, data: bytes) -> int: ...


@runtime_checkable
class SecretStore(Protocol):
    """Reads one Credential Vault attribute as a :class:`~m365bot.values.Secret`.

    Example::

        store.get("bots", "o365", "client_secret").reveal()
    """

    def get(self, locker: str, credential: str, attribute: str) -> Secret: ...


@runtime_checkable
class Vault(BlobStore, SecretStore, Protocol):
    """What Connect needs from the Credential Vault: secrets and blobs.

    Example::

        m365bot.connect(..., vault=Vault.open(path, actor="bot"))
    """


__all__ = ["BlobStore", "SecretStore", "Vault"]
