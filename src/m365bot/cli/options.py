"""Click options shared by the commands that reach the network or open the vault.

Example::

    @click.command()
    @network_options
    @vault_options
    def cmd(proxy, ca_bundle, emulator_info, vault_loc, key_file, actor, as_json): ...
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def network_options(fn: F) -> F:
    """``--proxy``, ``--ca-bundle`` and ``--emulator`` (an info file giving both)."""
    fn = click.option("--emulator", "emulator_info",
                      type=click.Path(dir_okay=False, path_type=Path), default=None,
                      help="Emulator info file: use its proxy and CA.")(fn)
    fn = click.option("--ca-bundle", default=None,
                      help="PEM file of CAs to trust (M365BOT_CA_BUNDLE).")(fn)
    return click.option("--proxy", default=None, help="HTTP proxy URL (env M365BOT_PROXY).")(fn)


def vault_options(fn: F) -> F:
    """``--vault``, ``--key-file``, ``--actor`` and ``--json``."""
    fn = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(fn)
    fn = click.option("--actor", default=None,
                      help="Who uses the vault, for locker roles and the audit log "
                      "(default: your login name, as for 'm365bot vault').")(fn)
    fn = click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path),
                      default=None, help="Vault master key file (or env M365BOT_VAULT_KEY).")(fn)
    return click.option("--vault", "vault_loc", default=None, envvar="M365BOT_VAULT",
                        help="Vault file or URL (default: <data dir>/vault.db).")(fn)


__all__ = ["network_options", "vault_options"]
