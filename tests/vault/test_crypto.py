"""AEAD properties of stored records: tamper detection on every byte, row binding,
unique nonces, distinct ciphertexts for equal plaintexts."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from m365bot.errors import VaultIntegrityError, VaultLockedError
from m365bot.vault import AttributeSpec, Vault
from m365bot.vault.crypto import Keyring, open_sealed, record_aad, seal


def _row(path: Path, kind: str, key: str) -> tuple[int, bytes, bytes, bytes]:
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT id, nonce, ciphertext, wrapped_dek FROM vault_blobs WHERE kind=? AND key=?",
            (kind, key),
        ).fetchone()
    return row[0], bytes(row[1]), bytes(row[2]), bytes(row[3])


def _set(path: Path, row_id: int, column: str, value: bytes) -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"UPDATE vault_blobs SET {column}=? WHERE id=?", (value, row_id))


def _set_sealed(path: Path, row_id: int, fields: list[bytes]) -> None:
    """Put the sealed parts (nonce, ciphertext, wrapped data key) of a record into a row."""
    for column, value in zip(("nonce", "ciphertext", "wrapped_dek"), fields, strict=True):
        _set(path, row_id, column, value)


def test_flipping_any_byte_ofnonceciphertext_tag_or_wrapped_key_fails(
    vault: Vault, vault_path: Path
) -> None:
    vault.put_blob("token_cache", "k", b"CANARY-x")
    row_id, nonce, ciphertext, wrapped = _row(vault_path, "token_cache", "k")
    # ciphertext includes the 16-byte GCM tag at its end; wrapped = nonce + sealed DEK + tag.
    assert len(ciphertext) == len(b"CANARY-x") + 16 and len(nonce) == 12 and len(wrapped) == 60
    tried = 0
    for column, original in (("nonce", nonce), ("ciphertext", ciphertext),
                             ("wrapped_dek", wrapped)):
        for i in range(len(original)):
            bad = bytearray(original)
            bad[i] ^= 0x01 << (i % 8)
            _set(vault_path, row_id, column, bytes(bad))
            with pytest.raises(VaultIntegrityError) as err:
                vault.get_blob("token_cache", "k")
            assert "restore the vault" in str(err.value)
            tried += 1
        _set(vault_path, row_id, column, original)
    assert tried == 12 + len(ciphertext) + 60
    assert vault.get_blob("token_cache", "k") == b"CANARY-x"


def test_truncated_or_extended_fields_fail(vault: Vault, vault_path: Path) -> None:
    vault.put_blob("token_cache", "k", b"CANARY-y")
    row_id, nonce, ciphertext, wrapped = _row(vault_path, "token_cache", "k")
    for column, value in (("nonce", nonce[:-1]), ("ciphertext", ciphertext[:-1]),
                          ("wrapped_dek", wrapped + b"\0"), ("ciphertext", b"")):
        _set(vault_path, row_id, column, value)
        with pytest.raises(VaultIntegrityError):
            vault.get_blob("token_cache", "k")
        _set(vault_path, row_id, "nonce", nonce)
        _set(vault_path, row_id, "ciphertext", ciphertext)
        _set(vault_path, row_id, "wrapped_dek", wrapped)


def test_swappingciphertexts_between_rows_fails(
    stocked: tuple[Vault, dict[str, str]], vault_path: Path
) -> None:
    vault, values = stocked
    vault.create_locker("other")
    vault.set_credential("other", "o365", {"client_secret": AttributeSpec("CANARY-other")})
    with sqlite3.connect(vault_path) as db:
        rows = db.execute(
            "SELECT id, nonce, ciphertext, wrapped_dek FROM vault_blobs "
            "WHERE kind='credential' ORDER BY id"
        ).fetchall()
        assert len(rows) == 3
        # Move the secret of bots/o365/client_secret onto the other two rows, whole.
        src = rows[0]
        for dst in rows[1:]:
            db.execute("UPDATE vault_blobs SET nonce=?, ciphertext=?, wrapped_dek=? WHERE id=?",
                       (src[1], src[2], src[3], dst[0]))
    with pytest.raises(VaultIntegrityError):
        vault.get("bots", "o365", "password")          # same credential, other attribute
    with pytest.raises(VaultIntegrityError):
        vault.get("other", "o365", "client_secret")    # same names, other locker
    assert vault.get("bots", "o365", "client_secret").reveal() == values["client_secret"]


def test_swapping_blobs_between_keys_fails(vault: Vault, vault_path: Path) -> None:
    vault.put_blob("token_cache", "a", b"CANARY-a")
    vault.put_blob("token_cache", "b", b"CANARY-b")
    id_a, *fields_a = _row(vault_path, "token_cache", "a")
    id_b, *_ = _row(vault_path, "token_cache", "b")
    _set_sealed(vault_path, id_b, fields_a)
    with pytest.raises(VaultIntegrityError):
        vault.get_blob("token_cache", "b")
    # Renaming the row (same bytes, new identity) fails too.
    with sqlite3.connect(vault_path) as db:
        db.execute("UPDATE vault_blobs SET key='c' WHERE id=?", (id_a,))
    with pytest.raises(VaultIntegrityError):
        vault.get_blob("token_cache", "c")


def test_swapping_blobs_between_kinds_with_the_same_key_fails(
    vault: Vault, vault_path: Path
) -> None:
    # Both rows are at version 1 under one key name: only the kind tells them apart.
    vault.put_blob("token_cache", "k", b"CANARY-cache")
    vault.put_blob("controlroom", "k", b"CANARY-controlroom")
    _id, *fields = _row(vault_path, "token_cache", "k")
    other, *_ = _row(vault_path, "controlroom", "k")
    _set_sealed(vault_path, other, fields)
    with pytest.raises(VaultIntegrityError,
                       match="failed authentication: its data key was altered"):
        vault.get_blob("controlroom", "k")
    assert vault.get_blob("token_cache", "k") == b"CANARY-cache"


def test_an_older_value_sealed_into_the_current_row_fails(
    vault: Vault, vault_path: Path
) -> None:
    # The row keeps its current version (so the manifest agrees); only the sealed parts of
    # the value it replaced are put back: the version bound into them must refuse it.
    vault.put_blob("token_cache", "k", b"CANARY-old")
    row_id, *old = _row(vault_path, "token_cache", "k")
    assert vault.put_blob("token_cache", "k", b"CANARY-new") == 2
    _id, *new = _row(vault_path, "token_cache", "k")
    _set_sealed(vault_path, row_id, old)
    with pytest.raises(VaultIntegrityError,
                       match="failed authentication: its data key was altered"):
        vault.get_blob_with_version("token_cache", "k")
    _set_sealed(vault_path, row_id, new)
    assert vault.get_blob_with_version("token_cache", "k") == (b"CANARY-new", 2)


def testnonces_never_repeat_under_one_master_key() -> None:
    ring = Keyring({1: os.urandom(32)}, current=1)
    aad = record_aad("v", "blob", "k", 1)
    n = 100_000
    wrapnonces = set()
    recordnonces = set()
    for _ in range(n):
        rec = seal(ring, b"CANARY-n", aad)
        wrapnonces.add(rec.wrapped_dek[:12])
        recordnonces.add(rec.nonce)
    assert len(wrapnonces) == n
    assert len(recordnonces) == n


def test_same_plaintext_gives_differentciphertexts_and_round_trips() -> None:
    ring = Keyring({1: os.urandom(32)}, current=1)
    aad = record_aad("v", "blob", "k", 1)
    a, b = seal(ring, b"CANARY-same", aad), seal(ring, b"CANARY-same", aad)
    assert a.ciphertext != b.ciphertext and a.wrapped_dek != b.wrapped_dek
    assert b"CANARY-same" not in a.ciphertext
    assert open_sealed(ring, a, aad) == b"CANARY-same"
    with pytest.raises(VaultIntegrityError):
        open_sealed(ring, a, record_aad("v", "blob", "k", 2))  # another version


def test_integrity_and_lock_errors_say_what_happened(vault: Vault, vault_path: Path) -> None:
    vault.put_blob("token_cache", "k", b"CANARY-m")
    row_id, nonce, ciphertext, wrapped = _row(vault_path, "token_cache", "k")
    _set(vault_path, row_id, "wrapped_dek", wrapped[:-1])
    with pytest.raises(VaultIntegrityError) as err:
        vault.get_blob("token_cache", "k")
    assert str(err.value) == ("a vault record's wrapped data key has the wrong length (the file "
                              "was altered) Fix: restore the vault from a backup")
    _set(vault_path, row_id, "wrapped_dek", wrapped[:-1] + bytes([wrapped[-1] ^ 1]))
    with pytest.raises(VaultIntegrityError) as err:
        vault.get_blob("token_cache", "k")
    assert str(err.value) == (
        "a vault record failed authentication: its data key was altered or moved Fix: "
        "restore the vault from a backup; the stored record was tampered with")
    _set(vault_path, row_id, "wrapped_dek", wrapped)
    _set(vault_path, row_id, "nonce", nonce[:-1])
    with pytest.raises(VaultIntegrityError) as err:
        vault.get_blob("token_cache", "k")
    assert str(err.value) == ("a vault record's nonce has the wrong length (the file was "
                              "altered) Fix: restore the vault from a backup")
    _set(vault_path, row_id, "nonce", nonce)
    _set(vault_path, row_id, "ciphertext", bytes([ciphertext[0] ^ 1]) + ciphertext[1:])
    with pytest.raises(VaultIntegrityError) as err:
        vault.get_blob("token_cache", "k")
    assert str(err.value) == (
        "a vault record failed authentication: its ciphertext was altered or moved Fix: "
        "restore the vault from a backup; the stored record was tampered with")
    _set(vault_path, row_id, "ciphertext", ciphertext)
    assert vault.get_blob("token_cache", "k") == b"CANARY-m"
    vault.lock()
    with pytest.raises(VaultLockedError) as locked:
        vault.get_blob("token_cache", "k")
    assert str(locked.value) == ("the vault is locked Fix: unlock it with the passphrase or "
                                 "key first")


def test_a_row_from_another_vault_with_the_same_key_fails(tmp_path: Path) -> None:
    key = os.urandom(32)
    paths = [tmp_path / "a.db", tmp_path / "b.db"]
    for path, value in zip(paths, (b"CANARY-a", b"CANARY-b"), strict=True):
        with Vault.open(path, actor="alice") as v:
            v.initialize(key=key)
            v.put_blob("token_cache", "k", value)
    _id, *fields = _row(paths[0], "token_cache", "k")
    row_b, *_ = _row(paths[1], "token_cache", "k")
    _set_sealed(paths[1], row_b, fields)
    with Vault.open(paths[1], actor="alice") as v:
        v.unlock(key=key)
        with pytest.raises(VaultIntegrityError):
            v.get_blob("token_cache", "k")
