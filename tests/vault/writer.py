"""Subprocess for the SIGKILL test: rewrites one attribute and one blob in a loop and
prints the number of each write after its commit returned."""

from __future__ import annotations

import base64
import sys

from m365bot.vault import AttributeSpec, Vault


def main() -> None:
    path, key_b64, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    vault = Vault.open(path, actor="alice")
    vault.unlock(key=base64.b64decode(key_b64))
    vault.list_lockers()  # loads the SQLAlchemy side now, so kills land among writes
    print("ready", flush=True)
    i = start
    while True:
        i += 1
        if i % 3 == 0:
            vault.set_credential("bots", "c", {"a": AttributeSpec(f"CANARY-kill-{i}"),
                                               "b": AttributeSpec(f"CANARY-kill-{i}")})
        else:
            vault.set_attribute("bots", "c", "a", f"CANARY-kill-{i}")
            vault.set_attribute("bots", "c", "b", f"CANARY-kill-{i}")
        vault.put_blob("token_cache", "k", f"CANARY-kill-{i}".encode())
        print(i, flush=True)


if __name__ == "__main__":
    main()
