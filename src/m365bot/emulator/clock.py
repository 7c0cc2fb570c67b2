"""A controllable clock: tests move emulated time forward to expire tokens and codes."""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall time plus an offset that the control API can advance.

    Example::

        clock = Clock()
        clock.advance(3600)  # every token issued an hour ago is now expired
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as the emulator sees it."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
            return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0

    @property
    def offset(self) -> float:
        return self._offset
