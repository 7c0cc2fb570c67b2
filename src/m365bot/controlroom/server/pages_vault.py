"""The Credential Vault in the Control Room: lockers, credentials and "Credential
requests", with the locker roles enforced for the signed-in user.

The server opens the vault kept in its own database once, unlocked with the master key
given at start (``--vault-key-file`` or ``M365BOT_VAULT_KEY``), and takes a view of it per
request for the signed-in user and their roles (:meth:`m365bot.vault.Vault.acting_as`).
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from m365bot.controlroom.server.config import ServerConfig


def open_server_vault(config: ServerConfig) -> Any:
    """The vault in the server's database, unlocked with ``config.vault_key``
    (initialized with it when new)."""
    from m365bot.vault import Vault

    assert config.vault_key is not None
    vault = Vault.open(config.db, actor="controlroom")
    try:
        source = config.vault_key
        material: dict[str, Any] = ({"key": source.raw_key()} if source.kind == "raw"
                                    else {"passphrase": source.material})
        if vault.initialized:
            vault.unlock(**material)
        else:
            vault.initialize(**material)
    except BaseException:
        vault.close()
        raise
    return vault


routes: list[BaseRoute] = []
