"""Subprocess for the concurrency tests: waits for a start file, then races the others.

    racer.py LOCATION KEY_B64 START_FILE increments M   (read, +1, put_blob(if_version))
    racer.py LOCATION KEY_B64 START_FILE first-blob I   (put_blob(if_version=0) of one key)
    racer.py LOCATION KEY_B64 START_FILE first-cred I   (set_credential of one new name)

Prints one line per acknowledged write ("ok ...") or refused one ("conflict ...");
any other error ends the process with its traceback (a test failure).
"""

from __future__ import annotations

import base64
import os
import sys
import time

from m365bot.vault import AttributeSpec, BlobConflict, Vault


def main() -> None:
    location, key_b64, start_file, mode, arg = sys.argv[1:6]
    vault = Vault.open(location, actor="alice")
    vault.unlock(key=base64.b64decode(key_b64))
    while not os.path.exists(start_file):
        time.sleep(0.005)
    if mode == "increments":
        done = 0
        while done < int(arg):
            data, version = vault.get_blob_with_version("counter", "n")
            try:
                vault.put_blob("counter", "n", str(int(data or b"0") + 1).encode(),
                               if_version=version)
            except BlobConflict:
                continue
            done += 1
            print("ok", flush=True)
    elif mode == "first-blob":
        try:
            vault.put_blob("first", "k", f"CANARY-first-{arg}".encode(), if_version=0)
            print("ok", arg, flush=True)
        except BlobConflict as exc:
            print("conflict", exc.message, flush=True)
    else:
        vault.set_credential("bots", "new-cred", {f"a{arg}": AttributeSpec(f"CANARY-c-{arg}")})
        print("ok", arg, flush=True)
    vault.close()


if __name__ == "__main__":
    main()
