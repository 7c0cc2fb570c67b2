"""Server-side cost of the emulator's calendar, ``$batch`` and upload-session paths.

Runs the demo emulator in-process and times, over one keep-alive HTTPS connection through
the proxy with the real Graph URLs (as a client would use it):

* ``calendarView`` over one year with a daily series (365 occurrences, ``$top=1000``);
* a ``$batch`` of 20 GETs (each item goes through auth, throttling and inspection);
* a 10 MB upload session in 4 MiB chunks (MB/s end to end).

Prints the medians.

Run::

    .venv/bin/python bench/bench_graph_calendar_batch_upload.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import ssl
import statistics
import tempfile
import time
from typing import Any

import httpx

GRAPH = "https://graph.microsoft.com/v1.0"
ALICE = "alice@contoso.onmicrosoft.com"
MB = 1024 * 1024


def _token(client: httpx.Client, info: dict[str, Any]) -> str:
    tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
    app = next(a for a in info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    r = client.post(f"https://login.microsoftonline.com/{tenant['id']}/oauth2/v2.0/token",
                    data={"grant_type": "client_credentials", "client_id": app["client_id"],
                          "client_secret": max(app["secrets"],
                                               key=lambda s: str(s["expires"]))["value"],
                          "scope": "https://graph.microsoft.com/.default"})
    r.raise_for_status()
    return str(r.json()["access_token"])


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    from m365bot.emulator.runtime import Emulator

    with tempfile.TemporaryDirectory() as tmp, \
            Emulator.start(scenario="demo", data_dir=tmp) as emu:
        emu.settings.update({"throttling": False})
        info = emu.info
        ctx = ssl.create_default_context(cafile=info["ca_bundle"])
        with httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False,
                          timeout=60) as client:
            auth = {"Authorization": f"Bearer {_token(client, info)}"}
            run(client, auth, emu, args.rounds)


def run(client: httpx.Client, auth: dict[str, str], emu: Any, rounds: int) -> None:
    r = client.post(f"{GRAPH}/users/{ALICE}/events", headers=auth, json={
        "subject": "bench daily",
        "start": {"dateTime": "2028-01-01T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2028-01-01T09:30:00", "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "daily", "interval": 1},
                       "range": {"type": "noEnd", "startDate": "2028-01-01"}}})
    r.raise_for_status()
    view: list[float] = []
    server: list[float] = []
    for _ in range(rounds):
        t = time.perf_counter()
        r = client.get(f"{GRAPH}/users/{ALICE}/calendarView", headers=auth, params={
            "startDateTime": "2028-01-01T00:00:00Z", "endDateTime": "2029-01-01T00:00:00Z",
            "$top": "1000"})
        view.append(time.perf_counter() - t)
        server.append(float(r.headers.get("x-emulator-server-ms", "nan")) / 1000)
        assert len(r.json()["value"]) >= 365
    print(f"calendarView, 1 year of a daily series: median {_median_ms(view)} round trip, "
          f"{_median_ms(server)} server time")

    batch = {"requests": [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}/calendar"}
                          for i in range(20)]}
    times: list[float] = []
    for _ in range(rounds):
        t = time.perf_counter()
        r = client.post(f"{GRAPH}/$batch", headers=auth, json=batch)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200
    print(f"$batch of 20 GETs: median {_median_ms(times)}")

    from m365bot.emulator.state import Message

    box = emu.state.mailbox(ALICE)
    mid = "AAMkAGBenchUploadTarget0000AAA="
    with emu.state.lock:  # a target draft, placed directly so the bench needs no mail API
        box.messages[mid] = Message(id=mid, immutable_id=mid, folder_id="",
                                    props={"subject": "bench", "isDraft": True})
    data = os.urandom(10 * MB)
    rates: list[float] = []
    for _ in range(max(3, rounds // 10)):
        r = client.post(f"{GRAPH}/users/{ALICE}/messages/{mid}/attachments/createUploadSession",
                        headers=auth, json={"AttachmentItem": {"name": "b.bin", "size": len(data)}})
        url = r.json()["uploadUrl"]
        t = time.perf_counter()
        for start in range(0, len(data), 4 * MB):
            chunk = data[start:start + 4 * MB]
            client.put(url, content=chunk, headers={  # no Authorization: the URL carries it
                "Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{len(data)}"})
        rates.append(len(data) / MB / (time.perf_counter() - t))
    print(f"upload session, 10 MB in 4 MiB chunks: median {statistics.median(rates):.0f} MB/s")


if __name__ == "__main__":
    main()
