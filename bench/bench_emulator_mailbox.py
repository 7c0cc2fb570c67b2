"""Cost against mailbox history: sendMail after many earlier sends, and a delta poll after
many moves of one message.

1. Alice's mailbox is filled with 0, then 5,000, then 20,000 earlier sent messages (put in
   Sent Items directly, as ``--sends`` earlier sends would leave them); after each step,
   ``--rounds`` sendMails and Inbox listings over real HTTPS; prints the median
   ``x-emulator-server-ms`` (time inside the emulator). Target: the three sendMail medians
   within 1.5x of each other.
2. One Inbox message is moved ``--moves`` times between Inbox and Archive over HTTPS, with a
   delta token taken before; prints a delta poll's server time with a fresh token, and the
   process's RSS growth per move.

Run: ``.venv/bin/python bench/bench_emulator_mailbox.py --moves 20000``
"""

from __future__ import annotations

import argparse
import gc
import ssl
import statistics
from pathlib import Path

import httpx

from m365bot.emulator.graph.seed import seed_message
from m365bot.emulator.runtime import Emulator

ALICE = "alice@contoso.onmicrosoft.com"
BOX = f"/v1.0/users/{ALICE}"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def token(c: httpx.Client, info: dict) -> str:  # type: ignore[type-arg]
    tenant = next(t for t in info["tenants"] if t["domain"] == "contoso.onmicrosoft.com")
    app = next(a for a in info["apps"] if a["tenant_id"] == tenant["id"]
               and a["name"] == "m365bot-demo")
    r = c.post(f"/{tenant['id']}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app["client_id"],
        "client_secret": app["secrets"][0]["value"],
        "scope": "https://graph.microsoft.com/.default"})
    return str(r.json()["access_token"])


def send_times(c: httpx.Client, rounds: int) -> float:
    times = []
    for i in range(rounds):
        r = c.post(f"{BOX}/sendMail", json={"message": {
            "subject": f"timed {i}", "body": {"contentType": "text", "content": "hello " * 40},
            "toRecipients": [{"emailAddress": {"address": "someone@example.com"}}]}})
        assert r.status_code == 202, r.text
        times.append(float(r.headers["x-emulator-server-ms"]))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--moves", type=int, default=20_000)
    args = parser.parse_args()
    with Emulator.start(scenario="demo", proxy_port=None) as emu:
        emu.settings.update({"throttling": False})
        ctx = ssl.create_default_context(cafile=emu.info["ca_bundle"])
        box = emu.state.mailbox(ALICE)
        assert box is not None
        with httpx.Client(base_url=emu.base_url, verify=ctx, trust_env=False,
                          timeout=60) as c:
            c.headers["Authorization"] = "Bearer " + token(c, emu.info)
            medians = {}
            filled = 0
            send_times(c, 20)  # warm up (first-call imports, caches)
            for target in (0, 5_000, 20_000):
                with emu.state.lock:
                    for i in range(filled, target):
                        seed_message(emu.state, box, {
                            "folder": "sentitems", "subject": f"earlier {i}",
                            "from": ALICE, "to": ["someone@example.com"],
                            "body": "An earlier message. " * 20,
                            "received": "2026-11-01T09:00:00Z"})
                filled = target
                medians[target] = send_times(c, args.rounds)
                listing = statistics.median(float(c.get(
                    f"{BOX}/mailFolders/inbox/messages", params={"$top": "10"},
                ).headers["x-emulator-server-ms"]) for _ in range(args.rounds))
                print(f"sendMail after {target:>6} earlier sends: server time median "
                      f"{medians[target]:.2f} ms ({len(box.messages)} messages in the mailbox); "
                      f"listing 10 Inbox messages {listing:.2f} ms")
            spread = max(medians.values()) / min(medians.values())
            print(f"  slowest / fastest = {spread:.2f} (target <= 1.5)")

            delta = f"{emu.base_url}{BOX}/mailFolders/inbox/messages/delta?$select=subject"
            url = delta
            while True:
                body = c.get(url).json()
                if "@odata.deltaLink" in body:
                    break
                url = body["@odata.nextLink"]
            first = c.get(f"{BOX}/mailFolders/inbox/messages", params={"$top": "1"})
            current = first.json()["value"][0]["id"]
            gc.collect()
            before = rss_mb()
            for i in range(args.moves):
                r = c.post(f"{BOX}/messages/{current}/move",
                           json={"destinationId": "archive" if i % 2 == 0 else "inbox"})
                assert r.status_code == 201, r.text
                current = r.json()["id"]
            gc.collect()
            grown = rss_mb() - before
            body = c.get(body["@odata.deltaLink"]).json()  # the token from before the moves
            fresh = body["@odata.deltaLink"]
            polls = []
            for _ in range(args.rounds):
                r = c.get(fresh)
                polls.append(float(r.headers["x-emulator-server-ms"]))
            print(f"after {args.moves} moves of one message: a delta poll with a fresh token "
                  f"takes {statistics.median(polls):.2f} ms server time (median); "
                  f"tombstones kept: {len(box.deleted_ids)}; RSS grew {grown:.1f} MB "
                  f"({grown * 1024 * 1024 / max(1, args.moves):.0f} bytes per move)")


if __name__ == "__main__":
    main()
