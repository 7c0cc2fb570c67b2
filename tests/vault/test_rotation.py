"""Master-key rotation: rewraps data keys only, runs while others write, and leaves every
secret readable under the new key only."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from m365bot.errors import VaultError, VaultLockedError
from m365bot.vault import AttributeSpec, Vault


def test_rotation_keeps_every_secret_readable_and_retires_the_old_key(
    stocked: tuple[Vault, dict[str, str]], vault_path: Path, raw_key: bytes
) -> None:
    vault, values = stocked
    for i in range(250):  # more than one rewrap batch
        vault.put_blob("token_cache", f"k{i}", f"CANARY-b{i}".encode())
    new_key = os.urandom(32)
    assert vault.rotate_master_key(key=new_key) == 252
    assert vault.key_versions_in_use() == {2: 252}
    assert vault.get("bots", "o365", "client_secret").reveal() == values["client_secret"]
    # Rotate again, to a passphrase this time.
    vault.rotate_master_key(passphrase="CANARY-new-pass")
    assert vault.key_versions_in_use() == {3: 252}
    with Vault.open(vault_path, actor="alice") as fresh:
        for old in (raw_key, new_key):
            with pytest.raises(VaultError):
                fresh.unlock(key=old)
        fresh.unlock(passphrase="CANARY-new-pass")
        assert fresh.get("bots", "o365", "password").reveal() == values["password"]
        assert all(fresh.get_blob("token_cache", f"k{i}") == f"CANARY-b{i}".encode()
                   for i in range(250))


def test_rotation_under_concurrent_writes(vault: Vault, vault_path: Path, raw_key: bytes) -> None:
    vault.create_locker("bots")
    vault.set_credential("bots", "c", {"a": AttributeSpec("CANARY-seed")})
    for i in range(100):
        vault.put_blob("seed", f"s{i}", f"CANARY-s{i}".encode())
    new_key = os.urandom(32)
    stop = threading.Event()
    acknowledged: dict[str, bytes] = {}
    errors: list[BaseException] = []
    relocked = []

    instances = [vault]
    for _ in range(3):  # like other processes: their own engine and keyring
        other = Vault.open(vault_path, actor="alice")
        other.unlock(key=raw_key)
        instances.append(other)
    counts = [0, 0, 0, 0]

    def writer(n: int, own_instance: bool) -> None:
        v = instances[n]
        i = 0
        try:
            while not stop.is_set() or i < 30:
                key, data = f"w{n}-{i}", f"CANARY-w{n}-{i}".encode()
                try:
                    v.put_blob("writes", key, data)
                except VaultLockedError:
                    # Another process rotated the key: unlock with the new one and retry.
                    relocked.append(n)
                    v.unlock(key=new_key)
                    v.put_blob("writes", key, data)
                acknowledged[key] = data
                i += 1
                counts[n] = i
        except BaseException as exc:
            errors.append(exc)
        finally:
            if own_instance:
                v.close()

    threads = [threading.Thread(target=writer, args=(n, n > 0)) for n in range(4)]
    for t in threads:
        t.start()
    while min(counts) < 10:
        stop.wait(0.01)
    # Rotate on the instance writer 0 shares: it switches keys without unlocking again.
    vault.rotate_master_key(key=new_key)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(set(relocked)) == [1, 2, 3]  # every other instance had to unlock again
    with Vault.open(vault_path, actor="alice") as fresh:
        fresh.unlock(key=new_key)
        # Writes acknowledged after the rewrap pass are already under version 2 too.
        assert set(fresh.key_versions_in_use()) == {2}
        for key, data in acknowledged.items():
            assert fresh.get_blob("writes", key) == data
        assert fresh.get("bots", "c", "a").reveal() == "CANARY-seed"
        assert len(acknowledged) >= 4 * 30


def test_a_rotation_stopped_after_the_key_switch_leaves_every_value_readable(
    stocked: tuple[Vault, dict[str, str]], vault_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, values = stocked
    new_key = os.urandom(32)

    def process_killed(self: Vault) -> int:  # before any data key is rewrapped
        raise KeyboardInterrupt

    monkeypatch.setattr(Vault, "_rewrap_all", process_killed)
    with pytest.raises(KeyboardInterrupt):
        vault.rotate_master_key(key=new_key)
    monkeypatch.undo()
    with Vault.open(vault_path, actor="alice") as fresh:
        fresh.unlock(key=new_key)  # the older key comes from the key table, wrapped by this one
        assert fresh.key_versions_in_use() == {1: 2}
        for name, value in values.items():
            assert fresh.get("bots", "o365", name).reveal() == value
        assert fresh.rotate_master_key(key=os.urandom(32)) == 2  # and a rotation finishes it
