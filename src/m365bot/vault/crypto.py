"""Envelope encryption for the Credential Vault: AES-256-GCM, per-record data keys.

Every record gets its own random 256-bit data key (DEK). The record's plaintext is
sealed with the DEK, and the DEK is sealed ("wrapped") with the master key (KEK) of the
current keyring version. Both seals use a fresh random 96-bit nonce and bind the record's
identity as associated data, so a row copied onto another row fails authentication.

Example::

    from m365bot.vault.crypto import Keyring, seal, open_sealed, record_aad
    ring = Keyring({1: os.urandom(32)}, current=1)
    aad = record_aad("vault-id", "blob", "token_cache", "k1", 1)
    rec = seal(ring, b"hello", aad)
    assert open_sealed(ring, rec, aad) == b"hello"
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from m365bot.errors import VaultIntegrityError, VaultLockedError

NONCE_BYTES = 12
KEY_BYTES = 32
TAG_BYTES = 16
ALGORITHM = "AES-256-GCM/envelope/v1"
# Associated data always starts with this, so a vault ciphertext can never be
# replayed into another protocol that happens to use the same key.
_AAD_PREFIX = b"m365bot-vault/v1"


def record_aad(*parts: str | int) -> bytes:
    """Canonical associated data: every part length-prefixed, so ``a|bc`` != ``ab|c``.

    Example::

        record_aad(vault_id, "credential", locker_id, credential_id, attribute_id, user, 3)
    """
    out = bytearray(_AAD_PREFIX)
    for part in parts:
        raw = str(part).encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


@dataclass(frozen=True)
class SealedRecord:
    """What the store keeps for one encrypted value. Nothing here is secret on its own.

    ``ciphertext`` includes the 16-byte GCM tag; ``wrapped_dek`` is nonce + sealed DEK.
    """

    kek_version: int
    nonce: bytes
    ciphertext: bytes
    wrapped_dek: bytes


class Keyring:
    """Master-key versions held in memory after unlock. ``current`` wraps new data keys.

    Thread-safe: rotation swaps in a new keyring atomically with :meth:`replace`.
    """

    def __init__(self, keys: dict[int, bytes], *, current: int) -> None:
        if current not in keys:
            raise ValueError("the current version must be in the keyring")
        for key in keys.values():
            if len(key) != KEY_BYTES:
                raise ValueError("master keys are 32 bytes")
        self._keys = dict(keys)
        self._current = current
        self._lock = threading.Lock()

    @property
    def current(self) -> int:
        """The version that wraps new data keys."""
        return self._current

    def versions(self) -> list[int]:
        """Every version this keyring can unwrap."""
        return sorted(self._keys)

    def key(self, version: int) -> bytes:
        """The master key of ``version``, or VaultLockedError naming the missing version."""
        with self._lock:
            key = self._keys.get(version)
        if key is None:
            raise VaultLockedError(
                f"the vault record was wrapped by master key version {version}, "
                "which this unlocked vault does not hold",
                advice="unlock the vault again with the current passphrase or key",
            )
        return key

    def replace(self, keys: dict[int, bytes], *, current: int) -> None:
        """Swap in a new set of versions (after a rotation)."""
        with self._lock:
            self._keys = dict(keys)
            self._current = current

    def forget(self) -> None:
        """Drop every key (lock the vault). Python bytes cannot be wiped; we drop references."""
        with self._lock:
            self._keys = {}

    def __repr__(self) -> str:
        return f"Keyring(versions={self.versions()}, current={self._current})"


def _dek_aad(aad: bytes, kek_version: int) -> bytes:
    return aad + b"|dek|" + str(kek_version).encode()


def wrap_dek(kek: bytes, kek_version: int, dek: bytes, aad: bytes) -> bytes:
    """Seal a data key under a master key; returns nonce + ciphertext + tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, dek, _dek_aad(aad, kek_version))


def unwrap_dek(kek: bytes, kek_version: int, wrapped: bytes, aad: bytes) -> bytes:
    """Open a wrapped data key; VaultIntegrityError when anything was changed."""
    if len(wrapped) != NONCE_BYTES + KEY_BYTES + TAG_BYTES:
        raise VaultIntegrityError(
            "a vault record's wrapped data key has the wrong length (the file was altered)",
            advice="restore the vault from a backup",
        )
    try:
        return AESGCM(kek).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _dek_aad(aad, kek_version)
        )
    except InvalidTag:
        raise VaultIntegrityError(
            "a vault record failed authentication: its data key was altered or moved",
            advice="restore the vault from a backup; the stored record was tampered with",
        ) from None


def seal(ring: Keyring, plaintext: bytes, aad: bytes) -> SealedRecord:
    """Encrypt ``plaintext`` under a new random data key wrapped by the current master key."""
    version = ring.current
    kek = ring.key(version)
    dek = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, plaintext, aad)
    return SealedRecord(version, nonce, ciphertext, wrap_dek(kek, version, dek, aad))


def open_sealed(ring: Keyring, record: SealedRecord, aad: bytes) -> bytes:
    """Decrypt a record; VaultIntegrityError if any byte or the identity does not match."""
    dek = unwrap_dek(ring.key(record.kek_version), record.kek_version, record.wrapped_dek, aad)
    if len(record.nonce) != NONCE_BYTES:
        raise VaultIntegrityError(
            "a vault record's nonce has the wrong length (the file was altered)",
            advice="restore the vault from a backup",
        )
    try:
        return AESGCM(dek).decrypt(record.nonce, record.ciphertext, aad)
    except InvalidTag:
        raise VaultIntegrityError(
            "a vault record failed authentication: its ciphertext was altered or moved",
            advice="restore the vault from a backup; the stored record was tampered with",
        ) from None


def rewrap(ring: Keyring, record: SealedRecord, aad: bytes) -> SealedRecord:
    """The same record with its data key wrapped by the current master key (rotation)."""
    if record.kek_version == ring.current:
        return record
    dek = unwrap_dek(ring.key(record.kek_version), record.kek_version, record.wrapped_dek, aad)
    new = wrap_dek(ring.key(ring.current), ring.current, dek, aad)
    return SealedRecord(ring.current, record.nonce, record.ciphertext, new)


def unlocked(ring: Keyring | None) -> Keyring:
    """The keyring of an unlocked vault; VaultLockedError when there is none.

    Example::

        ring = unlocked(self._ring)
    """
    if ring is None:
        raise VaultLockedError(
            "the vault is locked", advice="unlock it with the passphrase or key first"
        )
    return ring


__all__ = [
    "ALGORITHM",
    "Keyring",
    "SealedRecord",
    "open_sealed",
    "record_aad",
    "rewrap",
    "seal",
    "unlocked",
    "unwrap_dek",
    "wrap_dek",
]
