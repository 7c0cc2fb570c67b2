"""N real processes asking for one connection's token at the same moment.

Reads a JSON job from stdin (never argv: it holds the vault key), opens and unlocks the vault,
then forks N children that wait on a pipe, are released together, call ``get_token()``, and
report (sha256 of the token, source, or the error code) as JSON lines. Prints the list.

Job: {"vault", "vault_key", "settings": {...}, "mode": "app"|"pkce"|"rt", "provider": {...},
      "n": 8, "force": false, "clock_offset": 0}
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from typing import Any


def build(job: dict[str, Any], vault: Any) -> Any:
    from m365bot.auth.modes import AuthCodePkce, ClientCredentials, SecretCredential
    from m365bot.auth.refresh import RefreshTokenSource, VaultTokenState
    from m365bot.config import Settings
    from m365bot.values import Secret

    settings = Settings(**job["settings"])
    p = dict(job["provider"])
    offset = float(job.get("clock_offset", 0))

    def clock() -> float:
        return time.time() + offset

    if job["mode"] == "app":
        secret = Secret(p.pop("secret"))
        return ClientCredentials(credential=SecretCredential(secret), settings=settings,
                                 store=vault, clock=clock, **p)
    if job["mode"] == "pkce":
        return AuthCodePkce(settings=settings, store=vault, interactive=False, clock=clock, **p)
    state = VaultTokenState(vault, p["key"])
    return RefreshTokenSource(state=state, settings=settings, clock=clock, **p)


def child(job: dict[str, Any], vault: Any, go: int, out: int) -> None:
    os.read(go, 1)
    try:
        tok = build(job, vault).get_token(force_refresh=bool(job.get("force")))
        line = {"ok": True, "hash": hashlib.sha256(tok.token.reveal().encode()).hexdigest(),
                "source": tok.source}
    except Exception as exc:  # reported to the parent test
        line = {"ok": False, "type": type(exc).__name__, "code": getattr(exc, "code", ""),
                "message": str(exc)[:300]}
    os.write(out, (json.dumps(line) + "\n").encode())


def main() -> None:
    job = json.loads(sys.stdin.read())
    from m365bot.auth import modes, refresh  # noqa: F401  (import once, before forking)
    from m365bot.auth.http import import_msal
    from m365bot.vault import Vault

    import_msal()
    vault = Vault.open(job["vault"], actor="bot")
    vault.unlock(key=job["vault_key"])
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pids = []
    for _ in range(int(job["n"])):
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            os.close(out_r)
            code = 0
            try:
                child(job, vault, go_r, out_w)
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    os.close(go_r)
    os.close(out_w)
    os.write(go_w, b"g" * len(pids))
    data = b""
    while chunk := os.read(out_r, 65536):
        data += chunk
    for pid in pids:
        os.waitpid(pid, 0)
    print(json.dumps([json.loads(x) for x in data.decode().splitlines()]))


if __name__ == "__main__":
    main()
