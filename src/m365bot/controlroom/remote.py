"""Connect's "Control Room managed" mode against a Control Room server: the runner asks the
server's token broker for an access token with its API key, and never holds a refresh token
or a client secret.

The Control Room's URL and the runner's API key come from the Credential Vault, a Variable
or the environment (``M365BOT_CONTROLROOM_URL``, ``M365BOT_CONTROLROOM_API_KEY``; each may
also be a reference like ``credential:runner/controlroom/api_key``). The Control Room is
reached with its own network settings (``M365BOT_CONTROLROOM_CA_BUNDLE``,
``M365BOT_CONTROLROOM_PROXY``), not Graph's: it usually sits inside the network.

Example::

    cr = RemoteControlRoom(url="https://cr.corp:8443",
                           api_key=CredentialRef("runner", "controlroom", "api_key"),
                           vault=vault)
    s = m365bot.connect(cloud="gcchigh", mode="control-room", username=upn,
                        connection={"provider_type": "Microsoft 365 Outlook",
                                    "connection_name": "ops", "token_type": "user"},
                        connections=cr)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from m365bot.auth.tokens import AccessToken, make_access_token
from m365bot.config import Settings
from m365bot.controlroom.connections import HeldTokenSource, token_type
from m365bot.errors import AuthError, ConfigError, M365BotError, ReauthRequired, TransportError
from m365bot.net import HttpFactory, network_errors
from m365bot.values import Insecure, Secret, Value, parse_value, resolve

log = logging.getLogger(__name__)

ENV_URL = "M365BOT_CONTROLROOM_URL"
ENV_API_KEY = "M365BOT_CONTROLROOM_API_KEY"
ENV_CA_BUNDLE = "M365BOT_CONTROLROOM_CA_BUNDLE"
ENV_PROXY = "M365BOT_CONTROLROOM_PROXY"
TOKEN_PATH = "/api/v1/oauth/token"


def _env_value(text: str) -> Value:
    """An environment value: a reference, or the value itself (the environment is a source
    of its own, not an insecure string typed into a bot)."""
    if text.startswith(("credential:", "variable:")):
        return parse_value(text)
    return Secret(text)


class RemoteControlRoom:
    """A Control Room server's OAuth connections, as Connect reaches them
    (:class:`m365bot.connection.ConnectionTokens`).

    Example::

        RemoteControlRoom.from_env(os.environ, vault=vault).token_source(
            "Microsoft 365 Outlook", "ops", token_type="shared", user=upn, settings=settings)
    """

    def __init__(self, *, url: Value, api_key: Value, settings: Settings | None = None,
                 vault: Any = None, variables: Mapping[str, Any] | None = None) -> None:
        text = url if isinstance(url, str) else resolve(url, vault=vault, variables=variables,
                                                         field="controlroom_url").reveal()
        parts = urlsplit(text.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("the Control Room URL is not an http(s) URL", field=ENV_URL,
                              advice="give it like https://controlroom.corp:8443")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        key = api_key if isinstance(api_key, Secret) else resolve(
            Insecure(api_key) if isinstance(api_key, str) else api_key, vault=vault,
            variables=variables, field="controlroom_api_key")
        if not key.reveal().strip():
            raise ConfigError("the runner's API key is empty", field=ENV_API_KEY,
                              advice="give the key an administrator created for this runner "
                              "(Manage > API keys)")
        self._key = key
        self.factory = HttpFactory(settings or Settings())
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, vault: Any = None,
                 variables: Mapping[str, Any] | None = None,
                 data_dir: Any = None) -> RemoteControlRoom | None:
        """The Control Room named by ``M365BOT_CONTROLROOM_URL`` (None when unset: the
        embedded store is used)."""
        url = environ.get(ENV_URL, "").strip()
        if not url:
            return None
        key = environ.get(ENV_API_KEY, "")
        if not key:
            raise ConfigError(f"{ENV_URL} is set but {ENV_API_KEY} is not", field=ENV_API_KEY,
                              advice="set the runner's API key (or a reference like "
                              "credential:runner/controlroom/api_key)")
        kw: dict[str, Any] = {"ca_bundle": environ.get(ENV_CA_BUNDLE) or None,
                              "proxy": environ.get(ENV_PROXY) or None}
        if data_dir is not None:
            kw["data_dir"] = data_dir
        return cls(url=_env_value(url) if url.startswith(("credential:", "variable:")) else url,
                   api_key=_env_value(key), settings=Settings(**kw), vault=vault,
                   variables=variables)

    def token_source(self, provider_type: str, name: str, *, token_type: str, user: str,
                     settings: Settings) -> RemoteTokenSource:
        """The token provider for one connection and token type (``settings`` are Graph's;
        the Control Room is reached with this object's own)."""
        return RemoteTokenSource(self, {"provider_type": provider_type,
                                        "connection_name": name,
                                        "token_type": _token_type(token_type)})

    def request_token(self, pick: dict[str, str], *, stale: str = "") -> AccessToken:
        """One call to the broker: an access token and its expiry, or the error it means."""
        body = dict(pick, stale=stale) if stale else dict(pick)
        url = self.url + TOKEN_PATH
        with self._lock:
            if self._client is None:
                self._client = self.factory.client()
            client = self._client
        with network_errors(url, self.factory.timeout):
            resp = client.post(url, json=body, headers={
                "Authorization": "Bearer " + self._key.reveal(), "Accept": "application/json"})
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code == 200 and isinstance(data, dict) and data.get("access_token"):
            at = str(data["access_token"])
            return make_access_token(at, data.get("expires_in"), "control_room")
        raise _error(resp.status_code, data if isinstance(data, dict) else {}, pick)

    def close(self) -> None:
        """Close the connection to the Control Room."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __repr__(self) -> str:
        return f"<RemoteControlRoom {self.url}>"


def connections_for(environ: Mapping[str, str], *, vault: Any = None,
                    variables: Mapping[str, Any] | None = None) -> Any:
    """What Connect's Control Room managed mode uses: the Control Room server named by
    ``M365BOT_CONTROLROOM_URL``, else the embedded store next to the vault (None without
    a vault). Called at the edge (the CLI), where the environment is read.

    Example::

        connect(..., connections=connections_for(os.environ, vault=vault))
    """
    remote = RemoteControlRoom.from_env(environ, vault=vault, variables=variables)
    if remote is not None:
        return remote
    if vault is None:
        return None
    from m365bot.controlroom.store import ConnectionStore

    return ConnectionStore(vault)


def _token_type(value: str) -> str:
    return "User-specific" if token_type(value) == "user" else "Shared"


def _error(status: int, data: dict[str, Any], pick: dict[str, str]) -> M365BotError:
    message = str(data.get("error") or f"the Control Room answered HTTP {status}")
    advice = str(data.get("fix") or "")
    code = str(data.get("code") or status)
    if status == 409 and code != "token_missing":
        return ReauthRequired(message, code=code, advice=advice)
    if status in (400, 404, 422):
        return ConfigError(message, field=str(data.get("field") or "connection"),
                           advice=advice or "check the connection pick")
    if status in (401, 403, 409):
        return AuthError(message, code=code, advice=advice or "check the runner's API key")
    return TransportError(f"the Control Room could not give a token: {message}",
                          advice=advice or "try again later; if it persists, ask the Control "
                          "Room's administrator")


class RemoteTokenSource(HeldTokenSource):
    """A token provider backed by the Control Room's broker: the runner keeps the access
    token until it nears expiry and asks again (with the refused token's fingerprint when
    Graph refused it).

    Example::

        RemoteTokenSource(cr, {"provider_type": ..., "connection_name": "ops",
                               "token_type": "Shared"}).get_token()
    """

    def __init__(self, room: RemoteControlRoom, pick: dict[str, str]) -> None:
        self._room = room
        self.pick = pick
        self.http_factory = room.factory

    def fetch(self, stale: str) -> AccessToken:
        """A token from the Control Room (the client stays open for other sessions)."""
        log.debug("token for %s from the Control Room", self.pick["connection_name"])
        return self._room.request_token(self.pick, stale=stale)

    def __repr__(self) -> str:
        return f"<RemoteTokenSource {self.pick['connection_name']} {self.pick['token_type']}>"


__all__ = [
    "ENV_API_KEY",
    "ENV_URL",
    "TOKEN_PATH",
    "RemoteControlRoom",
    "RemoteTokenSource",
    "connections_for",
]
