"""Token acquisition for the Connect action: client credentials (secret or certificate),
authorization code with PKCE, and refresh-token sources for Control Room connections.

msal's cache is kept encrypted in the vault, refreshed single-flight across processes, and
msal reaches the network only through :class:`~m365bot.auth.http.MsalHttpClient`, on an httpx
client from the one factory (:mod:`m365bot.net`: proxy and CA from
:class:`~m365bot.config.Settings`). Importing this package is cheap: httpx loads with the
provider modules, msal with the first token request.

Example::

    from m365bot.auth import ClientCredentials, SecretCredential
    provider = ClientCredentials(cloud="global", tenant=tid, client_id=cid,
                                 credential=SecretCredential(secret), settings=s, store=vault)
    provider.get_token().claims["roles"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from m365bot.auth.modes import (
        AuthCodePkce,
        CertificateCredential,
        ClientCredentials,
        SecretCredential,
    )
    from m365bot.auth.refresh import RefreshTokenSource, VaultTokenState
    from m365bot.auth.tokens import AccessToken, TokenProvider

_EXPORTS = {
    "AccessToken": "m365bot.auth.tokens",
    "TokenProvider": "m365bot.auth.tokens",
    "AuthCodePkce": "m365bot.auth.modes",
    "CertificateCredential": "m365bot.auth.credentials",
    "ClientCredentials": "m365bot.auth.modes",
    "SecretCredential": "m365bot.auth.credentials",
    "RefreshTokenSource": "m365bot.auth.refresh",
    "VaultTokenState": "m365bot.auth.refresh",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'm365bot.auth' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "AccessToken",
    "AuthCodePkce",
    "CertificateCredential",
    "ClientCredentials",
    "RefreshTokenSource",
    "SecretCredential",
    "TokenProvider",
    "VaultTokenState",
]
