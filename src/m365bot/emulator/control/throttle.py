"""Outlook throttling per app + mailbox: concurrency, requests per window, upload per window.

Windows use the emulator clock, so ``clock.advance(600)`` empties them.

Example::

    t = Throttle(settings.throttling, clock)
    refusal = t.admit(key, now, upload_bytes=0)   # None: go ahead, then t.release(key)
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field

from m365bot.emulator.control.settings import ThrottleSettings


@dataclass
class _Bucket:
    in_flight: int = 0
    peak: int = 0  # the most requests in flight at once since the last clear
    requests: deque[float] = field(default_factory=deque)
    uploads: deque[tuple[float, int]] = field(default_factory=deque)
    upload_total: int = 0


@dataclass(frozen=True)
class Refusal:
    """Why a request was throttled, and when to retry (whole seconds)."""

    limit: str  # "concurrency" | "requests" | "upload"
    retry_after: int


class Throttle:
    """Counters by key; thread-safe."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = defaultdict(_Bucket)
        self._lock = threading.Lock()

    @staticmethod
    def key(settings: ThrottleSettings, app_id: str, mailbox: str) -> str:
        if settings.scope == "app":
            return app_id.lower()
        return f"{app_id.lower()}|{mailbox.lower()}"

    def admit(
        self, settings: ThrottleSettings, key: str, now: float, upload_bytes: int
    ) -> Refusal | None:
        """Count the request in, or say why not. Admitted requests must be released."""
        with self._lock:
            b = self._buckets[key]
            while b.requests and b.requests[0] <= now - settings.requests_window:
                b.requests.popleft()
            while b.uploads and b.uploads[0][0] <= now - settings.upload_window:
                b.upload_total -= b.uploads.popleft()[1]
            if b.in_flight >= settings.concurrency:
                return Refusal("concurrency", settings.retry_after)
            if len(b.requests) >= settings.requests:
                oldest = b.requests[0] if b.requests else now
                wait = oldest + settings.requests_window - now
                return Refusal("requests", max(1, math.ceil(wait)))
            if upload_bytes and b.upload_total + upload_bytes > settings.upload_bytes:
                oldest = b.uploads[0][0] if b.uploads else now
                wait = oldest + settings.upload_window - now
                return Refusal("upload", max(1, math.ceil(wait)))
            b.in_flight += 1
            b.peak = max(b.peak, b.in_flight)
            b.requests.append(now)
            if upload_bytes:
                b.uploads.append((now, upload_bytes))
                b.upload_total += upload_bytes
            return None

    def release(self, key: str) -> None:
        with self._lock:
            b = self._buckets.get(key)
            if b is not None and b.in_flight > 0:
                b.in_flight -= 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                k: {
                    "in_flight": b.in_flight,
                    "peak": b.peak,
                    "requests": len(b.requests),
                    "upload_bytes": b.upload_total,
                }
                for k, b in self._buckets.items()
            }

    def clear(self) -> None:
        with self._lock:
            for b in self._buckets.values():
                b.peak = b.in_flight
                b.requests.clear()
                b.uploads.clear()
                b.upload_total = 0
