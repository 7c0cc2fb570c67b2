"""Sessions: what Connect returns and every later action uses, named as the Connect action's
"Create Microsoft 365 Outlook session" field says:

* **Local** (:class:`LocalSession`): the name is visible only in the current bot;
* **Global** (:class:`GlobalSession`): visible to the bot and to every child bot it runs,
  also in other processes: the bot run's registry directory (``M365BOT_RUN_DIR``, handed to
  child processes by :meth:`m365bot.bots.run.BotRun.child_env`) holds one descriptor per
  Global session: connection parameters and the token-cache key, never a token, a secret or
  a network setting. A child process re-creates the session from the shared encrypted token
  cache, with its own Settings;
* **Variable** (``session="variable"``): no name; the returned :class:`Session` is kept in a
  bot variable and passed to a child bot (in-process as the object, across processes as
  :meth:`Session.descriptor`).

Every session records the m365bot version. The RPA platform's Connect action recommends that
parent and child bots run the same package version; m365bot enforces it: re-creating a
session recorded by another version raises :class:`~m365bot.errors.SessionError` (a live
session object cannot be used safely by different code, and neither can its cache format).

Example::

    s = m365bot.connect(..., session=GlobalSession("mail"))
    env = BotRun.current().child_env(settings)  # give to subprocess.run(..., env=env)
    # in the child:  s = m365bot.get_session("mail", vault=vault)
    m365bot.disconnect("mail")
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from m365bot._version import __version__
from m365bot.errors import ConfigError, SessionError

if TYPE_CHECKING:
    from m365bot.auth.tokens import AccessToken, TokenProvider
    from m365bot.graph.aclient import AsyncGraph
    from m365bot.graph.client import GraphClient, GraphResponse

log = logging.getLogger(__name__)

DESCRIPTOR_FORMAT = 1


class LocalSession(NamedTuple):
    """A session name visible only in the current bot. Example: ``LocalSession("mail")``."""

    name: str


class GlobalSession(NamedTuple):
    """A session name visible to this bot and every child bot, in any process.

    Example: ``GlobalSession("mail")``."""

    name: str


VARIABLE = "variable"
SessionSpec = LocalSession | GlobalSession | str


def check_name(name: str) -> str:
    """A session name: 1-100 printable characters without ``/``."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or "/" in name or any(
        ord(c) < 32 for c in name
    ):
        raise ConfigError(f"the session name {name!r} is not valid", field="session",
                          advice="use 1-100 printable characters without '/', e.g. 'mail'")
    return name.strip()


@dataclass
class Session:
    """An open connection to one mailbox: identity, cloud, granted permissions, and the
    Graph client the Outlook actions use. Connect returns its subclass
    :class:`m365bot.outlook.session.OutlookSession`, which carries the actions
    (``s.folders``, ``s.mail``, ``s.attachments``, ``s.calendar``, ``s.aio``).

    Example::

        s = m365bot.connect(...)
        s.identity, s.permissions, s.expires_on
        s.graph_get("/users/ops@contoso.com/mailFolders/inbox/messages", params={"$top": 5})
        s.graph.paginate(...), await s.agraph.get(...)    # the Graph engine, sync and async
        m365bot.disconnect(s)
    """

    kind: str
    name: str | None
    cloud: str
    mode: str
    mailbox: str
    identity: str
    identity_type: str
    permissions: list[str]
    expires_on: float
    descriptor_data: dict[str, Any]
    token_provider: TokenProvider = field(repr=False)
    client: GraphClient | None = field(repr=False, default=None)
    version: str = __version__
    _closed: bool = field(default=False, repr=False)
    _agraph: AsyncGraph | None = field(default=None, repr=False)

    @property
    def closed(self) -> bool:
        return self._closed

    def _require_open(self) -> GraphClient:
        if self._closed or self.client is None:
            what = f"session {self.name!r}" if self.name else "this session"
            raise SessionError(f"{what} was disconnected",
                               advice="run Connect again before using it")
        return self.client

    @property
    def graph(self) -> GraphClient:
        """The sync Graph engine of this session (see :mod:`m365bot.graph`)."""
        return self._require_open()

    @property
    def agraph(self) -> AsyncGraph:
        """The async Graph engine of this session: same auth, limits, retries and errors.

        Example::

            r = await session.agraph.get(f"/users/{session.mailbox}/mailFolders/inbox")
        """
        client = self._require_open()
        if self._agraph is None or self._agraph.closed:
            from m365bot.graph.aclient import AsyncGraph

            self._agraph = AsyncGraph(client.base_url, client.token_provider, client.settings,
                                      mailbox=client.mailbox, policy=client.policy)
            self._agraph.recheck = client.recheck  # Connect's skipped check, shared
        return self._agraph

    def graph_get(self, path: str, *, params: dict[str, Any] | None = None) -> GraphResponse:
        """GET a Graph path (relative to ``/v1.0``) through this session."""
        return self._require_open().get(path, params=params)

    def graph_request(self, method: str, path: str, **kw: Any) -> GraphResponse:
        """A raw Graph request through this session, with the engine's auth, limits, retries
        and errors: ``params`` (the query), ``json`` (the body), ``headers``,
        ``immutable_ids``, ``body_type``, ``guarded``, ``accept`` (see :meth:`Graph.request
        <m365bot.graph.client.Graph.request>`).

        Example::

            s.graph_request("PATCH", f"/users/{s.mailbox}/messages/{mid}",
                            json={"isRead": True})
        """
        return self._require_open().request(method, path, **kw)

    async def agraph_request(self, method: str, path: str, **kw: Any) -> GraphResponse:
        """The async twin of :meth:`graph_request`.

        Example::

            await s.agraph_request("GET", f"/users/{s.mailbox}/messages", params={"$top": 5})
        """
        return await self.agraph.request(method, path, **kw)

    def token(self) -> AccessToken:
        """The current access token (refreshed when needed); never print it."""
        self._require_open()
        return self.token_provider.get_token()

    def descriptor(self) -> dict[str, Any]:
        """What a child process needs to re-create this session: no token, no secret."""
        self._require_open()
        return dict(self.descriptor_data)

    def info(self) -> dict[str, Any]:
        """The connection test's facts (for printing): never a token."""
        return {"kind": self.kind, "name": self.name, "cloud": self.cloud, "mode": self.mode,
                "mailbox": self.mailbox, "identity": self.identity,
                "identity_type": self.identity_type, "permissions": list(self.permissions),
                "expires_on": int(self.expires_on), "version": self.version}

    def close(self) -> None:
        """Close the HTTP connections; later use raises SessionError. Idempotent."""
        if not self._closed:
            self._closed = True
            if self.client is not None:
                self.client.close()
            if self._agraph is not None:
                self._agraph.close()
            close_provider = getattr(self.token_provider, "close", None)
            if callable(close_provider):
                close_provider()  # the sign-in (token) HTTP connection too
            log.info("session %s closed", self.name or "(variable)")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (f"<Session {self.kind} {self.name or ''!s} {self.identity} -> {self.mailbox} "
                f"({self.cloud}, {state})>")


def descriptor_digest(name: str) -> str:
    """The registry file name of a Global session name (names may hold any character)."""
    return hashlib.sha256(name.encode()).hexdigest()[:24]


def check_version(data: dict[str, Any]) -> None:
    """Refuse a descriptor recorded by another m365bot version."""
    if data.get("format") != DESCRIPTOR_FORMAT:
        raise SessionError("this session descriptor is not one m365bot understands",
                           advice="pass the Session from Connect, or its descriptor()")
    got = data.get("version")
    if got != __version__:
        raise SessionError(
            f"the session was opened by m365bot {got} but this bot runs m365bot {__version__}",
            advice="run parent and child bots with the same m365bot version (as the Connect "
            "action recommends), or Connect again in the child bot")


__all__ = ["DESCRIPTOR_FORMAT", "VARIABLE", "GlobalSession", "LocalSession", "Session",
           "SessionSpec", "check_name", "check_version", "descriptor_digest"]
