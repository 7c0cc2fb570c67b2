"""Locker roles as in Automation Anywhere: owner, manager, participant, consumer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from m365bot.errors import ConfigError, VaultAccessDenied, VaultError, VaultNotFoundError
from m365bot.vault import AttributeSpec, Vault


@pytest.fixture
def as_user(vault_path: Path, raw_key: bytes) -> Iterator:
    opened: list[Vault] = []

    def make(actor: str, roles: tuple[str, ...] = ()) -> Vault:
        v = Vault.open(vault_path, actor=actor, roles=roles)
        v.unlock(key=raw_key)
        opened.append(v)
        return v

    yield make
    for v in opened:
        v.close()


def test_roles(stocked: tuple[Vault, dict[str, str]], as_user) -> None:  # type: ignore[no-untyped-def]
    owner, values = stocked
    owner.set_credential("bots", "mail", {
        "host": AttributeSpec("CANARY-host", masked=False),
        "password": AttributeSpec(None, user_provided=True),
    })
    owner.add_member("bots", "mgr", "manager")
    owner.add_member("bots", "pat", "participant")
    owner.add_member("bots", "role:runners", "consumer")
    mgr, pat = as_user("mgr"), as_user("pat")
    bot, stranger = as_user("bot1", ("runners",)), as_user("eve")

    # Strangers see nothing and read nothing.
    assert stranger.list_lockers() == []
    with pytest.raises(VaultAccessDenied):
        stranger.get("bots", "o365", "client_secret")
    # Consumers (by role) read standard values and fill in their own user-provided ones.
    assert bot.get("bots", "o365", "client_secret").reveal() == values["client_secret"]
    with pytest.raises(VaultNotFoundError, match="has no value for you"):
        bot.get("bots", "mail", "password")
    bot.set_attribute("bots", "mail", "password", "CANARY-bot1-pw")
    assert bot.get("bots", "mail", "password").reveal() == "CANARY-bot1-pw"
    with pytest.raises(VaultNotFoundError):
        owner.get("bots", "mail", "password")  # the owner has not given theirs
    with pytest.raises(VaultAccessDenied):
        bot.set_attribute("bots", "o365", "client_secret", "CANARY-nope")
    with pytest.raises(VaultAccessDenied):
        bot.set_credential("bots", "x", {"a": AttributeSpec("CANARY-x")})
    with pytest.raises(VaultAccessDenied):
        bot.add_member("bots", "eve", "consumer")
    # Managers add consumers only.
    mgr.add_member("bots", "eve", "consumer")
    for role in ("owner", "manager", "participant"):
        with pytest.raises(VaultAccessDenied):
            mgr.add_member("bots", "zed", role)
    mgr.set_attribute("bots", "o365", "client_secret", "CANARY-rotated")
    # Participants add their own credentials and see only those.
    pat.set_credential("bots", "mine", {"token": AttributeSpec("CANARY-pat")})
    assert [c.name for c in pat.list_credentials("bots")] == ["mine"]
    with pytest.raises(VaultAccessDenied):
        pat.get("bots", "o365", "client_secret")
    with pytest.raises(VaultAccessDenied):
        pat.set_credential("bots", "o365", {"client_secret": AttributeSpec("CANARY-hijack")})
    assert owner.get("bots", "o365", "client_secret").reveal() == "CANARY-rotated"
    assert {c.name for c in owner.list_credentials("bots")} == {"mail", "mine", "o365"}
    roles = {lk.name: lk.role for lk in bot.list_lockers()}
    assert roles == {"bots": "consumer"}


def test_locker_keeps_an_owner_and_names_are_checked(
    stocked: tuple[Vault, dict[str, str]]
) -> None:
    owner, _ = stocked
    with pytest.raises(VaultError, match="at least one owner"):
        owner.remove_member("bots", "alice")
    with pytest.raises(VaultError, match="already exists"):
        owner.create_locker("BOTS")  # names are case-insensitive
    with pytest.raises(ConfigError) as err:
        owner.create_locker("a/b")
    assert err.value.field == "locker"
    with pytest.raises(ConfigError) as err:
        owner.add_member("bots", "bob", "admin")
    assert err.value.field == "role"
    with pytest.raises(VaultNotFoundError, match="no locker named"):
        owner.get("nope", "o365", "client_secret")
    with pytest.raises(VaultNotFoundError, match="no attribute"):
        owner.get("bots", "o365", "nope")
    infos = owner.list_credentials("bots")[0].attributes
    assert {a.name: a.has_value for a in infos} == {"client_secret": True, "password": True}
    assert "CANARY" not in repr(owner.list_credentials("bots"))


def test_delete_credential_removes_its_values_and_nothing_else(  # type: ignore[no-untyped-def]
        stocked: tuple[Vault, dict[str, str]], as_user) -> None:
    owner, values = stocked
    owner.set_credential("bots", "mail", {"password": AttributeSpec(None, user_provided=True)})
    owner.add_member("bots", "pat", "participant")
    owner.add_member("bots", "bot", "consumer")
    pat, bot = as_user("pat"), as_user("bot")
    bot.set_attribute("bots", "mail", "password", "CANARY-bot-own")
    pat.set_credential("bots", "mine", {"token": AttributeSpec("CANARY-pat")})
    owner.put_blob("token_cache", "k", b"CANARY-cache")
    with pytest.raises(VaultAccessDenied):
        bot.delete_credential("bots", "o365")
    with pytest.raises(VaultAccessDenied):
        pat.delete_credential("bots", "o365")
    owner.delete_credential("bots", "mail")
    pat.delete_credential("bots", "mine")
    assert [c.name for c in owner.list_credentials("bots")] == ["o365"]
    with pytest.raises(VaultNotFoundError):
        bot.get("bots", "mail", "password")
    # Everything else still reads, and a new credential of the same name starts empty.
    assert owner.get("bots", "o365", "client_secret").reveal() == values["client_secret"]
    assert owner.get_blob("token_cache", "k") == b"CANARY-cache"
    owner.set_credential("bots", "mail", {"password": AttributeSpec(None, user_provided=True)})
    with pytest.raises(VaultNotFoundError, match="has no value for you"):
        bot.get("bots", "mail", "password")
    assert [(e.actor, e.action, e.credential) for e in owner.audit_log(limit=20)
            if e.action == "credential.delete"] == [("pat", "credential.delete", "mine"),
                                                    ("alice", "credential.delete", "mail")]


def test_a_view_acts_as_another_user_on_the_same_keys_and_closing_it_keeps_the_vault_open(
        stocked: tuple[Vault, dict[str, str]]) -> None:
    owner, values = stocked
    owner.add_member("bots", "role:runners", "consumer")
    bot = owner.acting_as("Bot1", roles=("runners",))
    assert bot.actor == "bot1" and [lk.role for lk in bot.list_lockers()] == ["consumer"]
    assert bot.get("bots", "o365", "client_secret").reveal() == values["client_secret"]
    stranger = owner.acting_as("eve")
    assert stranger.list_lockers() == []
    with pytest.raises(VaultAccessDenied):
        stranger.get("bots", "o365", "client_secret")
    bot.close()
    stranger.lock()
    assert owner.unlocked  # a view never locks the vault it came from
    assert owner.get("bots", "o365", "password").reveal() == values["password"]
    assert any(e.actor == "bot1" and e.action == "value.read" for e in owner.audit_log())
