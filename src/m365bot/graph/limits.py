"""Per-mailbox limits shared by every thread and asyncio task of this process: at most
:data:`~m365bot.graph.core.CONCURRENCY` (4) requests in flight per (Graph host, app,
mailbox), and one Retry-After gate per mailbox, which a 429 closes for every request to that
mailbox.

One :class:`Limiter` per key lives in a process-wide registry (:func:`limiter_for`), so two
sessions of the same app on the same mailbox, sync or async, share it. Waiting is FIFO; a
thread blocks on an Event, a task awaits a Future woken thread-safely from whoever releases.

Example::

    lim = limiter_for(("graph.microsoft.com", app_id, "ops@contoso.com"))
    with lim.slot():                # blocks while 4 are in flight
        ...                         # send
    async with lim.aslot(): ...     # the async twin
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from m365bot.graph.core import CONCURRENCY


@dataclass
class _Waiter:
    n: int
    wake: Callable[[], None]
    granted: bool = False


@dataclass
class Limiter:
    """At most ``limit`` slots taken at once, and a gate closed until ``gate_until``
    (``clock`` seconds). ``peak`` is the most slots ever taken at once (for tests/benches)."""

    limit: int = CONCURRENCY
    clock: Callable[[], float] = time.monotonic
    in_flight: int = 0
    peak: int = 0
    gate_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _waiters: deque[_Waiter] = field(default_factory=deque, repr=False)

    # -- the gate ---------------------------------------------------------------------------
    def close_gate(self, seconds: float) -> None:
        """Pause every request to this mailbox for ``seconds`` (a 429's Retry-After)."""
        with self._lock:
            self.gate_until = max(self.gate_until, self.clock() + seconds)

    def gate_wait(self) -> float:
        """Seconds until the gate opens (0 when open)."""
        return max(0.0, self.gate_until - self.clock())

    # -- slots -----------------------------------------------------------------------------
    def _take(self, n: int) -> bool:
        # under the lock: take n slots now if nobody waits before us
        if not self._waiters and self.in_flight + n <= self.limit:
            self.in_flight += n
            self.peak = max(self.peak, self.in_flight)
            return True
        return False

    def release(self, n: int = 1) -> None:
        """Give back ``n`` slots and hand them on to waiters, first come first served."""
        woken = []
        with self._lock:
            self.in_flight -= n
            while self._waiters and self.in_flight + self._waiters[0].n <= self.limit:
                w = self._waiters.popleft()
                w.granted = True
                self.in_flight += w.n
                self.peak = max(self.peak, self.in_flight)
                woken.append(w)
        for w in woken:
            w.wake()

    def acquire(self, n: int = 1) -> None:
        """Take ``n`` slots (``n`` ≤ ``limit``), blocking this thread until they are free."""
        n = min(n, self.limit)
        event = threading.Event()
        with self._lock:
            if self._take(n):
                return
            self._waiters.append(_Waiter(n, event.set))
        event.wait()

    async def aacquire(self, n: int = 1) -> None:
        """Take ``n`` slots, awaiting (never blocking the event loop)."""
        n = min(n, self.limit)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not fut.done():
                fut.set_result(None)

        def wake() -> None:
            loop.call_soon_threadsafe(resolve)

        with self._lock:
            if self._take(n):
                return
            waiter = _Waiter(n, wake)
            self._waiters.append(waiter)
        try:
            await fut
        except BaseException:  # cancelled while waiting: give the slots back or leave the queue
            with self._lock:
                granted = waiter.granted
                if not granted:
                    self._waiters.remove(waiter)
            if granted:
                self.release(n)
            raise

    @contextmanager
    def slot(self, n: int = 1) -> Iterator[None]:
        """Hold ``n`` slots for the block (sync)."""
        self.acquire(n)
        try:
            yield
        finally:
            self.release(min(n, self.limit))

    @asynccontextmanager
    async def aslot(self, n: int = 1) -> AsyncIterator[None]:
        """Hold ``n`` slots for the block (async)."""
        await self.aacquire(n)
        try:
            yield
        finally:
            self.release(min(n, self.limit))


_registry: dict[tuple[str, ...], Limiter] = {}
_registry_lock = threading.Lock()


def limiter_for(key: tuple[str, ...]) -> Limiter:
    """The process-wide limiter of ``key`` (host, app, mailbox), made on first use.

    Example::

        limiter_for(("graph.microsoft.com", "app-id", "ops@contoso.com")).peak
    """
    with _registry_lock:
        lim = _registry.get(key)
        if lim is None:
            lim = _registry[key] = Limiter()
        return lim


__all__ = ["Limiter", "limiter_for"]
