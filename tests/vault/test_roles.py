"""Locker roles as in Automation Anywhere: owner, manager, participant, consumer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from m365bot.errors import ConfigError, VaultAccessDenied, VaultError, VaultNotFoundError
from m365bot.vault import AttributeSpec, Vault
from m365bot.vault.types import AttributeInfo, CredentialInfo


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


ASK_OWNER = "ask a locker owner to add you with a role that allows it"


def _denied(call, *args) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """What a refused caller reads: the message and the fix."""
    with pytest.raises(VaultAccessDenied) as err:
        call(*args)
    return err.value.message, err.value.advice


def _attributes(vault: Vault, credential: str) -> tuple[AttributeInfo, ...]:
    """What ``vault list``/``attributes`` shows the caller for one credential of 'bots'."""
    (info,) = [c for c in vault.list_credentials("bots") if c.name == credential]
    return info.attributes


def test_roles(stocked: tuple[Vault, dict[str, str]], as_user) -> None:  # type: ignore[no-untyped-def]
    owner, values = stocked
    owner.set_credential("bots", "mail", {
        "host": AttributeSpec("CANARY-host", masked=False),
        "password": AttributeSpec(None, user_provided=True, description="your mail password"),
    })
    owner.add_member("bots", "mgr", "manager")
    owner.add_member("bots", "pat", "participant")
    owner.add_member("bots", "role:runners", "consumer")
    mgr, pat = as_user("mgr"), as_user("pat")
    bot, stranger = as_user("bot1", ("runners",)), as_user("eve")

    # Strangers see nothing and read nothing.
    assert stranger.list_lockers() == []
    assert _denied(stranger.get, "bots", "o365", "client_secret") == (
        "'eve' may not read credentials in locker 'bots' (role: not a member)", ASK_OWNER)
    assert _denied(stranger.set_attribute, "bots", "mail", "password", "CANARY-eve") == (
        "'eve' may not use credentials in locker 'bots' (role: not a member)", ASK_OWNER)
    assert _denied(stranger.list_credentials, "bots") == (
        "'eve' may not list credentials in locker 'bots' (role: not a member)", ASK_OWNER)
    # Consumers (by role) read standard values and fill in their own user-provided ones.
    assert bot.get("bots", "o365", "client_secret").reveal() == values["client_secret"]
    with pytest.raises(VaultNotFoundError, match="has no value for you"):
        bot.get("bots", "mail", "password")
    bot.set_attribute("bots", "mail", "password", "CANARY-bot1-pw")
    assert bot.get("bots", "mail", "password").reveal() == "CANARY-bot1-pw"
    with pytest.raises(VaultNotFoundError):
        owner.get("bots", "mail", "password")  # the owner has not given theirs
    # Each user sees whether they gave their own user-provided value.
    for who, has_own in ((bot, True), (owner, False)):
        assert _attributes(who, "mail") == (
            AttributeInfo("host", False, False, True, ""),
            AttributeInfo("password", True, True, has_own, "your mail password"))
    assert _denied(bot.set_attribute, "bots", "o365", "client_secret", "CANARY-nope") == (
        "'bot1' may not change standard attribute 'client_secret' of bots/o365 "
        "(role: consumer)",
        "owners and managers set standard values; consumers fill in user-provided ones")
    assert _denied(bot.set_credential, "bots", "x", {"a": AttributeSpec("CANARY-x")}) == (
        "'bot1' may not write credentials in locker 'bots' (role: consumer)", ASK_OWNER)
    assert _denied(bot.add_member, "bots", "eve", "consumer") == (
        "'bot1' may not add members in locker 'bots' (role: consumer)", ASK_OWNER)
    # Managers add consumers only.
    mgr.add_member("bots", "eve", "consumer")
    for role in ("owner", "manager", "participant"):
        assert _denied(mgr.add_member, "bots", "zed", role) == (
            "a manager may add only consumers to locker 'bots'",
            "ask a locker owner to add owners, managers or participants")
    assert _denied(mgr.remove_member, "bots", "eve") == (
        "'mgr' may not remove members in locker 'bots' (role: manager)", ASK_OWNER)
    mgr.set_attribute("bots", "o365", "client_secret", "CANARY-rotated")
    # Participants add their own credentials and see only those.
    pat.set_credential("bots", "mine", {"token": AttributeSpec("CANARY-pat")})
    assert [c.name for c in pat.list_credentials("bots")] == ["mine"]
    assert _denied(pat.get, "bots", "o365", "client_secret") == (
        "credential 'o365' belongs to another participant",
        "participants may read only their own credentials")
    assert _denied(pat.set_credential, "bots", "o365",
                   {"client_secret": AttributeSpec("CANARY-hijack")}) == (
        "credential 'o365' in locker 'bots' belongs to another participant",
        "participants may change only their own credentials")
    assert _denied(pat.set_attribute, "bots", "o365", "client_secret", "CANARY-hijack") == (
        "'pat' may not change standard attribute 'client_secret' of bots/o365 "
        "(role: participant)",
        "owners and managers set standard values; consumers fill in user-provided ones")
    pat.set_attribute("bots", "mine", "token", "CANARY-pat-2")  # their own: allowed
    assert pat.get("bots", "mine", "token").reveal() == "CANARY-pat-2"
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
    owner.set_credential("bots", "spare", {"pin": AttributeSpec()})
    for args, shown in [
        (("bots", "spare", "pin"),
         ("attribute 'pin' of bots/spare has no value",
          "set it with 'm365bot vault set bots spare pin'")),
        (("nope", "o365", "client_secret"),
         ("no locker named 'nope'", "check the locker name with 'm365bot vault list'")),
        (("bots", "nope", "client_secret"),
         ("no credential 'nope' in locker 'bots'", "list them with 'm365bot vault list LOCKER'")),
        (("bots", "o365", "nope"),
         ("no attribute 'nope' in credential 'o365'",
          "list them with 'm365bot vault attributes LOCKER CREDENTIAL'")),
    ]:
        with pytest.raises(VaultNotFoundError) as missing:
            owner.get(*args)
        assert (missing.value.message, missing.value.advice) == shown
    infos = owner.list_credentials("bots")[0].attributes
    assert {a.name: a.has_value for a in infos} == {"client_secret": True, "password": True}
    assert "CANARY" not in repr(owner.list_credentials("bots"))
    with pytest.raises(VaultError) as lone:  # nor may its last owner step down
        owner.add_member("bots", "alice", "consumer")
    assert lone.value.message == "locker 'bots' must keep at least one owner"
    assert lone.value.advice == "add another owner first"
    with pytest.raises(VaultNotFoundError) as absent:
        owner.remove_member("bots", "bob")
    assert absent.value.message == "'bob' is not a member of locker 'bots'"
    owner.add_member("bots", "bob", "owner")
    owner.add_member("bots", "alice", "consumer")  # with another owner, it may
    assert owner.list_lockers()[0].members == {"alice": "consumer", "bob": "owner"}


def test_writing_a_credential_again_updates_it_in_place(  # type: ignore[no-untyped-def]
        stocked: tuple[Vault, dict[str, str]], as_user) -> None:
    owner, values = stocked
    owner.add_member("bots", "mgr", "manager")
    owner.add_member("bots", "bob", "consumer")
    mgr, bob = as_user("mgr"), as_user("bob")
    mgr.set_credential("bots", "mail", {"host": AttributeSpec("CANARY-host", masked=False)},
                       description="the mail server")  # managers write credentials
    # Again, with new metadata, no new value for client_secret, and a user-provided value.
    owner.set_credential("bots", "o365", {
        "client_secret": AttributeSpec(None, masked=False, description="rotated monthly"),
        "pin": AttributeSpec("CANARY-alice-pin", user_provided=True),
    }, description="the tenant's app")
    assert owner.list_credentials("bots") == [
        CredentialInfo("bots", "mail", "mgr", "the mail server",
                       (AttributeInfo("host", False, False, True, ""),)),
        CredentialInfo("bots", "o365", "alice", "the tenant's app", (
            AttributeInfo("client_secret", False, False, True, "rotated monthly"),
            AttributeInfo("password", True, False, True, ""),
            AttributeInfo("pin", True, True, True, "")))]
    assert owner.get("bots", "o365", "client_secret").reveal() == values["client_secret"]
    assert owner.get("bots", "o365", "pin").reveal() == "CANARY-alice-pin"
    with pytest.raises(VaultNotFoundError) as err:  # alice's pin is hers alone
        bob.get("bots", "o365", "pin")
    assert err.value.message == "attribute 'pin' of bots/o365 has no value for you"


def test_the_same_names_in_two_lockers_stay_apart(  # type: ignore[no-untyped-def]
        stocked: tuple[Vault, dict[str, str]], as_user) -> None:
    owner, _ = stocked
    owner.create_locker("other")
    owner.create_locker("archive")  # made last, listed first: lockers list by name
    owner.set_credential("other", "o365", {"host": AttributeSpec("CANARY-other-host")},
                         description="the other tenant")
    owner.add_member("bots", "bob", "owner")
    owner.add_member("other", "bob", "consumer")
    bob = as_user("bob")
    assert {lk.name: lk.role for lk in bob.list_lockers()} == {"bots": "owner",
                                                               "other": "consumer"}
    assert owner.list_credentials("other") == [CredentialInfo(
        "other", "o365", "alice", "the other tenant",
        (AttributeInfo("host", True, False, True, ""),))]
    assert [a.name for a in owner.list_credentials("bots")[0].attributes] == [
        "client_secret", "password"]
    # alice is the only owner of 'other': owning 'bots' too does not let her leave it.
    with pytest.raises(VaultError, match="locker 'other' must keep at least one owner"):
        owner.remove_member("other", "alice")
    owner.add_member("other", "alice", "owner")  # already the owner: nothing changes
    # Removing bob from 'bots' removes him there only.
    owner.remove_member("bots", "bob")
    assert [(lk.name, lk.role, lk.members) for lk in bob.list_lockers()] == [
        ("other", "consumer", {"alice": "owner", "bob": "consumer"})]
    assert [(lk.name, lk.members) for lk in owner.list_lockers()] == [
        ("archive", {"alice": "owner"}), ("bots", {"alice": "owner"}),
        ("other", {"alice": "owner", "bob": "consumer"})]
    assert _denied(bob.get, "bots", "o365", "client_secret") == (
        "'bob' may not read credentials in locker 'bots' (role: not a member)", ASK_OWNER)
    # Deleting one locker's credential leaves the other's of the same name.
    owner.delete_credential("bots", "o365")
    assert bob.get("other", "o365", "host").reveal() == "CANARY-other-host"
    assert owner.list_credentials("bots") == []


def test_delete_credential_removes_its_values_and_nothing_else(  # type: ignore[no-untyped-def]
        stocked: tuple[Vault, dict[str, str]], as_user) -> None:
    owner, values = stocked
    owner.set_credential("bots", "mail", {"password": AttributeSpec(None, user_provided=True),
                                          "server": AttributeSpec("CANARY-server")})
    owner.add_member("bots", "pat", "participant")
    owner.add_member("bots", "bot", "consumer")
    owner.add_member("bots", "mgr", "manager")
    pat, bot, mgr = as_user("pat"), as_user("bot"), as_user("mgr")
    bot.set_attribute("bots", "mail", "password", "CANARY-bot-own")
    pat.set_credential("bots", "mine", {"token": AttributeSpec("CANARY-pat")})
    owner.put_blob("token_cache", "k", b"CANARY-cache")
    assert _denied(bot.delete_credential, "bots", "o365") == (
        "'bot' may not delete credentials in locker 'bots' (role: consumer)", ASK_OWNER)
    assert _denied(pat.delete_credential, "bots", "o365") == (
        "credential 'o365' belongs to another participant", "")
    mgr.delete_credential("bots", "mail")  # a manager deletes any credential
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
    assert owner.list_credentials("bots") == [
        CredentialInfo("bots", "mail", "alice", "",
                       (AttributeInfo("password", True, True, False, ""),)),
        CredentialInfo("bots", "o365", "alice", "", (
            AttributeInfo("client_secret", True, False, True, ""),
            AttributeInfo("password", True, False, True, "")))]
    assert [(e.actor, e.action, e.credential) for e in owner.audit_log(limit=20)
            if e.action == "credential.delete"] == [("pat", "credential.delete", "mine"),
                                                    ("mgr", "credential.delete", "mail")]


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


def test_read_for_a_stored_reference_needs_no_role_and_names_it_in_the_audit(
        stocked: tuple[Vault, dict[str, str]], as_user) -> None:  # type: ignore[no-untyped-def]
    """The holder of the key reads a standard attribute for a reference someone saved (a
    Control Room OAuth connection): no locker role, the subject names whose read it is."""
    owner, values = stocked
    server = as_user("controlroom")  # a member of no locker
    _denied(server.get, "bots", "o365", "client_secret")
    got = server.get_for("bots", "o365", "client_secret",
                         on_behalf_of="oauth connection Custom/ops\nforged")
    assert got.reveal() == values["client_secret"]
    entry = owner.audit_log(locker="bots", limit=1)[0]
    assert (entry.actor, entry.action, entry.subject, entry.outcome) == (
        "controlroom", "value.read", "oauth connection Custom/ops?forged", "ok")
    owner.set_credential("bots", "mine", {"pw": AttributeSpec(user_provided=True)})
    owner.set_attribute("bots", "mine", "pw", "CANARY-own-value-1")
    with pytest.raises(VaultNotFoundError, match="user-provided"):
        server.get_for("bots", "mine", "pw", on_behalf_of="oauth connection Custom/ops")
    with pytest.raises(ConfigError):
        server.get_for("bots", "o365", "client_secret", on_behalf_of=" ")
