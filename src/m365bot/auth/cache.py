"""msal's token cache and http cache, persisted encrypted in the vault, with a cross-process lock.

* The token cache (``msal.SerializableTokenCache``) is stored with
  ``vault.put_blob("token_cache", key, bytes)``, key ``cloud|tenant|client|user``, and written
  only when msal says it changed.
* msal's ``http_cache`` (the discovery answers) is stored the same way (kind ``http_cache``),
  so a fresh process with a valid cached token sends nothing to the identity platform.
* :class:`ConnectionLock` is an ``fcntl.flock`` (``msvcrt.locking`` on Windows) on
  ``data_dir/locks/<hash>.lock`` (0600), one per cache key: the refresher takes it, reloads
  the cache, uses a still-valid token or gets a new one, writes, releases. N processes
  refreshing at once make one token request.
* :class:`FailureMarker` remembers a refused refresh (``invalid_grant``) next to the lock, so
  no process retries it more than once a minute.

Example::

    with ConnectionLock(settings.data_dir, key):
        cache = PersistentCache(vault, key, http_key).load()
        ...
        cache.save()
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from m365bot.auth.http import HttpResponse, import_msal
from m365bot.errors import AuthError

log = logging.getLogger(__name__)

TOKEN_CACHE_KIND = "token_cache"
HTTP_CACHE_KIND = "http_cache"


class BlobStore(Protocol):
    """What the cache needs from the vault."""

    def get_blob(self, kind: str, key: str) -> bytes | None: ...

    def put_blob(self, kind: str, key: str, data: bytes) -> int: ...


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False if someone else holds it."""
    if sys.platform == "win32":  # pragma: no cover - bots also run on Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def lock_dir(data_dir: Path) -> Path:
    """``data_dir/locks``, created 0700."""
    path = Path(data_dir) / "locks"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class ConnectionLock:
    """An exclusive cross-process lock for one cache key (``fcntl.flock``), re-entrant within
    one object. Waits up to ``timeout`` seconds, then raises :class:`AuthError`.

    Example::

        with ConnectionLock(data_dir, "global|tid|cid|alice@contoso.com"):
            ...
    """

    def __init__(self, data_dir: Path, key: str, *, timeout: float = 120.0) -> None:
        self.path = lock_dir(data_dir) / f"{_digest(key)}.lock"
        self.timeout = timeout
        self._fd: int | None = None
        self._depth = 0
        self._thread_lock = threading.RLock()

    def acquire(self) -> None:
        if not self._thread_lock.acquire(timeout=self.timeout):
            raise AuthError(
                f"another thread has held the token lock for over {self.timeout:g} s",
                code="lock_timeout", advice="wait for the other sign-in to finish",
            )
        if self._fd is not None:
            self._depth += 1
            return
        try:
            self._flock()
        except BaseException:
            self._thread_lock.release()
            raise

    def _flock(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            if _try_lock(fd):
                break
            if time.monotonic() >= deadline:
                os.close(fd)
                raise AuthError(
                    f"another process has held the token lock for over {self.timeout:g} s",
                    code="lock_timeout",
                    advice=f"wait for the other sign-in to finish, or remove {self.path} "
                    "if no m365bot process is running",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        self._fd = fd
        self._depth = 1

    def release(self) -> None:
        if self._fd is None:
            return
        self._depth -= 1
        try:
            if self._depth == 0:
                fd, self._fd = self._fd, None
                try:
                    _unlock(fd)
                finally:
                    os.close(fd)
        finally:
            self._thread_lock.release()

    def __enter__(self) -> ConnectionLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


INVALID_GRANT_BACKOFF = 60.0  # a refused refresh is not tried again for this many seconds


class FailureMarker:
    """The last refused refresh of a connection, kept beside its lock file (0600).

    Example::

        marker = FailureMarker(data_dir, key)
        if marker.recent(now=time.time()): raise ...
    """

    def __init__(self, data_dir: Path, key: str) -> None:
        self.path = lock_dir(data_dir) / f"{_digest(key)}.failed"

    def read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def recent(self, *, now: float, window: float = 60.0) -> dict[str, Any] | None:
        """The failure record if it is younger than ``window`` seconds."""
        data = self.read()
        if data is None:
            return None
        when = data.get("time")
        if isinstance(when, int | float) and 0 <= now - when < window:
            return data
        return None

    def record(self, *, now: float, code: str, message: str) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"time": now, "code": code, "message": message[:300]}, fh)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


# -- which credential obtained the cached tokens --------------------------------------------------

CREDENTIAL_MARK_KIND = "token_credential"


def credential_mark(material: bytes) -> bytes:
    """A keyed fingerprint of a credential (HMAC-SHA256 under a fresh random key kept beside
    it), stored encrypted in the vault next to the token cache; never the secret itself.

    Example::

        mark = credential_mark(cred.material())
        assert mark_matches(mark, cred.material())
    """
    import hmac

    salt = os.urandom(32)
    mac = hmac.new(salt, material, hashlib.sha256).hexdigest()
    return json.dumps({"v": 1, "salt": salt.hex(), "mac": mac}).encode()


def mark_matches(mark: bytes | None, material: bytes) -> bool:
    """True if ``mark`` (from :func:`credential_mark`) was made from ``material``."""
    import hmac

    if not mark:
        return False
    try:
        data = json.loads(mark)
        expected = hmac.new(bytes.fromhex(data["salt"]), material, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, str(data["mac"]))
    except (ValueError, KeyError, TypeError):
        return False


# -- msal http_cache ---------------------------------------------------------------------------

_INDEX = "_index_"


def dump_http_cache(mapping: dict[str, Any]) -> bytes:
    """JSON of msal's http cache, keeping only successful GETs (discovery documents)."""
    entries: dict[str, Any] = {}
    for key, value in mapping.items():
        if key == _INDEX or not key.startswith("GET "):
            continue
        status = getattr(value, "status_code", 0)
        if 200 <= status < 300:
            entries[key] = {
                "status_code": status,
                "text": getattr(value, "text", ""),
                "headers": dict(getattr(value, "headers", {}) or {}),
            }
    sequence, timestamps = mapping.get(_INDEX, ([], {}))
    index = [
        [list(e) for e in sequence if e[2] in entries],
        {k: list(v) for k, v in timestamps.items() if k in entries},
    ]
    return json.dumps({"entries": entries, "index": index}, sort_keys=True).encode()


def load_http_cache(data: bytes | None) -> dict[str, Any]:
    """The inverse of :func:`dump_http_cache` (an empty dict for None or garbage)."""
    if not data:
        return {}
    try:
        raw = json.loads(data)
        mapping: dict[str, Any] = {
            k: HttpResponse(int(v["status_code"]), str(v["text"]), dict(v["headers"]))
            for k, v in raw["entries"].items()
        }
        sequence = [list(e) for e in raw["index"][0]]
        heapq.heapify(sequence)
        mapping[_INDEX] = (sequence, {k: list(v) for k, v in raw["index"][1].items()})
        return mapping
    except (ValueError, KeyError, TypeError, IndexError):
        log.debug("ignoring an unreadable http cache")
        return {}


class PersistentCache:
    """One connection's msal token cache and http cache, loaded from and saved to the vault.

    Example::

        cache = PersistentCache(vault, "global|t|c|u", "global|t").load()
        app = msal.PublicClientApplication(..., token_cache=cache.token_cache,
                                           http_cache=cache.http_cache)
        cache.save()
    """

    def __init__(self, store: BlobStore, key: str, http_key: str) -> None:
        msal = import_msal()
        self.store = store
        self.key = key
        self.http_key = http_key
        self.token_cache = msal.SerializableTokenCache()
        self.http_cache: dict[str, Any] = {}
        self._http_loaded = b""

    def load(self) -> PersistentCache:
        """Read both caches from the vault (fresh objects; nothing written)."""
        msal = import_msal()
        self.token_cache = msal.SerializableTokenCache()
        data = self.store.get_blob(TOKEN_CACHE_KIND, self.key)
        if data:
            self.token_cache.deserialize(data.decode())
        raw_http = self.store.get_blob(HTTP_CACHE_KIND, self.http_key)
        self.http_cache = load_http_cache(raw_http)
        self._http_loaded = dump_http_cache(self.http_cache)
        return self

    def save(self) -> bool:
        """Write what changed; True if the token cache was written."""
        wrote = False
        if self.token_cache.has_state_changed:
            self.store.put_blob(TOKEN_CACHE_KIND, self.key, self.token_cache.serialize().encode())
            self.token_cache.has_state_changed = False
            wrote = True
            log.debug("token cache written")
        http = dump_http_cache(self.http_cache)
        if http != self._http_loaded:
            self.store.put_blob(HTTP_CACHE_KIND, self.http_key, http)
            self._http_loaded = http
        return wrote

    def __repr__(self) -> str:
        return f"<PersistentCache {self.key.split('|')[0]}>"


__all__ = [
    "CREDENTIAL_MARK_KIND",
    "INVALID_GRANT_BACKOFF",
    "BlobStore",
    "ConnectionLock",
    "FailureMarker",
    "PersistentCache",
    "credential_mark",
    "dump_http_cache",
    "load_http_cache",
    "lock_dir",
    "mark_matches",
]
