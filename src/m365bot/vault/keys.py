"""Master keys: from a passphrase (scrypt or Argon2id), a key file, or the environment.

A master key is 32 bytes. A passphrase is stretched with a per-vault random salt and
stored parameters. Every key version has a *verifier* (an AES-GCM seal of a constant),
so a wrong passphrase is reported clearly before anything is decrypted.

Example::

    from m365bot.vault.keys import KdfParams, MasterKeySource, derive
    src = MasterKeySource.from_passphrase("correct horse battery staple")
    params = KdfParams.new("scrypt")          # random salt, N=2**15, r=8, p=1
    key = derive(src, params)                 # 32 bytes
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from m365bot.errors import ConfigError, VaultError, VaultIntegrityError
from m365bot.values import Secret

KEY_ENV = "M365BOT_VAULT_KEY"
KdfName = Literal["scrypt", "argon2id", "raw"]

# Floors enforced when reading stored parameters, so an edited key row cannot downgrade
# the key derivation.
SCRYPT_MIN_N = 2**15
ARGON2_MIN_MEMORY_KIB = 19 * 1024
_VERIFIER_PLAINTEXT = b"m365bot vault master key verifier v1"


@dataclass(frozen=True)
class MasterKeySource:
    """Where a master key comes from: a passphrase, or 32 raw bytes (file or environment).

    ``repr`` never shows the material.
    """

    kind: Literal["passphrase", "raw"]
    material: Secret = field(repr=False)

    @classmethod
    def from_passphrase(cls, passphrase: str | Secret) -> MasterKeySource:
        """A passphrase; empty ones and non-strings are refused."""
        if not isinstance(passphrase, str | Secret):
            raise ConfigError(
                f"the vault passphrase must be a str or Secret, not {type(passphrase).__name__}",
                field="passphrase", advice="pass passphrase='...'")
        secret = passphrase if isinstance(passphrase, Secret) else Secret(passphrase)
        if not secret:
            raise ConfigError(
                "the vault passphrase is empty", field="passphrase", advice="give a passphrase"
            )
        return cls("passphrase", secret)

    @classmethod
    def from_key(cls, key: bytes | str | Secret, *, field_name: str = "key") -> MasterKeySource:
        """32 raw bytes, or their base64 text."""
        raw = _decode_key(key, field_name)
        # Keep raw keys as base64 text inside a Secret so the masked type holds them.
        return cls("raw", Secret(base64.b64encode(raw).decode()))

    @classmethod
    def from_key_file(cls, path: str | os.PathLike[str]) -> MasterKeySource:
        """A key file holding 32 raw bytes or their base64; must not be readable by others."""
        p = Path(path)
        try:
            st = p.stat()
            data = p.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the vault key file {p}: {exc.strerror}",
                field="key_file",
                advice="give the path of an existing key file",
            ) from None
        if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"the vault key file {p} is readable by other users "
                f"(mode {stat.S_IMODE(st.st_mode):04o})",
                field="key_file",
                advice=f"run: chmod 600 {p}",
            )
        raw = data if len(data) == 32 else data.strip()
        return cls.from_key(raw, field_name="key_file")

    @classmethod
    def from_environ(cls, environ: dict[str, str] | os._Environ[str]) -> MasterKeySource | None:
        """``M365BOT_VAULT_KEY`` (base64 of 32 bytes), or None when it is not set."""
        value = environ.get(KEY_ENV)
        if not value:
            return None
        return cls.from_key(value, field_name=KEY_ENV)

    def raw_key(self) -> bytes:
        """The 32 key bytes of a raw source."""
        assert self.kind == "raw"
        return base64.b64decode(self.material.reveal())


def _decode_key(key: bytes | str | Secret, field_name: str) -> bytes:
    if not isinstance(key, bytes | bytearray | str | Secret):
        raise ConfigError(
            f"the vault key in {field_name} must be 32 bytes or their base64 text, "
            f"not {type(key).__name__}", field=field_name,
            advice="pass key=<32 bytes> or key='<base64 of 32 bytes>'")
    if isinstance(key, bytearray):
        key = bytes(key)
    if isinstance(key, Secret):
        key = key.reveal()
    if isinstance(key, bytes) and len(key) == 32:
        return key
    text = key.decode("ascii", "replace") if isinstance(key, bytes) else key
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"the vault key in {field_name} is not 32 bytes of base64",
            field=field_name,
            advice="generate one with: python -c "
            "\"import os,base64;print(base64.b64encode(os.urandom(32)).decode())\"",
        )
    return raw


def new_raw_key() -> str:
    """A fresh random master key as base64 text (for key files and ``M365BOT_VAULT_KEY``)."""
    return base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True)
class KdfParams:
    """How a key version is derived; stored in the vault's key table."""

    kdf: KdfName
    salt: bytes
    params: dict[str, int]

    @classmethod
    def new(cls, kdf: KdfName, **params: int) -> KdfParams:
        """Fresh parameters with a random 16-byte salt and safe defaults."""
        if kdf not in ("scrypt", "argon2id", "raw"):
            raise ConfigError(f"unknown key derivation {kdf!r}", field="kdf",
                              advice="use kdf='scrypt' or kdf='argon2id'")
        if kdf == "scrypt":
            p = {"n": 2**15, "r": 8, "p": 1} | params
        elif kdf == "argon2id":
            p = {"memory_kib": 64 * 1024, "iterations": 3, "lanes": 4} | params
        else:
            p = {}
        return cls(kdf, os.urandom(16) if kdf != "raw" else b"", p)

    def to_json(self) -> str:
        return json.dumps(self.params, sort_keys=True)

    @classmethod
    def load(cls, kdf: str, salt: bytes, params_json: str) -> KdfParams:
        """Parameters read back from the store; refuses values below the floors."""
        params: dict[str, Any] = json.loads(params_json or "{}")
        ok = True
        if kdf == "scrypt":
            ok = int(params.get("n", 0)) >= SCRYPT_MIN_N and len(salt) >= 16
        elif kdf == "argon2id":
            ok = int(params.get("memory_kib", 0)) >= ARGON2_MIN_MEMORY_KIB and len(salt) >= 16
        elif kdf != "raw":
            ok = False
        if not ok:
            raise VaultIntegrityError(
                "the vault's key parameters are missing or weaker than allowed "
                "(the key table vault_keys was altered)",
                advice="restore the vault from a backup",
            )
        return cls(kdf, salt, {k: int(v) for k, v in params.items()})  # type: ignore[arg-type]


def derive(source: MasterKeySource, params: KdfParams) -> bytes:
    """The 32-byte master key for ``source`` under ``params``."""
    if params.kdf == "raw":
        if source.kind != "raw":
            raise VaultError(
                "this vault is protected by a key file or M365BOT_VAULT_KEY, not a passphrase",
                advice="unlock with --key-file or the M365BOT_VAULT_KEY environment variable",
            )
        return source.raw_key()
    if source.kind != "passphrase":
        raise VaultError(
            "this vault is protected by a passphrase, not a key",
            advice="unlock with the vault passphrase (--passphrase-stdin or the prompt)",
        )
    secret = source.material.reveal().encode("utf-8")
    if params.kdf == "scrypt":
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        p = params.params
        return Scrypt(salt=params.salt, length=32, n=p["n"], r=p["r"], p=p["p"]).derive(secret)
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    p = params.params
    return Argon2id(
        salt=params.salt,
        length=32,
        iterations=p["iterations"],
        lanes=p["lanes"],
        memory_cost=p["memory_kib"],
    ).derive(secret)


def argon2_available() -> bool:
    """True when this ``cryptography`` has Argon2id (version 44 and later)."""
    try:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # noqa: F401
    except ImportError:
        return False
    return True


def make_verifier(key: bytes, aad: bytes) -> bytes:
    """A seal of a constant under ``key``; proves a derived key is right without data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, _VERIFIER_PLAINTEXT, aad)


def check_verifier(key: bytes, verifier: bytes, aad: bytes) -> bool:
    """True when ``key`` opens ``verifier``."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(verifier[:12], verifier[12:], aad) == _VERIFIER_PLAINTEXT
    except (InvalidTag, ValueError):
        return False


def key_source(
    passphrase: str | Secret | None, key: bytes | str | Secret | None
) -> MasterKeySource:
    """The master key source for ``passphrase=`` or ``key=`` (exactly one)."""
    if (passphrase is None) == (key is None):
        raise ConfigError(
            "give exactly one of a passphrase or a key to unlock the vault",
            field="passphrase",
            advice="pass passphrase=... or key=... (32 bytes or their base64)",
        )
    if passphrase is not None:
        return MasterKeySource.from_passphrase(passphrase)
    assert key is not None
    return MasterKeySource.from_key(key)


class KeyRow(NamedTuple):
    """A row of the key table, as plain data (both storage paths read it)."""

    version: int
    kdf: str
    salt: bytes
    params: str
    verifier: bytes
    wrapped_key: bytes | None
    wrapped_by: int | None


def verifier_aad(vault_id: str, version: int, *, pinned: bool = True) -> bytes:
    """What a key version's verifier is bound to. ``pinned``: the vault keeps a manifest
    of record versions (every vault since it was introduced), so its absence is tampering;
    verifiers of older vaults lack the mark, and their first unlock builds the manifest."""
    from m365bot.vault.crypto import record_aad

    if not pinned:
        return record_aad(vault_id, "verifier", version)
    return record_aad(vault_id, "verifier", version, "manifest-v1")


def keyring_aad(vault_id: str, old: int, new: int) -> bytes:
    from m365bot.vault.crypto import record_aad

    return record_aad(vault_id, "keyring", old, new)


def _damaged_key_table(version: int) -> VaultIntegrityError:
    return VaultIntegrityError(
        f"the vault's key table (vault_keys, version {version}) is damaged: its key "
        "parameters cannot be read (the file was altered)",
        advice="restore the vault from a backup")


def open_keyring(source: MasterKeySource, vault_id: str, current_version: int,
                 rows: list[KeyRow]) -> tuple[Any, bool]:
    """Derive the current master key, check its verifier, unwrap the older versions still
    kept. Returns a :class:`~m365bot.vault.crypto.Keyring` and whether the verifier is a
    pinned one (see :func:`verifier_aad`). Wrong key: VaultError; a damaged key table:
    VaultIntegrityError."""
    from m365bot.vault import crypto

    by_version = {r.version: r for r in rows}
    current = by_version.get(current_version)
    if current is None:
        raise VaultIntegrityError(
            "the vault's key table (vault_keys) is missing its current key "
            "(the file was altered)",
            advice="restore the vault from a backup",
        )
    try:
        master = derive(source, KdfParams.load(current.kdf, current.salt, current.params))
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        raise _damaged_key_table(current.version) from None
    pinned = check_verifier(master, current.verifier,
                            verifier_aad(vault_id, current.version))
    if not pinned and not check_verifier(
            master, current.verifier, verifier_aad(vault_id, current.version, pinned=False)):
        what = "passphrase" if source.kind == "passphrase" else "key"
        raise VaultError(
            f"wrong {what} for this vault",
            advice=f"give the vault's current {what}; after 'rotate-key' the old one "
            "no longer opens it",
        )
    keys = {current.version: master}
    for row in rows:
        if row.wrapped_key and row.wrapped_by == current.version:
            keys[row.version] = crypto.unwrap_dek(
                master, current.version, row.wrapped_key,
                keyring_aad(vault_id, row.version, current.version))
    return crypto.Keyring(keys, current=current.version), pinned


__all__ = [
    "KEY_ENV",
    "KdfParams",
    "KeyRow",
    "MasterKeySource",
    "argon2_available",
    "check_verifier",
    "derive",
    "key_source",
    "keyring_aad",
    "make_verifier",
    "new_raw_key",
    "open_keyring",
    "verifier_aad",
]
