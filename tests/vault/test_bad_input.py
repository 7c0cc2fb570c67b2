"""Bad input to the Python API is one ConfigError naming the field (or a
VaultIntegrityError naming the damaged table), never a stray exception, and changes nothing."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from m365bot.errors import (
    ConfigError,
    GraphError,
    NotFoundError,
    VaultError,
    VaultIntegrityError,
    VaultNotFoundError,
)
from m365bot.vault import AttributeSpec, MasterKeySource, Vault


def _call(fn: Any, *args: Any, **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        fn(*args, **kwargs)
    return err.value


def test_wrong_types_and_values_name_the_field(stocked: tuple[Vault, dict[str, str]],
                                               vault_path: Path) -> None:
    vault, values = stocked
    assert _call(vault.unlock, key=5).field == "key"  # type: ignore[arg-type]
    assert _call(vault.unlock, passphrase=5).field == "passphrase"  # type: ignore[arg-type]
    assert _call(Vault.open, vault_path, actor="a", roles="admin").field == "roles"
    assert _call(Vault.open, vault_path, actor="a", roles=("ok", "")).field == "role"
    assert _call(Vault.open, vault_path, actor="a", roles=5).field == "roles"  # type: ignore[arg-type]
    for limit in (-1, 0, "5", True):
        assert _call(vault.audit_log, limit=limit).field == "limit"
    for value in ("", 5, None):
        assert _call(vault.set_attribute, "bots", "o365", "password", value).field == "value"
    assert _call(vault.set_attribute, "bots", "o365", "password", "\udcff").field == "value"
    assert _call(vault.set_credential, "bots", "o365",
                 {"password": AttributeSpec("")}).field == "value"
    assert _call(vault.put_blob, "t", "k", b"x", if_version=-1).field == "if_version"
    for kind, key, data, shown in [
        ("t", "k", "text", ("data", "blob data must be bytes", "")),
        ("credential", "k", b"x", ("kind", "the blob kind 'credential' is reserved or empty",
                                   "use your module's own kind, e.g. 'token_cache'")),
        ("vault.keys", "k", b"x", ("kind", "the blob kind 'vault.keys' is reserved or empty",
                                   "use your module's own kind, e.g. 'token_cache'")),
        ("t", "", b"x", ("key", "the blob key must be 1-500 characters", "")),
        ("t", "k" * 501, b"x", ("key", "the blob key must be 1-500 characters", "")),
    ]:
        err = _call(vault.put_blob, kind, key, data)
        assert (err.field, err.message, err.advice) == shown
    err = _call(vault.initialize, passphrase="CANARY-p", kdf="md5")  # type: ignore[arg-type]
    assert (err.field, err.message, err.advice) == (
        "kdf", "unknown key derivation 'md5'", "use kdf='scrypt' or kdf='argon2id'")
    # Nothing changed.
    assert vault.get("bots", "o365", "password").reveal() == values["password"]


def _bad_name(what: str) -> tuple[str, str, str]:
    """What a ConfigError for the name 'a/b' of a locker, credential or attribute says."""
    return (what, f"the {what} name 'a/b' is not valid",
            f"use 1-200 characters for the {what} name, without '/', control characters or "
            "surrounding spaces")


def test_locker_operations_name_the_bad_field_and_say_what_to_do(
        stocked: tuple[Vault, dict[str, str]]) -> None:
    vault, values = stocked
    spec = {"a": AttributeSpec("CANARY-spec")}
    for (call, *args), shown in [
        ((vault.add_member, "role:", "consumer"),
         ("member", "the member 'role:' names no role",
          "write a role member as role:NAME, for example role:bots")),
        ((vault.add_member, "bob", "admin"),
         ("role", "unknown locker role 'admin'",
          "use one of: owner, manager, participant, consumer")),
        ((vault.add_member, "bob", "consumer"), None),
        ((vault.remove_member, "bob"), None),
        ((vault.set_attribute, "o365", "password", "CANARY-v"), None),
        ((vault.set_credential, "c", spec), None),
        ((vault.delete_credential, "o365"), None),
        ((vault.list_credentials,), None),
        ((vault.get, "o365", "password"), None),
        ((vault.set_credential, "c", {}),
         ("attributes", "a credential needs at least one attribute", "")),
        ((vault.set_credential, "c", {f"a{i}": AttributeSpec() for i in range(51)}),
         ("attributes", "a credential has at most 50 attributes", "")),
        ((vault.set_credential, "c", {"a": "CANARY-plain"}),
         ("attributes", "attribute 'a' must be an AttributeSpec, not str",
          "pass {'name': AttributeSpec(value)}")),
        ((vault.set_attribute, "o365", "password", 5),
         ("value", "the value must be a str or Secret, not int", "pass the value as text")),
        ((vault.set_attribute, "o365", "password", ""),
         ("value", "the value is empty", "give a non-empty value (define an attribute "
          "without a value with AttributeSpec() / --no-value)")),
        ((vault.set_attribute, "o365", "password", "\udcff"),
         ("value", "the value is not valid UTF-8 text",
          "give the value as UTF-8 text (on stdin: UTF-8 bytes)")),
    ]:
        # None: the locker name is the bad one (every operation checks it the same way).
        where = ("bots",) if shown else ("a/b",)
        err = _call(call, *where, *args)
        assert (err.field, err.message, err.advice) == (shown or _bad_name("locker"))
    for call, args, what in [
        (vault.set_attribute, ("a/b", "password", "CANARY-v"), "credential"),
        (vault.set_attribute, ("o365", "a/b", "CANARY-v"), "attribute"),
        (vault.set_credential, ("a/b", spec), "credential"),
        (vault.set_credential, ("c", {"a/b": AttributeSpec()}), "attribute"),
        (vault.get, ("a/b", "password"), "credential"),
        (vault.get, ("o365", "a/b"), "attribute"),
    ]:
        err = _call(call, "bots", *args)
        assert (err.field, err.message, err.advice) == _bad_name(what)
    # At most 50 attributes: 50 are fine.
    vault.set_credential("bots", "wide", {f"a{i}": AttributeSpec() for i in range(50)})
    assert len(vault.list_credentials("bots")[1].attributes) == 50
    with pytest.raises(VaultError) as err:
        vault.create_locker("bots")
    assert (err.value.message, err.value.advice) == ("a locker named 'bots' already exists",
                                                     "pick another name")
    # Nothing else changed.
    assert [lk.members for lk in vault.list_lockers()] == [{"alice": "owner"}]
    assert [c.name for c in vault.list_credentials("bots")] == ["o365", "wide"]
    assert vault.get("bots", "o365", "password").reveal() == values["password"]


@pytest.mark.parametrize("name", ["bot\n2026-01-01 00:00:00\tadmin", "bot\r", "a\x1b[2J",
                                  " bot", "x" * 201, "\u2028"])
def test_actor_and_role_names_with_control_characters_are_refused(vault_path: Path,
                                                                  name: str) -> None:
    for what, err in [("actor", _call(Vault.open, vault_path, actor=name)),
                      ("role", _call(Vault.open, vault_path, actor="bot", roles=(name,)))]:
        assert (err.field, err.message, err.advice) == (
            what, f"the {what} name {name!r} is not valid",
            f"use 1-200 characters for the {what} name, without control characters (such as "
            "newlines) or surrounding spaces")


def test_a_role_member_needs_a_role_name(stocked: tuple[Vault, dict[str, str]]) -> None:
    vault, _ = stocked
    for member in ("role:", "role: "):
        assert _call(vault.add_member, "bots", member, "consumer").field == "member"
    assert vault.list_lockers()[0].members == {"alice": "owner"}


@pytest.mark.parametrize("params", ["{not json", "[]", '{"n": "many"}', '{"n": 32768}',
                                    '{"n": 40000, "r": 8, "p": 1}', "null"])
def test_a_tampered_key_table_is_an_integrity_error_naming_it(tmp_path: Path,
                                                             params: str) -> None:
    path = tmp_path / "v.db"
    with Vault.open(path, actor="a") as v:
        v.initialize(passphrase="CANARY-pp")
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE vault_keys SET params=:p"), {"p": params})
    engine.dispose()
    with Vault.open(path, actor="a") as v, pytest.raises(VaultIntegrityError) as err:
        v.unlock(passphrase="CANARY-pp")
    assert "key table" in err.value.message and "backup" in err.value.advice


def test_vault_and_graph_not_found_are_separate(stocked: tuple[Vault, dict[str, str]]) -> None:
    vault, _ = stocked
    with pytest.raises(VaultNotFoundError) as err:
        vault.get("bots", "o365", "nope")
    assert not isinstance(err.value, GraphError)
    assert not issubclass(NotFoundError, VaultError)
    with pytest.raises(NotFoundError):  # a Graph 404 passes an 'except VaultError'
        try:
            raise NotFoundError("item not found", status=404, code="ErrorItemNotFound")
        except VaultError:
            pytest.fail("a Graph 404 was caught as a vault error")


def test_a_folder_or_foreign_file_at_the_vault_path_is_refused_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    err = _call(Vault.open, folder, actor="a")
    assert err.field == "vault" and "--vault" in err.message
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    notes = tmp_path / "notes.txt"
    notes.write_text("CANARY-notes\n")
    os.chmod(notes, 0o644)
    err = _call(Vault.open, notes, actor="a")
    assert err.field == "vault" and "not a vault file" in err.message
    assert stat.S_IMODE(notes.stat().st_mode) == 0o644 and notes.read_text() == "CANARY-notes\n"
    other = tmp_path / "other.db"
    engine = create_engine(f"sqlite:///{other}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE songs (title TEXT)"))
    engine.dispose()
    os.chmod(other, 0o644)
    err = _call(Vault.open, other, actor="a")
    assert (err.field, err.message, err.advice) == (
        "vault", "the file given to --vault is another program's SQLite database, not a vault",
        "give --vault the path of a vault file, or a new path")
    assert stat.S_IMODE(other.stat().st_mode) == 0o644
    # A new vault file is created 0600; an existing vault keeps the mode it has.
    new = tmp_path / "new" / "v.db"
    with Vault.open(new, actor="a") as v:  # 'vault init' prints this path
        assert v.path == new and repr(v) == f"<Vault {new} actor='a' locked>"
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    os.chmod(new, 0o640)
    Vault.open(new, actor="a").close()
    assert stat.S_IMODE(new.stat().st_mode) == 0o640


def test_a_vault_path_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "vault.db"
    with socket.socket(socket.AF_UNIX) as sock:  # exists, is no folder, and open() fails
        sock.bind(str(path))
        err = _call(Vault.open, path, actor="a")
    assert (err.field, err.message, err.advice) == (
        "vault", f"cannot read --vault {path}: No such device or address",
        "check the path and its permissions")


def test_an_unknown_database_url_is_a_config_error() -> None:
    for url in ("bogus://x", "mysql+nosuchdriver://h/db"):
        err = _call(Vault.open, url, actor="a")
        assert err.field == "vault" and "--vault" in err.message
    err = _call(Vault.open, "mysql://vault@db.example/vault", actor="a")
    assert "mysql is not supported; use SQLite or PostgreSQL" in err.message
    for memory in ("sqlite://", "sqlite:///:memory:"):  # the vault's secrets would be lost
        err = _call(Vault.open, memory, actor="a")
        assert err.field == "vault" and "in-memory database is lost" in err.message


def test_key_sources_explain_what_is_wrong(tmp_path: Path) -> None:
    missing = tmp_path / "nope.key"
    err = _call(MasterKeySource.from_key_file, missing)
    assert err.field == "key_file" and f"cannot read the vault key file {missing}" in err.message
    loose = tmp_path / "loose.key"
    loose.write_text(base64.b64encode(os.urandom(32)).decode())
    loose.chmod(0o640)
    err = _call(MasterKeySource.from_key_file, loose)
    assert "readable by other users (mode 0640)" in err.message
    assert err.advice == f"run: chmod 600 {loose}"
    err = _call(MasterKeySource.from_passphrase, 5)
    assert err.field == "passphrase" and "not int" in err.message
    assert "empty" in _call(MasterKeySource.from_passphrase, "").message
