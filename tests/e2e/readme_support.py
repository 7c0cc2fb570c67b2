"""What the README tests share: the README's code blocks, and the vault and environment a
README bot runs with (the administrator's part: a vault with the GCC High demo app in locker
``outlook``, actor ``bot`` a consumer of it, and ``M365BOT_*`` pointing at the emulator)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"
MAILBOX = "ops@fabrikamgov.onmicrosoft.us"


def readme_block(heading: str, language: str = "python") -> str:
    """The first fenced ``language`` block under ``heading`` (up to the next ``## `` title)."""
    section = README.read_text().split(heading, 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found, f"README.md has no {language} block under {heading!r}"
    return found.group(1)


def prepare_vault(home: Path, app: dict[str, Any], secret: str) -> str:
    """A vault under ``home`` holding the app in locker ``outlook``; returns its master key."""
    from m365bot.vault import AttributeSpec, Vault, new_raw_key

    key = new_raw_key()
    with Vault.open(home / "vault.db", actor="admin") as v:
        v.initialize(key=key)
        v.create_locker("outlook")
        v.set_credential("outlook", "ops-app", {
            "client_id": AttributeSpec(app["client_id"], masked=False),
            "tenant_id": AttributeSpec(app["tenant_id"], masked=False),
            "client_secret": AttributeSpec(secret),
        })
        v.add_member("outlook", "bot", "consumer")
    return key


def bot_environment(emulator_info: dict[str, Any], home: Path) -> tuple[dict[str, str], str]:
    """The environment a README bot runs with: this process's, minus any ``M365BOT_*``, plus
    the home with the prepared vault, the emulator's proxy and CA, and the vault key
    (``M365BOT_VAULT_KEY``); and the app's secret, for the tests' no-leak checks."""
    tenant = next(t for t in emulator_info["tenants"] if t["cloud"] == "usgovhigh")
    app = next(a for a in emulator_info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    secret = max(app["secrets"], key=lambda s: s["expires"])["value"]
    key = prepare_vault(home, app, secret)
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env.update({"M365BOT_HOME": str(home), "M365BOT_PROXY": emulator_info["proxy_url"],
                "M365BOT_CA_BUNDLE": emulator_info["ca_bundle"], "M365BOT_VAULT_KEY": key})
    return env, secret
