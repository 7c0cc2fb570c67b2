"""The floor of each case: the round trips that Graph's limits allow, times the latency.

Outlook's limits (the emulator enforces the same): at most 4 requests in flight per app and
mailbox, at most 20 requests in a ``$batch`` (a batch of 20 holds all 4 slots while it runs,
so batches to one mailbox go one after another), at most 1,000 messages per page, and
150 MB of uploads per mailbox per 300 s. A whole process (B1) adds the start of a bare
``python -c pass``.

Example::

    floor("B3", 0.05, Sizes(moves=1000), pass_s=0.02)    # ceil(1000 / 20) x 50 ms = 2.5 s
"""

from __future__ import annotations

import math

from bench.world import MiB, Sizes

UPLOAD_BUDGET = 150 * MiB
UPLOAD_WINDOW_S = 300.0
CHUNK = 4 * MiB


def round_trips(case: str, s: Sizes) -> int:
    """Round trips on the critical path of one run of ``case``."""
    if case == "B1":
        # the proxy tunnel's CONNECT, the TLS handshake, one GET of 50 (the emulator charges
        # the latency on each, as a real network does)
        return 3
    if case == "B2":
        return math.ceil(s.listing / 1000)            # pages form a chain
    if case == "B3":
        return math.ceil(s.moves / 20)                 # one $batch of 20 at a time
    if case == "B4":
        return 1 + math.ceil(s.attachments / 4)       # a listing, then 4 downloads at a time
    if case == "B5":
        per_email = 3 + math.ceil(s.email_mib * MiB / CHUNK)  # draft, session, chunks, send
        return math.ceil(s.emails / 4) * per_email
    raise ValueError(case)


def floor(case: str, latency_s: float, s: Sizes, pass_s: float) -> float:
    """Seconds no client can beat for ``case`` at ``latency_s`` per round trip."""
    seconds = round_trips(case, s) * latency_s
    if case == "B1":
        seconds += pass_s
    if case == "B5":
        over = max(0.0, s.emails * s.email_mib * MiB - UPLOAD_BUDGET)
        seconds = max(seconds, over / UPLOAD_BUDGET * UPLOAD_WINDOW_S)
    return seconds


def formula(case: str, latency_ms: float, s: Sizes) -> str:
    """How the floor is made, for the table."""
    n = round_trips(case, s)
    return {
        "B1": f"python -c pass + 3 x {latency_ms:g} ms (CONNECT, TLS, GET)",
        "B2": f"ceil({s.listing} / 1000) = {n} pages x {latency_ms:g} ms",
        "B3": f"ceil({s.moves} / 20) = {n} batches x {latency_ms:g} ms",
        "B4": f"(1 + ceil({s.attachments} / 4)) = {n} x {latency_ms:g} ms",
        "B5": f"ceil({s.emails} / 4) x {n // math.ceil(s.emails / 4)} = {n} x "
              f"{latency_ms:g} ms",
    }[case]
