"""A bot process that runs Connect (client credentials, secret from the vault) and prints
one JSON line: identity and token source, or the error. With BOT_LIST=1 it then lists the
Inbox's 5 newest subjects (its first real request), like a bot's first action."""

from __future__ import annotations

import json
import os

import m365bot
from m365bot.config import Settings
from m365bot.errors import M365BotError
from m365bot.values import CredentialRef
from m365bot.vault import Vault

vault = Vault.open(os.environ["BOT_VAULT"], actor="bot")
vault.unlock(key=os.environ["M365BOT_VAULT_KEY"])
step = "connect"
try:
    s = m365bot.connect(cloud="global", mode="client-credentials",
                        client_id=os.environ["BOT_CID"], tenant_id=os.environ["BOT_TID"],
                        username="ops@contoso.onmicrosoft.com",
                        client_secret=CredentialRef("bots", "o365-global", "client_secret"),
                        settings=Settings.from_env(), vault=vault)
    out = {"identity": s.identity, "expires_on": s.expires_on}
    if os.environ.get("BOT_LIST"):
        step = "list"
        page = s.graph_get(f"/users/{s.mailbox}/mailFolders/inbox/messages",
                           params={"$top": 5, "$select": "subject",
                                   "$orderby": "receivedDateTime desc"})
        out["subjects"] = [m["subject"] for m in page.body["value"]]
    print(json.dumps(out))
except M365BotError as exc:
    print(json.dumps({"error": str(exc), "step": step}))
