"""``m365bot emulator``: run the offline Entra ID + Graph emulator.

Example::

    m365bot emulator serve --port 0 --proxy-port 0 --info-file emu.json
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from m365bot.config import ENV_CA_BUNDLE, ENV_PROXY

if TYPE_CHECKING:
    from m365bot.emulator.runtime import Emulator


@click.group()
def emulator() -> None:
    """The offline Microsoft 365 emulator (Entra ID v2.0 + Graph v1.0)."""


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


_SECONDS = click.FloatRange(0.1, 3600)


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(0, 65535),
              help="HTTPS port (0: let the OS pick; the info file says which).")
@click.option("--proxy-port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="HTTP CONNECT proxy port for proxy mode (0: let the OS pick).")
@click.option("--scenario", default="demo", show_default=True,
              help="'demo' or a YAML/JSON scenario file.")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the emulator's world in this folder across restarts.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the CA, certificates and keys (default: the user data folder).")
@click.option("--info-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write ports, CA bundle and the scenario's identities here as JSON "
              "(default: <data dir>/emulator-info.json).")
@click.option("--latency-ms", default=0.0, type=click.FloatRange(0, 60_000),
              help="Network latency to simulate, charged per round trip: the CONNECT answer, the "
              "TLS handshake and each request.")
@click.option("--handshake-timeout", type=_SECONDS,
              help="Seconds a new connection has to finish its TLS handshake (default 10).")
@click.option("--idle-timeout", type=_SECONDS,
              help="Seconds a connection may sit with no request in progress, idle or still "
              "sending its headers, before it is closed (default 30).")
@click.option("--connect-head-timeout", type=_SECONDS,
              help="Seconds a proxy client has to send its whole CONNECT request head "
              "(default 15).")
@click.option("-v", "--verbose", is_flag=True, help="Log one line per request and action.")
def serve(host: str, port: int, proxy_port: int, scenario: str, state_dir: Path | None,
          data_dir: Path | None, info_file: Path | None, latency_ms: float,
          handshake_timeout: float | None, idle_timeout: float | None,
          connect_head_timeout: float | None, verbose: bool) -> None:
    """Serve the emulator until interrupted (Ctrl-C or SIGTERM)."""
    from m365bot.extras import require_extra

    require_extra("emulator", "m365bot emulator serve")  # ConfigError: main() prints its fix
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from m365bot.emulator.errors import EmulatorError
    from m365bot.emulator.runtime import Emulator
    from m365bot.emulator.server import Timeouts

    given = {"handshake": handshake_timeout, "idle": idle_timeout,
             "header": connect_head_timeout}
    timeouts = Timeouts(**{k: v for k, v in given.items() if v is not None})
    try:
        emu = Emulator(scenario=scenario, data_dir=data_dir, state_dir=state_dir, host=host,
                       port=port, proxy_port=proxy_port, latency_ms=latency_ms,
                       timeouts=timeouts)
        emu.serve()
    except EmulatorError as exc:  # a bad scenario, a corrupt --state, a busy port
        _fail(str(exc))
        return
    except OSError as exc:
        _fail(f"{exc.filename or 'a file'}: {exc.strerror}; check --data-dir / --state")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    target = info_file or emu.data_dir / "emulator-info.json"
    try:
        emu.write_info(target)
        _print_summary(emu, target)
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
        click.echo("emulator stopped", err=True)


def _print_summary(emu: Emulator, info_file: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    info: dict[str, Any] = emu.info
    console = Console(highlight=False, soft_wrap=True)
    console.width = max(console.width, 140)  # GUIDs must print whole, even when piped
    console.print(f"[bold]m365bot emulator[/bold] {info['version']} — scenario "
                  f"[cyan]{info['scenario']}[/cyan]")
    console.print(f"  direct mode  {info['base_url']}   (control API {info['control_url']})")
    console.print(f"  proxy mode   {info['proxy_url']}")
    console.print(f"  CA bundle    {info['ca_bundle']}")
    console.print(f"  info file    {info_file}  (client ids, secrets, passwords, cert files)")
    console.print("\nPoint m365bot at it (it reads only its own variables):")
    console.print(f"  export {ENV_PROXY}={info['proxy_url']}", soft_wrap=True)
    console.print(f"  export {ENV_CA_BUNDLE}={info['ca_bundle']}", soft_wrap=True)
    console.print("  (or Settings(proxy=info['proxy_url'], ca_bundle=info['ca_bundle']))")
    console.print("\nPoint an unmodified client at it (real Microsoft URLs, via the proxy):")
    console.print(f"  export HTTPS_PROXY={info['proxy_url']}", soft_wrap=True)
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        console.print(f"  export {var}={info['ca_bundle']}", soft_wrap=True)
    console.print()
    tenants = Table("tenant", "cloud", "id", title="Tenants", title_justify="left")
    for t in info["tenants"]:
        tenants.add_row(t["domain"], t["cloud"], t["id"])
    console.print(tenants)
    domains = {t["id"]: t["domain"] for t in info["tenants"]}
    apps = Table("app", "tenant", "client id", "kind", title="Apps", title_justify="left")
    for a in info["apps"]:
        kind = "public (PKCE)" if a["public_client"] else "confidential"
        if a["certificates"]:
            kind += " + certificate"
        apps.add_row(a["name"], domains.get(a["tenant_id"], "?"), a["client_id"], kind)
    console.print(apps)
    users = Table("user", "display name", title="Users (passwords in the info file)",
                  title_justify="left")
    for u in info["users"]:
        users.add_row(u["upn"], u["display_name"])
    for s in info["shared_mailboxes"]:
        users.add_row(s["address"], f"{s['display_name']} (shared)")
    console.print(users)
    console.print("Serving; press Ctrl-C to stop.")
    sys.stdout.flush()
