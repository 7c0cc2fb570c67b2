"""Sessions: what Connect returns and every later action uses, named as the Connect action's
"Create Microsoft 365 Outlook session" field says:

* **Local** (:class:`LocalSession`): the name is visible only in the current bot;
* **Global** (:class:`GlobalSession`): visible to the bot and to every child bot it runs,
  also in other processes: the bot run's registry directory (``M365BOT_RUN_DIR``, handed to
  child processes by :meth:`BotRun.child_env`) holds one descriptor per Global session:
  connection parameters and the token-cache key, never a token or a secret. A child process
  re-creates the session from the shared encrypted token cache;
* **Variable** (``session="variable"``): no name; the returned :class:`Session` is kept in a
  bot variable and passed to a child bot (in-process as the object, across processes as
  :meth:`Session.descriptor`).

Every session records the m365bot version. The seed recommends that parent and child bots run
the same package version; m365bot enforces it: re-creating a session recorded by another
version raises :class:`~m365bot.errors.SessionError` (a live session object cannot be used
safely by different code, and neither can its cache format).

Example::

    s = m365bot.connect(..., session=GlobalSession("mail"))
    env = BotRun.current().child_env()      # give to subprocess.run(..., env=env)
    # in the child:  s = get_session("mail", settings=settings, vault=vault)
    disconnect("mail")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from m365bot._version import __version__
from m365bot.errors import ConfigError, SessionError

if TYPE_CHECKING:
    from m365bot.auth.tokens import AccessToken, TokenProvider
    from m365bot.config import Settings
    from m365bot.graph.aclient import AsyncGraph
    from m365bot.graph.client import GraphClient, GraphResponse
    from m365bot.outlook import AsyncOutlook
    from m365bot.outlook.calendar import Calendar
    from m365bot.outlook.folders import Folders

log = logging.getLogger(__name__)

RUN_DIR_ENV = "M365BOT_RUN_DIR"
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
    Graph client the Outlook actions use.

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
    _outlook: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def closed(self) -> bool:
        return self._closed

    # the Outlook actions, built on first use (m365bot.outlook.RESOURCES)
    @property
    def folders(self) -> Folders:
        """Mail folders: ``s.folders.create("Inbox/Sales")`` (see m365bot.outlook.folders)."""
        from m365bot.outlook import resource

        found: Folders = resource(self, "folders")
        return found

    @property
    def mail(self) -> Any:
        """Messages: list, get, send, reply, move... (m365bot.outlook.mail)."""
        from m365bot.outlook import resource

        return resource(self, "mail")

    @property
    def attachments(self) -> Any:
        """Attachments: list and save (m365bot.outlook.attachments)."""
        from m365bot.outlook import resource

        return resource(self, "attachments")

    @property
    def calendar(self) -> Calendar:
        """Events: range, get, create, update, delete, respond (m365bot.outlook.calendar)."""
        from m365bot.outlook import resource

        found: Calendar = resource(self, "calendar")
        return found

    @property
    def aio(self) -> AsyncOutlook:
        """The async twins: ``await s.aio.folders.exists("Inbox/Sales")``."""
        from m365bot.outlook import AsyncOutlook

        return AsyncOutlook(self)

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
        return self._agraph

    def graph_get(self, path: str, *, params: dict[str, Any] | None = None) -> GraphResponse:
        """GET a Graph path (relative to ``/v1.0``) through this session."""
        return self._require_open().get(path, params=params)

    def graph_request(self, method: str, path: str, **kw: Any) -> GraphResponse:
        """A raw Graph request through this session, with the engine's auth, limits, retries
        and errors: ``params`` (the query), ``json`` (the body), ``headers``,
        ``immutable_ids``, ``body_type``, ``guarded`` (see :meth:`Graph.request
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


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:24]


class BotRun:
    """One bot run: the Global session registry (in memory and in ``run_dir``) and the
    stack of bots (each with its own Local names).

    Example::

        run = BotRun.current()
        with run.child_bot():           # a child bot in this process: own Local names
            get_session("mail")         # Global names are visible
        subprocess.run([...], env=run.child_env())
    """

    _current: BotRun | None = None
    _lock = threading.Lock()
    _dir_lock = threading.Lock()

    def __init__(self, run_dir: str | os.PathLike[str] | None = None) -> None:
        self._run_dir = None if run_dir is None else Path(run_dir)
        if self._run_dir is not None:
            (self._run_dir / "sessions").mkdir(parents=True, exist_ok=True, mode=0o700)
        self._globals: dict[str, Session] = {}
        self._locals: list[dict[str, Session]] = [{}]

    @property
    def run_dir(self) -> Path:
        """The registry directory. A run of our own creates it when first needed (a Global
        session, a child's environment): a Variable or Local Connect writes nothing."""
        with self._dir_lock:
            if self._run_dir is None:
                import atexit
                import shutil
                import tempfile

                # a run of our own: its registry goes when this (parent) process ends
                made = tempfile.mkdtemp(prefix="m365bot-run-")
                atexit.register(shutil.rmtree, made, True)
                (Path(made) / "sessions").mkdir(parents=True, exist_ok=True, mode=0o700)
                self._run_dir = Path(made)
            return self._run_dir

    @classmethod
    def current(cls) -> BotRun:
        """This process's run: joins ``M365BOT_RUN_DIR`` if a parent set it, else a new one."""
        with cls._lock:
            if cls._current is None:
                cls._current = BotRun(os.environ.get(RUN_DIR_ENV) or None)
            return cls._current

    @classmethod
    def set_current(cls, run: BotRun | None) -> None:
        """Replace this process's run (a bot runtime starting a new job)."""
        with cls._lock:
            cls._current = run

    def child_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for a child bot process: ``M365BOT_RUN_DIR`` added."""
        env = dict(os.environ if base is None else base)
        env[RUN_DIR_ENV] = str(self.run_dir)
        return env

    def child_bot(self) -> _ChildBot:
        """A context for a child bot run in this process: a fresh set of Local names."""
        return _ChildBot(self)

    # registry -----------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.run_dir / "sessions" / f"{_digest(name)}.json"

    def ensure_free(self, spec: SessionSpec) -> None:
        """Raise SessionError now if ``spec`` names a session that is already open."""
        if isinstance(spec, LocalSession):
            live = self._locals[-1].get(spec.name)
            if live is not None and not live.closed:
                raise _duplicate(spec.name, "Local")
        elif isinstance(spec, GlobalSession):
            live = self._globals.get(spec.name)
            if (live is not None and not live.closed) or self._open_entry(spec.name):
                raise _duplicate(spec.name, "Global")

    def _open_entry(self, name: str) -> bool:
        """True if the registry has an entry for ``name`` that was not disconnected."""
        try:
            data = json.loads(self._path(name).read_text())
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            return True  # unreadable: do not overwrite what another process may be writing
        return not data.get("closed")

    def register(self, spec: SessionSpec, session: Session) -> None:
        """Record a new named session; duplicates raise SessionError."""
        if isinstance(spec, LocalSession):
            locals_ = self._locals[-1]
            if spec.name in locals_ and not locals_[spec.name].closed:
                raise _duplicate(spec.name, "Local")
            locals_[spec.name] = session
            return
        if isinstance(spec, GlobalSession):
            path = self._path(spec.name)
            live = self._globals.get(spec.name)
            if (live is not None and not live.closed) or self._open_entry(spec.name):
                raise _duplicate(spec.name, "Global")
            if path.exists():  # a disconnected entry: the name is free again
                path.unlink()
            data = json.dumps(session.descriptor_data).encode()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process took the name just now
                raise _duplicate(spec.name, "Global") from None
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self._globals[spec.name] = session

    def lookup(self, name: str, *, settings: Settings | None = None, vault: Any = None,
               variables: dict[str, Any] | None = None) -> Session:
        """A Local name of the current bot, else a Global name (re-created from the registry
        if another process opened it)."""
        for scope in (self._locals[-1], self._globals):
            found = scope.get(name)
            if found is not None and not found.closed:
                return found
            if found is not None:
                raise SessionError(f"session {name!r} was disconnected",
                                   advice="run Connect again before using it")
        path = self._path(name)
        if not path.exists():
            raise SessionError(
                f"there is no session named {name!r} in this bot",
                advice="run Connect with this session name first (a Local session of a "
                "parent bot is not visible in a child bot: use a Global session)")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            raise SessionError(f"the registry entry of session {name!r} is unreadable",
                               advice="run Connect again in the parent bot") from None
        if data.get("closed"):
            raise SessionError(f"session {name!r} was disconnected",
                               advice="run Connect again before using it")
        from m365bot.connection import reconnect

        session = reconnect(data, settings=settings, vault=vault, variables=variables)
        session.name, session.kind = name, "global"
        self._globals[name] = session
        return session

    def unregister(self, name: str) -> Session | None:
        """Forget a name (Local first, then Global); marks the registry entry closed."""
        s = self._locals[-1].pop(name, None)
        if s is not None:
            return s
        s = self._globals.pop(name, None)
        path = self._path(name)
        if path.exists():
            data = json.loads(path.read_text())
            data["closed"] = True
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.chmod(tmp, 0o600)
            tmp.replace(path)
            if s is None:
                return None
        elif s is None:
            raise SessionError(f"there is no session named {name!r} to disconnect",
                               advice="check the session name")
        return s


class _ChildBot:
    def __init__(self, run: BotRun) -> None:
        self.run = run

    def __enter__(self) -> BotRun:
        self.run._locals.append({})
        return self.run

    def __exit__(self, *exc: object) -> None:
        self.run._locals.pop()


def _duplicate(name: str, kind: str) -> SessionError:
    return SessionError(f"a {kind} session named {name!r} is already open",
                        advice="use another session name, or Disconnect the open one first")


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


def get_session(name: str, *, settings: Settings | None = None, vault: Any = None,
                variables: dict[str, Any] | None = None) -> Session:
    """The open session with this Local or Global name.

    Example::

        s = get_session("mail", vault=vault)
    """
    return BotRun.current().lookup(check_name(name), settings=settings, vault=vault,
                                   variables=variables)


def disconnect(session_or_name: Session | str) -> None:
    """Disconnect: close the session and its HTTP connections; using it afterwards (or its
    name) raises SessionError.

    Example::

        disconnect("mail")
    """
    if isinstance(session_or_name, Session):
        s = session_or_name
        if s.name and s.kind in ("local", "global"):
            with contextlib.suppress(SessionError):
                BotRun.current().unregister(s.name)
        s.close()
        return
    name = check_name(session_or_name)
    found = BotRun.current().unregister(name)
    if found is not None:
        found.close()
    log.info("Disconnect %s", name)


__all__ = ["RUN_DIR_ENV", "VARIABLE", "BotRun", "GlobalSession", "LocalSession", "Session",
           "check_version", "disconnect", "get_session"]
