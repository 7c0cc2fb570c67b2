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
