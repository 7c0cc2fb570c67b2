"""The Credential Vault: lockers, credentials and attributes, encrypted at rest.

AES-256-GCM envelope encryption (a random data key per record, wrapped by a master key
from a passphrase, a key file or ``M365BOT_VAULT_KEY``), locker roles, an audit log of
every read, SQLite by default and the same schema and code path on PostgreSQL. A
manifest of record versions, sealed under the master key, catches a record rolled
back. Other modules keep their secrets here too with :meth:`Vault.put_blob` /
:meth:`Vault.get_blob`.

Example::

    from m365bot.vault import Vault, AttributeSpec
    vault = Vault.open("/path/vault.db", actor="alice")
    vault.unlock(passphrase="...")
    secret = vault.get("bots", "o365", "client_secret")   # a Secret
"""

from __future__ import annotations

from m365bot.vault.keys import KEY_ENV, MasterKeySource, new_raw_key
from m365bot.vault.paths import default_data_dir, default_vault_path
from m365bot.vault.service import Vault
from m365bot.vault.types import (
    AttributeInfo,
    AttributeSpec,
    AuditEntry,
    BlobConflict,
    BlobStore,
    CredentialInfo,
    LockerInfo,
)

__all__ = [
    "KEY_ENV",
    "AttributeInfo",
    "AttributeSpec",
    "AuditEntry",
    "BlobConflict",
    "BlobStore",
    "CredentialInfo",
    "LockerInfo",
    "MasterKeySource",
    "Vault",
    "default_data_dir",
    "default_vault_path",
    "new_raw_key",
]
