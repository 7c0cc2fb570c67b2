"""OpenID discovery, JWKS and instance discovery for the host the request came in on.

Endpoints in the documents point at that host: ``https://login.microsoftonline.com/...`` in
proxy mode, ``https://127.0.0.1:PORT/...`` in direct mode. A tenant document's ``issuer``
carries the tenant GUID; the ``common`` one the literal ``{tenantid}``.

Example::

    GET /contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration
    -> {"issuer": "https://login.microsoftonline.com/<guid>/v2.0", "token_endpoint": ...}
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from m365bot.emulator import hosts
from m365bot.emulator.entra import errors
from m365bot.emulator.entra.context import META_TENANTS, EmuLike, Site, error_response

log = logging.getLogger(__name__)

CLOUD_INSTANCE = {
    "global": "microsoftonline.com",
    "usgovhigh": "microsoftonline.us",
    "dod": "microsoftonline.us",
    "china": "partner.microsoftonline.cn",
}

# Alias groups as MSAL ships them (identity-and-graph-facts.md §1.4).
ALIASES: list[list[str]] = [
    ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"],
    ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
    ["login.microsoftonline.us", "login.usgovcloudapi.net"],
    ["login-us.microsoftonline.com"],
    ["login.microsoftonline.de"],
]


def _cloud_for(site: Site, tenant_cloud: hosts.Cloud | None) -> hosts.Cloud:
    if tenant_cloud is not None:
        return tenant_cloud
    if site.info is not None and site.info.host == "login.microsoftonline.us":
        return "usgovhigh"
    if site.info is not None and site.info.cloud is not None:
        return site.info.cloud
    return "global"


def openid_configuration(emu: EmuLike, request: Request) -> Response:
    """``/{tenant}/v2.0/.well-known/openid-configuration``."""
    site = Site.of(request)
    segment = request.path_params["tenant"]
    if segment.lower() in META_TENANTS:
        tid = "{tenantid}"
        path_tenant = segment
        cloud = _cloud_for(site, None)
        region: str | None = None
    else:
        try:
            tenant = site.resolve_tenant(emu.state, segment)
        except errors.EntraError as err:
            return error_response(emu, request, err)
        tid = path_tenant = tenant.id
        cloud = tenant.cloud
        region = "NA" if cloud == "global" else ("USGov" if cloud in ("usgovhigh", "dod") else "AS")
    base = site.base
    graph_host = hosts.GRAPH_RESOURCE[cloud].removeprefix("https://")
    doc: dict[str, Any] = {
        "token_endpoint": f"{base}/{path_tenant}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{base}/{path_tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"https://{graph_host}/oidc/userinfo",
        "authorization_endpoint": f"{base}/{path_tenant}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{path_tenant}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{path_tenant}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],
        "kerberos_endpoint": f"{base}/{path_tenant}/kerberos",
        "tenant_region_scope": region,
        "cloud_instance_name": CLOUD_INSTANCE[cloud],
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": graph_host,
        "rbac_url": "https://pas.windows.net",
    }
    log.info("openid-configuration tenant=%s host=%s", segment, site.hostname)
    return JSONResponse(doc)


def jwks(emu: EmuLike, request: Request) -> Response:
    """``/{tenant}/discovery/v2.0/keys``."""
    site = Site.of(request)
    segment = request.path_params["tenant"]
    issuer = None
    if segment.lower() not in META_TENANTS:
        try:
            issuer = site.issuer(site.resolve_tenant(emu.state, segment).id)
        except errors.EntraError as err:
            return error_response(emu, request, err)
    return JSONResponse(emu.tokens.jwks(issuer))


def instance_discovery(emu: EmuLike, request: Request) -> Response:
    """``/common/discovery/instance?api-version=1.1&authorization_endpoint=...``."""
    site = Site.of(request)
    version = request.query_params.get("api-version")
    if not version:
        return error_response(emu, request, errors.missing_parameter("api-version"))
    if version not in ("1.0", "1.1"):
        return error_response(
            emu, request, errors.malformed(f"api-version '{version}' is not supported.")
        )
    endpoint = request.query_params.get("authorization_endpoint", "")
    invalid = errors.EntraError(50049, "invalid_instance", "Unknown or invalid instance.")
    try:
        target = urlsplit(endpoint) if endpoint else None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return error_response(emu, request, invalid)
    target_host = (target.netloc if target else "") or site.host
    groups = [list(g) for g in ALIASES]
    if site.info is None:
        groups.insert(0, [site.host])
    if not any(target_host.lower() in g for g in groups):
        return error_response(emu, request, invalid)
    parts = target.path.strip("/").split("/") if target else []
    tenant = parts[0] if parts and parts[0] else "common"
    metadata = [{"preferred_network": g[0], "preferred_cache": g[0], "aliases": g} for g in groups]
    return JSONResponse(
        {
            "tenant_discovery_endpoint": (
                f"https://{target_host}/{tenant}/v2.0/.well-known/openid-configuration"
            ),
            "api-version": version,
            "metadata": metadata,
        }
    )
