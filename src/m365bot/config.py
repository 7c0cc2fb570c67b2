"""Settings: where m365bot keeps its data, and how it reaches the network.

Built once at the edge (the CLI calls :meth:`Settings.from_env`); library code receives a
``Settings`` and never reads the environment itself. Pointing m365bot at the emulator is
``Settings(proxy=info["proxy_url"], ca_bundle=info["ca_bundle"])``: no special code path.

Example::

    from m365bot.config import Settings
    settings = Settings(proxy="http://proxy.corp:3128", ca_bundle="/etc/corp-ca.pem")
    settings.data_dir       # ~/.local/share/m365bot unless M365BOT_HOME says otherwise
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from m365bot.errors import ConfigError

ENV_HOME = "M365BOT_HOME"
ENV_PROXY = "M365BOT_PROXY"
ENV_CA_BUNDLE = "M365BOT_CA_BUNDLE"
ENV_TIMEOUT = "M365BOT_TIMEOUT"
ENV_BROWSER = "M365BOT_BROWSER"
ENV_VAULT = "M365BOT_VAULT"


def _default_data_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    home = env.get(ENV_HOME)
    if home:
        return Path(home).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg).expanduser() / "m365bot"
    return Path.home() / ".local" / "share" / "m365bot"


@dataclass(frozen=True)
class Settings:
    """How m365bot stores data and reaches Microsoft (or the emulator).

    * ``data_dir``: token-cache locks, the default vault, sessions;
    * ``proxy``: an ``http://host:port`` proxy for every request (None: direct);
    * ``ca_bundle``: a PEM file of trusted CAs (None: the system's); environment variables
      like ``REQUESTS_CA_BUNDLE`` never override it;
    * ``timeout``: seconds per HTTP request;
    * ``browser``: a command that opens a URL, ``{url}`` replaced (None: the system browser);
    * ``vault_path``: the Credential Vault file or database URL (None: ``data_dir/vault.db``).

    Example::

        Settings(proxy=info["proxy_url"], ca_bundle=info["ca_bundle"])
    """

    data_dir: Path = field(default_factory=_default_data_dir)
    proxy: str | None = None
    ca_bundle: str | None = None
    timeout: float = 30.0
    browser: str | None = None
    vault_path: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        if self.proxy is not None:
            p = str(self.proxy)
            from urllib.parse import urlsplit

            if not p.startswith(("http://", "https://")) or not urlsplit(p).hostname:
                raise ConfigError(
                    "proxy must be an http:// or https:// URL", field="proxy",
                    advice="give it like http://proxy.example.com:3128",
                )
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

    @property
    def vault_location(self) -> str:
        """The vault path or URL to open: ``vault_path`` or ``data_dir/vault.db``."""
        return self.vault_path or str(self.data_dir / "vault.db")

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
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
        return cls(
            data_dir=_default_data_dir(env),
            proxy=env.get(ENV_PROXY) or None,
            ca_bundle=env.get(ENV_CA_BUNDLE) or None,
            timeout=timeout,
            browser=env.get(ENV_BROWSER) or None,
            vault_path=env.get(ENV_VAULT) or None,
        )


__all__ = ["Settings"]
