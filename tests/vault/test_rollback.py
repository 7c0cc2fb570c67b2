"""Rolling one record back to an older copy of its own row is caught (the manifest of
record versions); restoring the whole file is a backup restore and reads as the backup."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from m365bot.errors import VaultIntegrityError
from m365bot.vault import AttributeSpec, Vault
from m365bot.vault.keys import make_verifier, verifier_aad

COLUMNS = ("version", "kek_version", "nonce", "ciphertext", "wrapped_dek")


def _sql(location: str, statement: str, **params: Any) -> list[Any]:
    url = location if "://" in location else f"sqlite:///{location}"
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _row(location: str, kind: str, key: str) -> dict[str, Any]:
    rows = _sql(location, f"SELECT {', '.join(COLUMNS)} FROM vault_blobs "
                "WHERE kind=:k AND key=:key", k=kind, key=key)
    return dict(zip(COLUMNS, rows[0], strict=True))


def _put_back(location: str, kind: str, key: str, row: dict[str, Any]) -> None:
    sets = ", ".join(f"{c}=:{c}" for c in COLUMNS)
    _sql(location, f"UPDATE vault_blobs SET {sets} WHERE kind=:kind AND key=:key",
         kind=kind, key=key, **row)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "v.db")
    return str(request.getfixturevalue("pg_url"))


def test_a_record_put_back_to_its_older_row_is_refused(location: str) -> None:
    key = os.urandom(32)
    with Vault.open(location, actor="alice") as v:
        v.initialize(key=key)
        v.create_locker("bots")
        v.set_credential("bots", "o365", {"client_secret": AttributeSpec("CANARY-old")})
        v.put_blob("token_cache", "k", b"CANARY-old-cache")
        (value_key,) = [k for (k,) in _sql(location, "SELECT key FROM vault_blobs "
                                           "WHERE kind='credential'")]
        old_value = _row(location, "credential", value_key)
        old_cache = _row(location, "token_cache", "k")
        v.set_attribute("bots", "o365", "client_secret", "CANARY-new")
        v.put_blob("token_cache", "k", b"CANARY-new-cache")
        replaced = _row(location, "credential", value_key)
    _put_back(location, "credential", value_key, old_value)
    _put_back(location, "token_cache", "k", old_cache)
    with Vault.open(location, actor="alice") as v:
        v.unlock(key=key)
        with pytest.raises(VaultIntegrityError) as err:
            v.get("bots", "o365", "client_secret")
        assert "manifest says version 2" in err.value.message
        assert "restore the whole vault file" in err.value.advice
        assert "CANARY" not in str(err.value)
        with pytest.raises(VaultIntegrityError, match="at version 1, but the vault's manifest"):
            v.get_blob_with_version("token_cache", "k")
        # The refused read is audited; writing the value again repairs the record.
        assert v.audit_log(limit=1)[0].outcome == "integrity-error"
        v.set_attribute("bots", "o365", "client_secret", "CANARY-newer")
        assert v.get("bots", "o365", "client_secret").reveal() == "CANARY-newer"
        # The repair took a version number never used before: the row it replaced (the
        # last one the manifest had pinned) put back is refused too.
        _put_back(location, "credential", value_key, replaced)
        with pytest.raises(VaultIntegrityError, match="at version 2, but the vault's manifest"):
            v.get("bots", "o365", "client_secret")
        # A deleted row is no "absent" value either.
        _sql(location, "DELETE FROM vault_blobs WHERE kind='token_cache'")
        with pytest.raises(VaultIntegrityError, match="token_cache/k is missing"):
            v.get_blob("token_cache", "k")


def test_a_deleted_manifest_is_tampering(vault: Vault, vault_path: Path, raw_key: bytes) -> None:
    vault.put_blob("token_cache", "k", b"CANARY-m")
    vault.close()
    _sql(str(vault_path), "DELETE FROM vault_blobs WHERE kind='vault.manifest'")
    with Vault.open(vault_path, actor="alice") as v:
        v.unlock(key=raw_key)
        with pytest.raises(VaultIntegrityError) as err:
            v.get_blob("token_cache", "k")
        assert err.value.message == ("the vault's manifest of record versions is missing (the "
                                     "file was altered)")
        assert err.value.advice == "restore the whole vault file from your latest backup"


def test_restoring_the_whole_file_is_a_backup_restore(vault: Vault, vault_path: Path,
                                                       raw_key: bytes) -> None:
    vault.put_blob("token_cache", "k", b"CANARY-backup")
    vault.close()
    backup = vault_path.with_name("backup.db")
    shutil.copy2(vault_path, backup)
    with Vault.open(vault_path, actor="alice") as v:
        v.unlock(key=raw_key)
        v.put_blob("token_cache", "k", b"CANARY-after")
    shutil.copy2(backup, vault_path)
    with Vault.open(vault_path, actor="alice") as v:
        v.unlock(key=raw_key)
        assert v.get_blob_with_version("token_cache", "k") == (b"CANARY-backup", 1)


def test_a_vault_from_before_the_manifest_gets_one_at_its_first_unlock(
        vault: Vault, vault_path: Path, raw_key: bytes) -> None:
    vault.put_blob("token_cache", "k", b"CANARY-legacy-1")
    vault.put_blob("token_cache", "k", b"CANARY-legacy-2")
    old = _row(str(vault_path), "token_cache", "k")
    vault.put_blob("token_cache", "k", b"CANARY-legacy-3")
    vault.close()
    # What a vault written before the manifest looks like: no manifest, unmarked verifier.
    (vault_id,) = _sql(str(vault_path), "SELECT vault_id FROM vault_meta")[0]
    _sql(str(vault_path), "DELETE FROM vault_blobs WHERE kind='vault.manifest'")
    _sql(str(vault_path), "UPDATE vault_keys SET verifier=:v WHERE version=1",
         v=make_verifier(raw_key, verifier_aad(vault_id, 1, pinned=False)))
    with Vault.open(vault_path, actor="alice") as v:
        v.unlock(key=raw_key)
        assert v.get_blob("token_cache", "k") == b"CANARY-legacy-3"
    _put_back(str(vault_path), "token_cache", "k", old)
    with Vault.open(vault_path, actor="alice") as v:
        v.unlock(key=raw_key)
        with pytest.raises(VaultIntegrityError):
            v.get_blob("token_cache", "k")


def test_the_cli_reports_a_rolled_back_value_on_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, M365BOT_HOME=str(home), PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("M365BOT_VAULT", None)
    env["M365BOT_VAULT_KEY"] = "A" * 43 + "="

    def m365bot(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "m365bot", "vault", *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=120)

    assert m365bot("init").returncode == 0
    assert m365bot("locker", "create", "bots").returncode == 0
    assert m365bot("set", "bots", "o365", "pw", stdin="CANARY-cli-old").returncode == 0
    (value_key,) = [k for (k,) in _sql(str(home / "vault.db"),
                                       "SELECT key FROM vault_blobs WHERE kind='credential'")]
    old = _row(str(home / "vault.db"), "credential", value_key)
    assert m365bot("set", "bots", "o365", "pw", stdin="CANARY-cli-new").returncode == 0
    _put_back(str(home / "vault.db"), "credential", value_key, old)
    got = m365bot("get", "bots", "o365", "pw", "--reveal")
    assert got.returncode == 2 and got.stdout == ""
    assert got.stderr.startswith("Error: the vault record credential/") and " Fix: " in got.stderr
    assert len(got.stderr.strip().splitlines()) == 1 and "CANARY" not in got.stderr


def test_an_old_unmarked_verifier_put_back_does_not_reset_the_manifest(
        vault: Vault, vault_path: Path, raw_key: bytes) -> None:
    vault.put_blob("token_cache", "k", b"CANARY-v1")
    old = _row(str(vault_path), "token_cache", "k")
    vault.put_blob("token_cache", "k", b"CANARY-v2")
    vault.close()
    # An attacker with a copy of the key row from before the manifest puts it back, to
    # make the next unlock pin the versions again, and rolls a record back.
    (vault_id,) = _sql(str(vault_path), "SELECT vault_id FROM vault_meta")[0]
    _sql(str(vault_path), "UPDATE vault_keys SET verifier=:v WHERE version=1",
         v=make_verifier(raw_key, verifier_aad(vault_id, 1, pinned=False)))
    _put_back(str(vault_path), "token_cache", "k", old)
    with Vault.open(vault_path, actor="alice") as v:
        v.unlock(key=raw_key)
        with pytest.raises(VaultIntegrityError, match="manifest says version 2"):
            v.get_blob("token_cache", "k")
