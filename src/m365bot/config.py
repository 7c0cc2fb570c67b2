"""Settings: where m365bot keeps its data, and how it reaches the network.

Built once at the edge (the CLI calls :meth:`Settings.from_env`); library code receives a
``Settings`` and never reads the environment itself. Pointing m365bot at the emulator is
``Settings(proxy=info["proxy_url"], ca_bundle=info["ca_bundle"])``: no special code path.

Example::

    from m365bot.config import Settings
    settings = Settings(proxy="http://proxy.corp:3128", ca_bundle="/etc/corp-ca.pem")
    settings.data_dir       # ~/.local/share/m365bot: Settings() never reads the environment
    Settings.from_env().data_dir   # $M365BOT_HOME, else $XDG_DATA_HOME/m365bot, else the same

The data folder rule (:func:`data_dir_from_env`) is written here once; the vault's default
path and the emulator's folder are derived from it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from m365bot.errors import ConfigError

ENV_HOME = "M365BOT_HOME"
ENV_PROXY = "M365BOT_PROXY"
ENV_CA_BUNDLE = "M365BOT_CA_BUNDLE"
ENV_TIMEOUT = "M365BOT_TIMEOUT"
ENV_BROWSER = "M365BOT_BROWSER"
ENV_VAULT = "M365BOT_VAULT"


def data_dir_from_env(environ: Mapping[str, str]) -> Path:
    """The data folder: ``$M365BOT_HOME``, else ``$XDG_DATA_HOME/m365bot``, else
    ``~/.local/share/m365bot``. The one place this rule is written.

    Example::

        data_dir_from_env({"M365BOT_HOME": "/srv/bot"})   # PosixPath('/srv/bot')
    """
    home = environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser()
    xdg = environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg).expanduser() / "m365bot"
    return default_data_dir()


def default_data_dir() -> Path:
    """``~/.local/share/m365bot``: the data folder of ``Settings()`` (no environment read)."""
    return Path.home() / ".local" / "share" / "m365bot"


def _mask_proxy(proxy: str | None) -> str | None:
    """The proxy URL with its password (if any) replaced by ``****``."""
    if not proxy or "@" not in proxy:
        return proxy
    scheme, _, rest = proxy.partition("://")
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}" if ":" in userinfo else proxy


def _file_in_the_way(path: Path) -> Path | None:
    """The file (not folder) at ``path`` or at one of its parents, if any."""
    for p in (path, *path.parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def _check_text(value: object, name: str, example: str) -> None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, not {type(value).__name__}", field=name,
                          advice=f"give it like {example}")


@dataclass(frozen=True)
class Settings:
    """How m365bot stores data and reaches Microsoft (or the emulator).

    * ``data_dir``: token-cache locks, the default vault (default ``~/.local/share/m365bot``;
      :meth:`from_env` applies ``M365BOT_HOME`` / ``XDG_DATA_HOME``);
    * ``proxy``: an ``http://[user:password@]host:port`` proxy for every request (None:
      direct); the password never shows in ``repr``;
    * ``ca_bundle``: a PEM file of trusted CAs (None: the system's); environment variables
      like ``REQUESTS_CA_BUNDLE`` never override it;
    * ``timeout``: seconds per HTTP request;
    * ``browser``: a command that opens a URL, ``{url}`` replaced (None: the system browser);
    * ``vault_path``: the Credential Vault file or database URL (None: ``data_dir/vault.db``).

    Example::

        Settings(proxy=info["proxy_url"], ca_bundle=info["ca_bundle"])
    """

    data_dir: Path = field(default_factory=default_data_dir)
    proxy: str | None = None
    ca_bundle: str | None = None
    timeout: float = 30.0
    browser: str | None = None
    vault_path: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.data_dir, str | os.PathLike):
            raise ConfigError(f"data_dir must be a path, not {type(self.data_dir).__name__}",
                              field="data_dir", advice="give a folder like ~/.m365bot")
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        blocker = _file_in_the_way(self.data_dir)
        if blocker is not None:
            raise ConfigError(f"data_dir {str(self.data_dir)!r} cannot be a folder: "
                              f"{str(blocker)!r} is a file",
                              field="data_dir",
                              advice="point it (M365BOT_HOME) at a folder, or remove the file")
        _check_text(self.proxy, "proxy", "http://proxy.example.com:3128")
        _check_text(self.ca_bundle, "ca_bundle", "/etc/ssl/corp-ca.pem")
        _check_text(self.browser, "browser", "'firefox --new-window {url}'")
        _check_text(self.vault_path, "vault_path", "/srv/bot/vault.db")
        if self.proxy is not None:
            self._check_proxy(self.proxy)
        if self.ca_bundle is not None and not Path(self.ca_bundle).is_file():
            raise ConfigError(
                "ca_bundle is not a readable file", field="ca_bundle",
                advice="give the path of a PEM file with the CA certificates to trust",
            )
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int | float) or not (
            0 < self.timeout <= 600
        ):
            raise ConfigError(
                "timeout must be a number of seconds between 0 and 600", field="timeout",
                advice="use e.g. 30",
            )

    @staticmethod
    def _check_proxy(proxy: str) -> None:
        from urllib.parse import urlsplit

        fix = "give it like http://proxy.example.com:3128"
        parts = urlsplit(proxy)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("proxy must be an http:// or https:// URL", field="proxy",
                              advice=fix)
        try:
            parts.port  # noqa: B018 - urllib checks the port only when it is read
        except ValueError:
            raise ConfigError(f"proxy {_mask_proxy(proxy)!r} has a port that is not a number "
                              "from 0 to 65535", field="proxy", advice=fix) from None

    def __repr__(self) -> str:
        return (f"Settings(data_dir={str(self.data_dir)!r}, proxy={_mask_proxy(self.proxy)!r}, "
                f"ca_bundle={self.ca_bundle!r}, timeout={self.timeout!r}, "
                f"browser={self.browser!r}, vault_path={self.vault_path!r})")

    @property
    def vault_location(self) -> str:
        """The vault path or URL to open: ``vault_path`` or ``data_dir/vault.db``."""
        return self.vault_path or str(self.data_dir / "vault.db")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``M365BOT_HOME``, ``M365BOT_PROXY``, ``M365BOT_CA_BUNDLE``,
        ``M365BOT_TIMEOUT``, ``M365BOT_BROWSER``, ``M365BOT_VAULT``. Use it only at the edge.

        Example::

            settings = Settings.from_env()
        """
        env = os.environ if environ is None else environ
        timeout_text = env.get(ENV_TIMEOUT)
        timeout = 30.0
        if timeout_text:
            try:
                timeout = float(timeout_text)
            except ValueError:
                raise ConfigError(
                    f"{ENV_TIMEOUT} is not a number", field=ENV_TIMEOUT,
                    advice="set it to a number of seconds, e.g. 30",
                ) from None
        data_dir = data_dir_from_env(env)
        blocker = _file_in_the_way(data_dir)
        if blocker is not None:
            raise ConfigError(f"{ENV_HOME} {str(data_dir)!r} cannot be a folder: "
                              f"{str(blocker)!r} is a file",
                              field=ENV_HOME, advice=f"point {ENV_HOME} at a folder (it is "
                              "created if missing), or remove the file")
        return cls(
            data_dir=data_dir,
            proxy=env.get(ENV_PROXY) or None,
            ca_bundle=env.get(ENV_CA_BUNDLE) or None,
            timeout=timeout,
            browser=env.get(ENV_BROWSER) or None,
            vault_path=env.get(ENV_VAULT) or None,
        )


__all__ = ["Settings", "data_dir_from_env", "default_data_dir"]
