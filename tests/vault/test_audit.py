"""The audit log: every read recorded before the value is returned, never the value; a
read whose audit record cannot be written fails."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from m365bot.errors import VaultAccessDenied, VaultError
from m365bot.vault import AttributeSpec, Vault


def test_reads_are_audited_without_values(
    stocked: tuple[Vault, dict[str, str]], vault_path: Path, raw_key: bytes
) -> None:
    vault, values = stocked
    vault.get("bots", "o365", "client_secret")
    entry = vault.audit_log(limit=1)[0]
    assert (entry.actor, entry.action, entry.locker, entry.credential, entry.attribute,
            entry.outcome) == ("alice", "value.read", "bots", "o365", "client_secret", "ok")
    with Vault.open(vault_path, actor="mallory") as other:
        other.unlock(key=raw_key)
        with pytest.raises(VaultAccessDenied):
            other.get("bots", "o365", "password")
    denied = vault.audit_log(limit=1)[0]
    assert (denied.actor, denied.outcome, denied.attribute) == ("mallory", "denied", "password")
    with sqlite3.connect(vault_path) as db:
        dump = "\n".join(db.iterdump())
    audit_rows = [line for line in dump.splitlines() if "vault_audit" in line]
    assert len(audit_rows) > 4
    for v in values.values():
        assert v not in dump


def test_a_read_fails_when_its_audit_record_cannot_be_written(
    stocked: tuple[Vault, dict[str, str]], vault_path: Path
) -> None:
    vault, values = stocked
    with sqlite3.connect(vault_path) as db:
        db.execute("CREATE TRIGGER no_audit BEFORE INSERT ON vault_audit "
                   "BEGIN SELECT RAISE(ABORT, 'audit store is full'); END")
    result = None
    with pytest.raises(VaultError) as err:
        result = vault.get("bots", "o365", "client_secret")
    assert result is None
    assert err.value.message == (
        "the read was refused because its audit record could not be written (the vault "
        "database failed while reading a credential: IntegrityError: audit store is full)")
    assert err.value.advice == ("fix the vault database (disk full, read-only, or a trigger on "
                                "vault_audit) and retry")
    assert values["client_secret"] not in str(err.value)
    with sqlite3.connect(vault_path) as db:
        db.execute("DROP TRIGGER no_audit")
    assert vault.get("bots", "o365", "client_secret").reveal() == values["client_secret"]


def test_each_vault_action_logs_one_line_naming_it_never_the_value(
        vault: Vault, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="m365bot.vault")
    vault.create_locker("bots")
    vault.add_member("bots", "role:runners", "consumer")
    vault.set_credential("bots", "o365", {"client_secret": AttributeSpec("CANARY-log-1"),
                                          "tenant": AttributeSpec("CANARY-log-2")})
    vault.set_attribute("bots", "o365", "client_secret", "CANARY-log-3")
    vault.get("bots", "o365", "client_secret")
    assert [r.getMessage() for r in caplog.records if r.name == "m365bot.vault.lockers"] == [
        "vault locker bots created",
        "vault locker bots: role:runners is now consumer",
        "vault credential bots/o365 written (2 attributes)",
        "vault attribute bots/o365/client_secret written",
        "vault value bots/o365/client_secret read",
    ]
    assert "CANARY" not in caplog.text
    assert [(e.action, e.attribute, e.outcome) for e in vault.audit_log(limit=4)] == [
        ("value.read", "client_secret", "ok"), ("value.write", "client_secret", "ok"),
        ("value.write", "tenant", "ok"), ("value.write", "client_secret", "ok")]


def test_each_change_and_read_is_audited_with_who_what_and_where(vault: Vault) -> None:
    vault.create_locker("bots")
    vault.add_member("bots", "bob", "consumer")
    vault.set_credential("bots", "o365", {
        "secret": AttributeSpec("CANARY-audit-1"),
        "pin": AttributeSpec("CANARY-audit-2", user_provided=True)})
    bob, eve = vault.acting_as("bob"), vault.acting_as("eve")
    bob.set_attribute("bots", "o365", "pin", "CANARY-audit-3")
    bob.get("bots", "o365", "pin")
    with pytest.raises(VaultAccessDenied):
        eve.get("bots", "o365", "secret")
    vault.remove_member("bots", "bob")
    vault.delete_credential("bots", "o365")
    assert [(e.actor, e.action, e.locker, e.credential, e.attribute, e.subject, e.outcome)
            for e in vault.audit_log(locker="bots")] == [
        ("alice", "credential.delete", "bots", "o365", "", "", "ok"),
        ("alice", "member.remove", "bots", "", "", "bob", "ok"),
        ("eve", "value.read", "bots", "o365", "secret", "", "denied"),
        ("bob", "value.read", "bots", "o365", "pin", "bob", "ok"),
        ("bob", "value.write", "bots", "o365", "pin", "bob", "ok"),
        ("alice", "value.write", "bots", "o365", "pin", "alice", "ok"),
        ("alice", "value.write", "bots", "o365", "secret", "", "ok"),
        ("alice", "member.add", "bots", "", "", "bob=consumer", "ok"),
        ("alice", "locker.create", "bots", "", "", "", "ok"),
    ]
