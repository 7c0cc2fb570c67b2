"""Sealing Control Room secrets at rest (client secrets, access and refresh tokens) with the
Credential Vault's envelope encryption (:mod:`m365bot.vault.crypto`): a fresh data key per
value, wrapped by a 32-byte key, and the value's place bound as associated data, so a
sealed token copied onto another connection's row does not open.

On a server the key is derived (HKDF-SHA256) from the master key the server starts with
(``--vault-key-file`` / ``M365BOT_VAULT_KEY``; :meth:`TokenSealer.from_master`), so every
server process of a team derives the same key and none is stored. On one machine it is a
random key kept in the Credential Vault (:meth:`TokenSealer.from_vault`).

Example::

    sealer = TokenSealer(os.urandom(32))
    blob = sealer.seal(b"refresh-token", "token", 7, "alice")
    sealer.open(blob, "token", 7, "alice")     # b'refresh-token'
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from m365bot.errors import ConfigError, VaultIntegrityError
from m365bot.protocols import BlobStore
from m365bot.vault import crypto
from m365bot.vault.keys import MasterKeySource

KEY_ENV = "M365BOT_VAULT_KEY"
_VAULT_KIND, _VAULT_KEY = "controlroom_key", "oauth"
_HEAD = struct.Struct(">HB")
_SALT = b"m365bot controlroom sealing v1"  # key version, nonce length


class TokenSealer:
    """Seals and opens values under one 32-byte key.

    Example::

        TokenSealer.from_text(os.environ["M365BOT_CONTROLROOM_KEY"])
    """

    __slots__ = ("_ring",)

    def __init__(self, key: bytes) -> None:
        if len(key) != crypto.KEY_BYTES:
            raise ConfigError("the Control Room key is not 32 bytes", field=KEY_ENV,
                              advice="make one with: python -c \"import os, base64; "
                              "print(base64.b64encode(os.urandom(32)).decode())\"")
        self._ring = crypto.Keyring({1: key}, current=1)

    @classmethod
    def from_text(cls, text: str) -> TokenSealer:
        """A sealer from base64 text (what ``M365BOT_CONTROLROOM_KEY`` or a key file holds)."""
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        return cls(key)

    @classmethod
    def from_master(cls, source: MasterKeySource) -> TokenSealer:
        """The server's sealer, derived from its vault master key (a passphrase is
        stretched with scrypt first)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        if source.kind == "raw":
            material = source.raw_key()
        else:
            material = Scrypt(salt=_SALT, length=32, n=2**15, r=8, p=1).derive(
                source.material.reveal().encode())
        return cls(HKDF(algorithm=hashes.SHA256(), length=crypto.KEY_BYTES, salt=_SALT,
                        info=b"oauth connections and tokens").derive(material))

    @classmethod
    def from_vault(cls, vault: BlobStore) -> TokenSealer:
        """The embedded store's sealer: a random key created once and kept, encrypted, in the
        Credential Vault (so reading the Control Room database alone reveals nothing)."""
        raw = vault.get_blob(_VAULT_KIND, _VAULT_KEY)
        if raw is None:
            vault.put_blob(_VAULT_KIND, _VAULT_KEY, os.urandom(crypto.KEY_BYTES))
            # two first uses at once: both go on with the key that was kept last
            raw = vault.get_blob(_VAULT_KIND, _VAULT_KEY)
        assert raw is not None
        return cls(bytes(raw))

    def seal(self, value: bytes, *place: str | int) -> bytes:
        """``value`` sealed for ``place`` (e.g. ``"token", connection_id, owner``)."""
        rec = crypto.seal(self._ring, value, crypto.record_aad("controlroom", *place))
        return (_HEAD.pack(rec.kek_version, len(rec.nonce)) + rec.nonce + rec.wrapped_dek
                + rec.ciphertext)

    def open(self, blob: bytes, *place: str | int) -> bytes:
        """The value sealed for ``place``; VaultIntegrityError if anything was changed."""
        blob = bytes(blob)
        try:
            version, nlen = _HEAD.unpack_from(blob)
        except struct.error:
            raise _altered() from None
        start = _HEAD.size
        wrapped_len = crypto.NONCE_BYTES + crypto.KEY_BYTES + crypto.TAG_BYTES
        nonce = blob[start:start + nlen]
        wrapped = blob[start + nlen:start + nlen + wrapped_len]
        rec = crypto.SealedRecord(version, nonce, blob[start + nlen + wrapped_len:], wrapped)
        return crypto.open_sealed(self._ring, rec, crypto.record_aad("controlroom", *place))

    def __repr__(self) -> str:
        return "<TokenSealer>"


def _altered() -> VaultIntegrityError:
    return VaultIntegrityError("a sealed Control Room value is damaged",
                               advice="log the connection in again")


__all__ = ["KEY_ENV", "TokenSealer"]
