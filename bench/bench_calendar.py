"""The calendar actions against the emulator with 50 ms of latency and throttling on (Outlook's
limits: 4 requests in flight per app and mailbox).

Cases, each timed over several rounds (median), each with its floor as a formula:

* list: ``session.calendar.list`` over a range holding N occurrences of a daily series, 1,000
  a page. Pages are sequential (each needs the last one's nextLink):
  ``floor = ceil(N / 1000) * latency``.
* create: M events created at once with ``session.aio.calendar.create`` (``asyncio.gather``):
  ``floor = ceil(M / 4) * latency`` (4 in flight per mailbox).
* accept: M invitations accepted at once with ``session.aio.calendar.accept``: the same floor.

Prints, per case: the median, the floor and the ratio.

Run::

    .venv/bin/python bench/bench_calendar.py [--rounds 5] [--occurrences 2000] [--events 20] \
        [--latency-ms 50]

With ``--latency-ms 0`` the medians are the work alone (emulator and client in one process).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

IN_FLIGHT = 4
PAGE = 1000
HOST = "alice@contoso.onmicrosoft.com"
GUEST = "bob@contoso.onmicrosoft.com"


def _session(emu: Any, tmp: str, address: str) -> Any:
    import m365bot
    from m365bot.config import Settings
    from m365bot.values import Secret

    info = emu.info
    tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
    app = next(a for a in info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    secret = max(app["secrets"], key=lambda s: str(s["expires"]))["value"]
    settings = Settings(data_dir=Path(tmp) / address, proxy=info["proxy_url"],
                        ca_bundle=info["ca_bundle"], timeout=60)
    return m365bot.connect(cloud="global", mode="client-credentials",
                           client_id=app["client_id"], tenant_id=tenant["id"],
                           username=address, client_secret=Secret(secret), settings=settings)


def _report(name: str, samples: list[float], floor: float, formula: str) -> None:
    median = statistics.median(samples)
    ratio = f"{median / floor:.2f}" if floor else "-"
    print(f"{name:8} median {median * 1000:8.1f} ms   floor {floor * 1000:7.1f} ms "
          f"({formula})   ratio {ratio}")


def bench_list(host: Any, occurrences: int, rounds: int, latency: float) -> None:
    from m365bot.outlook.models import Recurrence

    first = date(2030, 1, 1)
    host.calendar.create("bench daily", datetime(2030, 1, 1, 9), datetime(2030, 1, 1, 9, 30),
                         time_zone="UTC",
                         recurrence=Recurrence.daily(start=first, count=occurrences))
    end = first + timedelta(days=occurrences)
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        n = sum(1 for _ in host.calendar.list(first, end, time_zone="UTC", page_size=PAGE))
        samples.append(time.perf_counter() - t)
        assert n == occurrences, n
    pages = math.ceil(occurrences / PAGE)
    _report("list", samples, pages * latency,
            f"ceil({occurrences}/{PAGE}) pages x {latency * 1000:.0f} ms")


def bench_create_accept(host: Any, guest: Any, events: int, rounds: int,
                        latency: float) -> None:
    floor = math.ceil(events / IN_FLIGHT) * latency
    formula = f"ceil({events}/{IN_FLIGHT}) x {latency * 1000:.0f} ms"
    creates, accepts = [], []
    for r in range(rounds):
        day = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(days=r)

        async def create(day: datetime = day) -> float:
            t = time.perf_counter()
            try:
                await asyncio.gather(*(host.aio.calendar.create(
                    f"bench {i}", day + timedelta(minutes=10 * i),
                    day + timedelta(minutes=10 * i + 5), attendees=[GUEST])
                    for i in range(events)))
                return time.perf_counter() - t
            finally:
                await host.agraph.aclose()

        creates.append(asyncio.run(create()))
        invites = [e.id for e in guest.calendar.list(day, day + timedelta(days=1))]
        assert len(invites) == events, len(invites)

        async def accept(ids: list[str] = invites) -> float:
            t = time.perf_counter()
            try:
                await asyncio.gather(*(guest.aio.calendar.accept(i, send_response=False)
                                       for i in ids))
                return time.perf_counter() - t
            finally:
                await guest.agraph.aclose()

        accepts.append(asyncio.run(accept()))
    _report("create", creates, floor, formula)
    _report("accept", accepts, floor, formula)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--occurrences", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    from m365bot.emulator.runtime import Emulator

    with tempfile.TemporaryDirectory() as tmp, \
            Emulator.start(scenario="demo", data_dir=tmp) as emu:
        emu.settings.update({"latency_ms": args.latency_ms,
                             "throttling": {"enabled": True, "concurrency": IN_FLIGHT}})
        host, guest = _session(emu, tmp, HOST), _session(emu, tmp, GUEST)
        bench_list(host, args.occurrences, args.rounds, latency)
        bench_create_accept(host, guest, args.events, args.rounds, latency)
        throttled = emu.control.count("events.create", 429) + emu.control.count(
            "events.accept", 429)
        print(f"429 answers: {throttled}")
        host.close()
        guest.close()


if __name__ == "__main__":
    main()
