"""``m365bot demo``: the README's first command. On the built-in emulator it

1. starts the emulator in-process (demo scenario, HTTPS + proxy mode on free ports);
2. stores the demo app's client secret in a Credential Vault credential (vault in the demo
   data folder, master key from a generated key file);
3. connects with client credentials, reading the secret from the vault, through the same
   proxy/CA settings a corporate network would use;
4. prints the connection test and the newest subjects in the shared mailbox's Inbox.

This CLI edge is the one place that uses both the emulator and the client side.

Example::

    m365bot demo
    m365bot demo --data-dir ./.m365bot-demo
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from m365bot.errors import M365BotError

SHARED_MAILBOX = "ops@contoso.onmicrosoft.com"
LOCKER, CREDENTIAL = "demo", "m365bot-demo"


def _vault(data_dir: Path) -> Any:
    from m365bot.vault import Vault, new_raw_key
    from m365bot.vault.keys import MasterKeySource

    key_file = data_dir / "vault.key"
    if not key_file.exists():
        # Created 0600 by open(2) itself: never a moment in which others could read it.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_raw_key())
    source = MasterKeySource.from_key_file(key_file)
    vault = Vault.open(data_dir / "vault.db", actor="demo")
    if vault.initialized:
        vault.unlock(key=source.raw_key())
    else:
        vault.initialize(key=source.raw_key())
    return vault


def run_demo(data_dir: Path, console: Any) -> dict[str, Any]:
    """The demo's steps; returns what it printed as data (for tests)."""
    from m365bot.config import Settings
    from m365bot.connection import connect, disconnect
    from m365bot.emulator.runtime import Emulator
    from m365bot.values import CredentialRef
    from m365bot.vault import AttributeSpec

    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with Emulator.start(scenario="demo", data_dir=data_dir / "emulator") as emu:
        info = emu.info
        tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
        app = next(a for a in info["apps"]
                   if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
        secret = max(app["secrets"], key=lambda s: s["expires"])["value"]
        console.print(f"[bold]1.[/] emulator running: HTTPS {info['base_url']}, "
                      f"proxy {info['proxy_url']}")
        vault = _vault(data_dir)
        try:
            if LOCKER not in {lk.name for lk in vault.list_lockers()}:
                vault.create_locker(LOCKER)
            vault.set_credential(LOCKER, CREDENTIAL, {
                "client_secret": AttributeSpec(secret, masked=True)})
            console.print(f"[bold]2.[/] client secret stored in the Credential Vault as "
                          f"credential:{LOCKER}/{CREDENTIAL}/client_secret")
            settings = Settings(data_dir=data_dir / "home", proxy=info["proxy_url"],
                                ca_bundle=info["ca_bundle"])
            session = connect(cloud="Azure Global", mode="client-credentials",
                              client_id=app["client_id"], tenant_id=tenant["id"],
                              username=SHARED_MAILBOX,
                              client_secret=CredentialRef(LOCKER, CREDENTIAL, "client_secret"),
                              settings=settings, vault=vault)
            test = session.info()
            console.print("[bold]3.[/] connected: "
                          f"{test['identity']} ({test['identity_type']}) -> {test['mailbox']}, "
                          f"{test['cloud']}; permissions: {', '.join(test['permissions'])}")
            resp = session.graph_get(
                f"/users/{SHARED_MAILBOX}/mailFolders/inbox/messages",
                params={"$top": 5, "$select": "subject,from,receivedDateTime",
                        "$orderby": "receivedDateTime desc"})
            messages = resp.body.get("value", []) if isinstance(resp.body, dict) else []
            disconnect(session)
        finally:
            vault.close()
    from rich.table import Table

    table = Table(title=f"Newest in {SHARED_MAILBOX} / Inbox")
    table.add_column("Received")
    table.add_column("From")
    table.add_column("Subject")
    for m in messages:
        sender = ((m.get("from") or {}).get("emailAddress") or {}).get("address", "")
        table.add_row(str(m.get("receivedDateTime", ""))[:16].replace("T", " "), sender,
                      str(m.get("subject", "")))
    console.print(table)
    return {"connection": test, "subjects": [m.get("subject") for m in messages]}


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the demo's vault and emulator data here (default: a temp folder).")
def demo(data_dir: Path | None) -> None:
    """Run the first demo on the built-in emulator (nothing leaves this machine)."""
    from rich.console import Console

    from m365bot.extras import require_extra

    console = Console(highlight=False, soft_wrap=True)
    try:
        require_extra("emulator", "m365bot demo")
        if data_dir is None:
            with tempfile.TemporaryDirectory(prefix="m365bot-demo-") as tmp:
                run_demo(Path(tmp), console)
        else:
            run_demo(data_dir, console)
    except M365BotError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


__all__ = ["demo", "run_demo"]
