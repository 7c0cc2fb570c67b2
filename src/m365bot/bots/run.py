"""One bot run: the Global session registry and the stack of bots with their Local names.

The registry is a directory (``M365BOT_RUN_DIR``, handed to child processes by
:meth:`BotRun.child_env`) with one descriptor file per Global session. It is trusted only if
it belongs to this user and no one else can read or write it (mode 0700): a directory open
to others is refused, because a descriptor planted there would be followed. Descriptors
hold what names the session (cloud, mode, mailbox, client id, the token-cache key, the
reference to the secret), never a token, a secret or a network setting: a child takes its
proxy and CA bundle from its own :class:`~m365bot.config.Settings`.

This module does not open sessions; :func:`m365bot.connection.get_session` passes
:meth:`BotRun.lookup` the function that re-creates one from a descriptor.

Example::

    run = BotRun.current()
    with run.child_bot():              # a child bot in this process: own Local names
        ...
    subprocess.run([...], env=run.child_env(settings))
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from m365bot.config import ENV_CA_BUNDLE, ENV_HOME, ENV_PROXY, ENV_TIMEOUT, Settings
from m365bot.errors import SessionError
from m365bot.sessions import GlobalSession, LocalSession, Session, SessionSpec, descriptor_digest

log = logging.getLogger(__name__)

RUN_DIR_ENV = "M365BOT_RUN_DIR"


def private_dir(path: Path, *, what: str = RUN_DIR_ENV) -> Path:
    """Create ``path`` (mode 0700) or check an existing one: a real directory (not a link)
    owned by this user, that no one else may read, write or enter. SessionError otherwise.

    Example::

        private_dir(Path("/run/user/1000/m365bot"))
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise SessionError(f"{what} {str(path)!r} cannot be used as a directory "
                           f"({exc.strerror})",
                           advice=f"point {what} at a directory of your own") from None
    if not stat.S_ISDIR(st.st_mode):
        raise SessionError(f"{what} {str(path)!r} is not a directory",
                           advice=f"point {what} at a directory of your own")
    if st.st_uid != os.getuid():
        raise SessionError(f"{what} {str(path)!r} belongs to another user (uid {st.st_uid})",
                           advice=f"point {what} at a directory of your own, mode 0700")
    if st.st_mode & 0o077:
        raise SessionError(
            f"{what} {str(path)!r} is open to other users (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); a session descriptor planted there would be "
            "followed", advice=f"run 'chmod 700 {path}', or point {what} at a new directory")
    return path


class BotRun:
    """One bot run: the Global session registry (in memory and in ``run_dir``) and the
    stack of bots (each with its own Local names).

    Example::

        run = BotRun.current()
        with run.child_bot():           # a child bot in this process: own Local names
            get_session("mail")         # Global names are visible
        subprocess.run([...], env=run.child_env(settings))
    """

    _current: BotRun | None = None
    _lock = threading.Lock()
    _dir_lock = threading.Lock()

    def __init__(self, run_dir: str | os.PathLike[str] | None = None) -> None:
        self._run_dir = None if run_dir is None else Path(run_dir)
        if self._run_dir is not None:
            private_dir(self._run_dir)
            private_dir(self._run_dir / "sessions")
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
                made = Path(tempfile.mkdtemp(prefix="m365bot-run-"))
                atexit.register(shutil.rmtree, made, True)
                private_dir(made / "sessions")
                self._run_dir = made
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

    def child_env(self, settings: Settings | None = None,
                  base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for a child bot process: ``M365BOT_RUN_DIR``, and with
        ``settings`` the parent's data folder, proxy, CA bundle and timeout, which the child
        reads with :meth:`Settings.from_env` (the environment is a channel from parent to
        child that no other user can write, unlike a file).

        Example::

            subprocess.run([sys.executable, "child.py"], env=BotRun.current().child_env(s))
        """
        env = dict(os.environ if base is None else base)
        env[RUN_DIR_ENV] = str(self.run_dir)
        if settings is not None:
            env[ENV_HOME] = str(settings.data_dir)
            env[ENV_TIMEOUT] = repr(float(settings.timeout))
            for name, value in ((ENV_PROXY, settings.proxy), (ENV_CA_BUNDLE, settings.ca_bundle)):
                if value:
                    env[name] = value
                else:
                    env.pop(name, None)
        return env

    def child_bot(self) -> _ChildBot:
        """A context for a child bot run in this process: a fresh set of Local names."""
        return _ChildBot(self)

    # registry -----------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.run_dir / "sessions" / f"{descriptor_digest(name)}.json"

    def _read_entry(self, name: str) -> dict[str, Any] | None:
        """The registry entry of ``name`` (None if there is none); SessionError if it is
        unreadable, not a JSON object, or writable by someone else."""
        path = self._path(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError:
            raise _unreadable(name) from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_uid != os.getuid() or st.st_mode & 0o077:
                raise _unreadable(name)
            raw = fh.read()
        try:
            data = json.loads(raw)
        except ValueError:
            raise _unreadable(name) from None
        if not isinstance(data, dict):
            raise _unreadable(name)
        return data

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
            data = self._read_entry(name)
        except SessionError:
            return True  # unreadable: do not overwrite what another process may be writing
        return data is not None and not data.get("closed")

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
            data = json.dumps(session.descriptor()).encode()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:  # another process took the name just now
                raise _duplicate(spec.name, "Global") from None
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self._globals[spec.name] = session

    def lookup(self, name: str, reopen: Callable[[dict[str, Any]], Session]) -> Session:
        """A Local name of the current bot, else a Global name (re-created by ``reopen`` from
        the registry entry if another process opened it)."""
        for scope in (self._locals[-1], self._globals):
            found = scope.get(name)
            if found is not None and not found.closed:
                return found
            if found is not None:
                raise _disconnected(name)
        data = self._read_entry(name)
        if data is None:
            raise SessionError(
                f"there is no session named {name!r} in this bot",
                advice="run Connect with this session name first (a Local session of a "
                "parent bot is not visible in a child bot: use a Global session)")
        if data.get("closed"):
            raise _disconnected(name)
        session = reopen(data)
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
            try:
                data = self._read_entry(name) or {}
            except SessionError:
                raise SessionError(
                    f"the registry entry of session {name!r} is unreadable; nothing was "
                    "disconnected", advice=f"delete {path} to free the name") from None
            data["closed"] = True
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(data))
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


def _disconnected(name: str) -> SessionError:
    return SessionError(f"session {name!r} was disconnected",
                        advice="run Connect again before using it")


def _unreadable(name: str) -> SessionError:
    return SessionError(f"the registry entry of session {name!r} is unreadable or not "
                        "this user's own", advice="run Connect again in the parent bot")


__all__ = ["RUN_DIR_ENV", "BotRun", "private_dir"]
