"""A child bot process for the sessions tests: uses the parent's Global session by name
(through M365BOT_RUN_DIR) and a Variable session passed as a descriptor in CHILD_SESSION.
Prints one JSON line with what it saw."""

from __future__ import annotations

import json
import os
import sys

from m365bot.connection import get_session, reconnect
from m365bot.errors import M365BotError
from m365bot.vault import Vault

vault = Vault.open(os.environ["CHILD_VAULT"], actor="bot")
vault.unlock(key=os.environ["M365BOT_VAULT_KEY"])
out: dict[str, object] = {}
try:
    g = get_session(sys.argv[1], vault=vault)
    r = g.graph_get(f"/users/{g.mailbox}/mailFolders/inbox/messages", params={"$top": 1})
    out["global"] = {"mailbox": g.mailbox, "status": r.status, "kind": g.kind}
    v = reconnect(json.loads(os.environ["CHILD_SESSION"]), vault=vault)
    out["variable"] = {"mailbox": v.mailbox, "identity": v.identity}
    try:
        get_session("local-only", vault=vault)
    except M365BotError as exc:
        out["local_error"] = type(exc).__name__
except M365BotError as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
