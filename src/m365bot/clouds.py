"""Azure clouds: each one fixes the login host, the Graph root, the ``.default`` scope and the
upload host together (identity-and-graph-facts.md §1.5). Tokens never cross clouds.

Example::

    from m365bot.clouds import Cloud
    cloud = Cloud.parse("Azure US GCC High")
    cloud.login_host      # 'login.microsoftonline.us'
    cloud.graph_scope     # 'https://graph.microsoft.us/.default'
    cloud.authority("contoso.onmicrosoft.us")
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class _CloudInfo(NamedTuple):
    label: str
    login_host: str
    graph_url: str
    upload_host: str


class Cloud(enum.Enum):
    """An Azure cloud. ``Cloud.parse(text)`` accepts the Connect action's labels and short names.

    Example::

        Cloud.parse("gcchigh") is Cloud.GCC_HIGH
    """

    GLOBAL = _CloudInfo(
        "Azure Global", "login.microsoftonline.com", "https://graph.microsoft.com",
        "outlook.office.com",
    )
    GCC = _CloudInfo(
        "Azure US GCC", "login.microsoftonline.com", "https://graph.microsoft.com",
        "outlook.office.com",
    )
    GCC_HIGH = _CloudInfo(
        "Azure US GCC High", "login.microsoftonline.us", "https://graph.microsoft.us",
        "outlook.office365.us",
    )
    DOD = _CloudInfo(
        "Azure US DoD", "login.microsoftonline.us", "https://dod-graph.microsoft.us",
        "outlook.office365.us",
    )
    CHINA = _CloudInfo(
        "Azure China (21Vianet)", "login.chinacloudapi.cn",
        "https://microsoftgraph.chinacloudapi.cn", "outlook.office.com",
    )

    @property
    def label(self) -> str:
        """The name the Connect action shows, e.g. ``Azure US GCC High``."""
        return self.value.label

    @property
    def login_host(self) -> str:
        """The identity platform host, e.g. ``login.microsoftonline.us``."""
        return self.value.login_host

    @property
    def graph_url(self) -> str:
        """The Graph root without a trailing slash, e.g. ``https://graph.microsoft.us``."""
        return self.value.graph_url

    @property
    def graph_scope(self) -> str:
        """The app-only scope for Graph in this cloud: ``<graph_url>/.default``."""
        return self.value.graph_url + "/.default"

    @property
    def upload_host(self) -> str:
        """The host of Outlook upload sessions in this cloud."""
        return self.value.upload_host

    @property
    def key(self) -> str:
        """A short stable name for cache keys and config files: ``global``, ``gcchigh``..."""
        return _KEYS[self]

    def authority(self, tenant: str) -> str:
        """The msal authority URL for a tenant (GUID or domain) in this cloud."""
        return f"https://{self.login_host}/{tenant}"

    def delegated_scopes(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """Graph delegated scope names qualified for this cloud (``Mail.Read`` →
        ``https://graph.microsoft.us/Mail.Read``); OIDC scopes stay bare."""
        out = []
        for name in names:
            if "://" in name or name in ("openid", "profile", "offline_access", "email"):
                out.append(name)
            else:
                out.append(f"{self.graph_url}/{name}")
        return out

    @classmethod
    def parse(cls, text: str | Cloud, *, field: str = "cloud") -> Cloud:
        """A cloud from a label or short name; ConfigError naming ``field`` if unknown."""
        from m365bot.errors import ConfigError

        if isinstance(text, Cloud):
            return text
        if not isinstance(text, str):
            raise ConfigError(f"{field} must be a string", field=field, advice=_ADVICE)
        norm = "".join(ch for ch in text.lower() if ch.isalnum())
        found = _ALIASES.get(norm)
        if found is None:
            raise ConfigError(
                f"{field} {text!r} is not an Azure cloud m365bot knows", field=field,
                advice=_ADVICE,
            )
        return found

    def __str__(self) -> str:
        return self.label


_KEYS = {
    Cloud.GLOBAL: "global",
    Cloud.GCC: "gcc",
    Cloud.GCC_HIGH: "gcchigh",
    Cloud.DOD: "dod",
    Cloud.CHINA: "china",
}
_ALIASES: dict[str, Cloud] = {}
for _cloud, _names in {
    Cloud.GLOBAL: ("global", "azureglobal", "com", "public", "azurepublic", "commercial",
                   "azurecloud", "worldwide"),
    Cloud.GCC: ("gcc", "azureusgcc", "usgcc", "gccmoderate"),
    Cloud.GCC_HIGH: ("gcchigh", "azureusgcchigh", "usgcchigh", "usgov", "usgovernment",
                     "azureusgovernment", "usgovhigh", "azureusgov", "l4"),
    Cloud.DOD: ("dod", "azureusdod", "usdod", "usgovdod", "l5"),
    Cloud.CHINA: ("china", "azurechina", "21vianet", "azurechina21vianet", "chinacloud",
                  "mooncake", "cn"),
}.items():
    for _n in _names:
        _ALIASES[_n] = _cloud
_ADVICE = (
    "use one of: Azure Global (global), Azure US GCC (gcc), Azure US GCC High (gcchigh), "
    "Azure US DoD (dod), Azure China (china)"
)

__all__ = ["Cloud"]
