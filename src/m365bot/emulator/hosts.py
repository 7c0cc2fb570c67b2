"""The Microsoft host names the emulator answers for, and what each one is.

The emulator never imports client code: this table is its own copy of the facts
(identity-and-graph-facts.md §1.5), so tests check our client against the contract,
not against itself.

A request's cloud and role come from its ``Host`` header:

* a host in :data:`HOSTS` (reached through proxy mode, or by SNI/Host) fixes both;
* anything else (``127.0.0.1:PORT``, ``localhost``) is *direct mode*: role comes from the
  path, and the cloud from the tenant (login) or the token (Graph).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Cloud = Literal["global", "usgovhigh", "dod", "china"]
Role = Literal["login", "graph", "upload"]

CLOUDS: tuple[Cloud, ...] = ("global", "usgovhigh", "dod", "china")

# Every name m365bot's Connect accepts for a cloud (lower case, letters and digits only), and
# the emulated cloud that serves it. GCC (Moderate) uses the global hosts; m365bot's
# ``gcchigh`` is this emulator's ``usgovhigh``. The emulator may not import the client, so
# this is a copy: tests/emulator/test_boundaries.py checks that both accept the same names.
_NAMES_OF: dict[Cloud, tuple[str, ...]] = {
    "global": ("global", "azureglobal", "com", "public", "azurepublic", "commercial",
               "azurecloud", "worldwide", "gcc", "azureusgcc", "usgcc", "gccmoderate"),
    "usgovhigh": ("gcchigh", "azureusgcchigh", "usgcchigh", "usgov", "usgovernment",
                  "azureusgovernment", "usgovhigh", "azureusgov", "l4"),
    "dod": ("dod", "azureusdod", "usdod", "usgovdod", "l5"),
    "china": ("china", "azurechina", "21vianet", "azurechina21vianet", "chinacloud",
              "mooncake", "cn"),
}
CLOUD_NAMES: dict[str, Cloud] = {
    name: cloud for cloud, names in _NAMES_OF.items() for name in names
}


def parse_cloud(text: object) -> Cloud | None:
    """The emulated cloud a name means (any name m365bot accepts), or None.

    Example: ``parse_cloud("Azure US GCC High") == "usgovhigh"``.
    """
    if not isinstance(text, str):
        return None
    return CLOUD_NAMES.get("".join(ch for ch in text.lower() if ch.isalnum()))


@dataclass(frozen=True)
class HostInfo:
    host: str
    cloud: Cloud | None  # None: shared by several clouds (login.microsoftonline.us)
    role: Role


HOSTS: dict[str, HostInfo] = {
    h.host: h
    for h in (
        HostInfo("login.microsoftonline.com", "global", "login"),
        # GCC High and DoD share one login host; the tenant's cloud decides.
        HostInfo("login.microsoftonline.us", None, "login"),
        HostInfo("login.chinacloudapi.cn", "china", "login"),
        HostInfo("graph.microsoft.com", "global", "graph"),
        HostInfo("graph.microsoft.us", "usgovhigh", "graph"),
        HostInfo("dod-graph.microsoft.us", "dod", "graph"),
        HostInfo("microsoftgraph.chinacloudapi.cn", "china", "graph"),
        HostInfo("outlook.office.com", "global", "upload"),
        HostInfo("outlook.office365.us", None, "upload"),
    )
}

# Login hosts that serve a given cloud's tenants.
LOGIN_HOST: dict[Cloud, str] = {
    "global": "login.microsoftonline.com",
    "usgovhigh": "login.microsoftonline.us",
    "dod": "login.microsoftonline.us",
    "china": "login.chinacloudapi.cn",
}

# The Graph resource of each cloud: the access token's ``aud`` and the .default scope's prefix.
GRAPH_RESOURCE: dict[Cloud, str] = {
    "global": "https://graph.microsoft.com",
    "usgovhigh": "https://graph.microsoft.us",
    "dod": "https://dod-graph.microsoft.us",
    "china": "https://microsoftgraph.chinacloudapi.cn",
}

UPLOAD_HOST: dict[Cloud, str] = {
    "global": "outlook.office.com",
    "usgovhigh": "outlook.office365.us",
    "dod": "outlook.office365.us",
    "china": "outlook.office.com",
}


def lookup(host_header: str) -> HostInfo | None:
    """The emulated host a ``Host`` header names, or None for direct mode."""
    name = host_header.rsplit(":", 1)[0] if not host_header.startswith("[") else host_header
    return HOSTS.get(name.lower().rstrip("."))


def cloud_of_graph_resource(aud: str) -> Cloud | None:
    for cloud, resource in GRAPH_RESOURCE.items():
        if aud.rstrip("/") == resource:
            return cloud
    return None
