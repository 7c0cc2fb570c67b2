"""Sealed by default: nothing decrypts before unlock; wrong passphrases and keys give a
clear error; key files and M365BOT_VAULT_KEY."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from m365bot.errors import ConfigError, VaultError, VaultLockedError
from m365bot.vault import AttributeSpec, MasterKeySource, Vault


def test_nothing_decrypts_before_unlock(
    stocked: tuple[Vault, dict[str, str]], vault_path: Path, raw_key: bytes
) -> None:
    vault, values = stocked
    vault.put_blob("token_cache", "k", b"CANARY-blob")
    other = Vault.open(vault_path, actor="alice")
    try:
        assert not other.unlocked
        calls = [
            lambda: other.get("bots", "o365", "client_secret"),
            lambda: other.get_blob("token_cache", "k"),
            lambda: other.put_blob("token_cache", "k", b"x"),
            lambda: other.set_attribute("bots", "o365", "client_secret", "CANARY-w"),
            lambda: other.set_credential("bots", "n", {"a": AttributeSpec("CANARY-n")}),
            lambda: other.create_locker("new"),
            lambda: other.rotate_master_key(key=os.urandom(32)),
            lambda: other.audit_log(),
        ]
        for call in calls:
            with pytest.raises(VaultLockedError) as err:
                call()
            assert "unlock" in str(err.value)
        # Metadata (names, never values) is readable while locked.
        assert [c.name for c in other.list_credentials("bots")] == ["o365"]
        other.unlock(key=raw_key)
        assert other.get("bots", "o365", "client_secret").reveal() == values["client_secret"]
        other.lock()
        with pytest.raises(VaultLockedError):
            other.get("bots", "o365", "client_secret")
    finally:
        other.close()


def test_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    with Vault.open(path, actor="alice") as v:
        v.initialize(passphrase="CANARY-right-pass")
        v.create_locker("bots")
        v.set_credential("bots", "c", {"a": AttributeSpec("CANARY-val")})
    with Vault.open(path, actor="alice") as v:
        with pytest.raises(VaultError) as err:
            v.unlock(passphrase="CANARY-wrong-pass")
        assert str(err.value).startswith("wrong passphrase for this vault")
        assert "CANARY" not in str(err.value) and "CANARY" not in repr(err.value)
        assert not v.unlocked
        with pytest.raises(VaultLockedError):
            v.get("bots", "c", "a")
        with pytest.raises(VaultError, match="protected by a passphrase"):
            v.unlock(key=os.urandom(32))
        v.unlock(passphrase="CANARY-right-pass")
        assert v.get("bots", "c", "a").reveal() == "CANARY-val"


def test_argon2id_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    with Vault.open(path, actor="alice") as v:
        v.initialize(passphrase="pw", kdf="argon2id",
                     kdf_params={"memory_kib": 19 * 1024, "iterations": 2, "lanes": 1})
        v.put_blob("t", "k", b"CANARY-argon")
    with Vault.open(path, actor="alice") as v:
        with pytest.raises(VaultError, match="wrong passphrase"):
            v.unlock(passphrase="nope")
        v.unlock(passphrase="pw")
        assert v.get_blob("t", "k") == b"CANARY-argon"


def test_weakened_kdf_parameters_are_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "v.db"
    with Vault.open(path, actor="alice") as v:
        v.initialize(passphrase="pw")
    with sqlite3.connect(path) as db:
        db.execute("""UPDATE vault_keys SET params='{"n": 2, "p": 1, "r": 8}'""")
    with Vault.open(path, actor="alice") as v, pytest.raises(VaultError, match="weaker"):
        v.unlock(passphrase="pw")


def test_key_file_and_environment(tmp_path: Path) -> None:
    key = os.urandom(32)
    f = tmp_path / "vault.key"
    f.write_text(base64.b64encode(key).decode() + "\n")
    f.chmod(0o644)
    with pytest.raises(ConfigError) as err:
        MasterKeySource.from_key_file(f)
    assert err.value.field == "key_file" and "chmod 600" in str(err.value)
    f.chmod(0o600)
    assert MasterKeySource.from_key_file(f).raw_key() == key
    src = MasterKeySource.from_environ({"M365BOT_VAULT_KEY": base64.b64encode(key).decode()})
    assert src is not None and src.raw_key() == key
    assert MasterKeySource.from_environ({}) is None
    with pytest.raises(ConfigError) as err:
        MasterKeySource.from_environ({"M365BOT_VAULT_KEY": "CANARY-notakey"})
    assert err.value.field == "M365BOT_VAULT_KEY" and "CANARY" not in str(err.value)
    assert "CANARY" not in repr(MasterKeySource.from_passphrase("CANARY-pp"))
    with Vault.open(tmp_path / "v.db", actor="a") as v:
        v.initialize(key=key)
        with pytest.raises(VaultError, match="wrong key"):
            v.unlock(key=os.urandom(32))
        v.unlock(key=base64.b64encode(key).decode())
        assert v.unlocked


def test_tampered_vault_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    with Vault.open(path, actor="a") as v:
        v.initialize(key=os.urandom(32))
    data = bytearray(path.read_bytes())
    data[0:16] = b"garbage garbage!"
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(ConfigError) as err:
        Vault.open(path, actor="a")
    assert err.value.field == "vault"
    assert "the vault file is damaged" in str(err.value)
    assert "restore" in err.value.advice
    assert path.read_bytes() == before and stat.S_IMODE(path.stat().st_mode) == 0o600
