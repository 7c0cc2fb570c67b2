"""A bot process that unlocks the vault, reads a credential and its token cache, and
writes the cache back, never imports SQLAlchemy (it costs hundreds of milliseconds)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from m365bot.vault import AttributeSpec, Vault

SCRIPT = """
import base64, sys
from m365bot.vault import Vault
v = Vault.open(sys.argv[1], actor="bot", roles=("runners",))
v.unlock(key=base64.b64decode(sys.argv[2]))
secret = v.get("bots", "o365", "client_secret")
cache, version = v.get_blob_with_version("token_cache", "k")
v.put_blob("token_cache", "k", cache + b"+", if_version=version)
v.close()
loaded = sorted(m for m in ("sqlalchemy", "alembic") if m in sys.modules)
print(len(secret.reveal()), v.blob_version("token_cache", "k"), loaded)
"""


def test_hot_path_runs_without_sqlalchemy(vault: Vault, vault_path: Path, raw_key: bytes) -> None:
    vault.create_locker("bots")
    vault.add_member("bots", "role:runners", "consumer")
    vault.set_credential("bots", "o365", {"client_secret": AttributeSpec("CANARY-fast")})
    vault.put_blob("token_cache", "k", b"CANARY-cache")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(vault_path), base64.b64encode(raw_key).decode()],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split(maxsplit=2)
    assert out == [str(len("CANARY-fast")), "2", "[]\n"]
    # What the fast path wrote, the SQLAlchemy side reads back (same rows, same crypto).
    assert vault.get_blob("token_cache", "k") == b"CANARY-cache+"
    entry = vault.audit_log(limit=1)[0]
    assert (entry.actor, entry.action, entry.attribute, entry.outcome) == (
        "bot", "value.read", "client_secret", "ok")
    assert entry.at.year >= 2024
