"""Fresh-process connect figures (auth side), printed as medians.

* ``import m365bot`` wall time minus ``python -c pass`` (budget: 60 ms);
* a fresh process that opens the vault and gets a token while a valid one is cached:
  identity-platform requests seen by the emulator (must be 0) and its wall time, next to
  ``python -c pass``;
* the same with an expired cached token (one token request, no discovery).

Run: ``.venv/bin/python bench/bench_connect.py [runs]``. Uses the built-in emulator in
proxy mode (real Microsoft host names), a throwaway vault and data folder.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
job = json.loads(sys.stdin.read())
from m365bot.auth.modes import ClientCredentials, SecretCredential
from m365bot.config import Settings
from m365bot.values import Secret
from m365bot.vault import Vault
v = Vault.open(job["vault"], actor="bench")
v.unlock(key=job["key"])
p = ClientCredentials(cloud="global", tenant=job["tenant"], client_id=job["client_id"],
    credential=SecretCredential(Secret(job["secret"])), store=v,
    settings=Settings(data_dir=job["home"], proxy=job["proxy"], ca_bundle=job["ca"]))
tok = p.get_token()
print(json.dumps({"source": tok.source, "inner_ms": (time.perf_counter() - t0) * 1000,
                  "msal_loaded": "msal" in sys.modules}))
"""


def wall(argv: list[str], stdin: str = "") -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True).stdout
    return (time.perf_counter() - t) * 1000, out


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    py = sys.executable
    base, imp, self_reported = [], [], []
    for _ in range(runs):  # interleaved, so load on the machine hits both alike
        base.append(wall([py, "-c", "pass"])[0])
        imp.append(wall([py, "-c", "import m365bot"])[0])
        err = subprocess.run([py, "-X", "importtime", "-c", "import m365bot"],
                             capture_output=True, text=True, check=True).stderr
        line = next(x for x in err.splitlines() if x.rstrip().endswith("| m365bot"))
        self_reported.append(int(line.split("|")[1]) / 1000)
    print(f"python -c pass            median {statistics.median(base):7.1f} ms")
    print(f"python -c 'import m365bot' median {statistics.median(imp):7.1f} ms "
          f"(difference {statistics.median(imp) - statistics.median(base):.1f} ms; "
          f"-X importtime cumulative {statistics.median(self_reported):.1f} ms; budget 60)")

    from m365bot.auth.modes import ClientCredentials, SecretCredential
    from m365bot.config import Settings
    from m365bot.emulator.runtime import Emulator
    from m365bot.values import Secret
    from m365bot.vault import Vault, new_raw_key

    tmp = Path(tempfile.mkdtemp(prefix="bench-connect-"))
    with Emulator.start(scenario="demo", data_dir=tmp / "emu") as emu:
        info = emu.info
        tid = next(t["id"] for t in info["tenants"] if t["cloud"] == "global")
        app = next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == "m365bot-demo")
        secret = next(s["value"] for s in app["secrets"] if s["expires"] > "2030")
        key = new_raw_key()
        vault = Vault.open(tmp / "vault.db", actor="bench")
        vault.initialize(key=key)
        settings = Settings(data_dir=tmp / "home", proxy=info["proxy_url"],
                            ca_bundle=info["ca_bundle"])
        ClientCredentials(cloud="global", tenant=tid, client_id=app["client_id"],
                          credential=SecretCredential(Secret(secret)), settings=settings,
                          store=vault).get_token()
        job = json.dumps({"vault": str(tmp / "vault.db"), "key": key, "tenant": tid,
                          "client_id": app["client_id"], "secret": secret,
                          "home": str(tmp / "home"), "proxy": info["proxy_url"],
                          "ca": info["ca_bundle"]})

        def identity() -> int:
            return sum(1 for r in emu.control.requests() if r.get("role") == "login")

        times, inner, counts, msal_loaded = [], [], [], []
        for _ in range(runs):
            emu.control.clear()
            ms, out = wall([py, "-c", CHILD], job)
            res = json.loads(out.strip().splitlines()[-1])
            times.append(ms)
            inner.append(res["inner_ms"])
            counts.append(identity())
            msal_loaded.append(res["msal_loaded"])
        print(f"fresh process, cached token: median {statistics.median(times):7.1f} ms wall "
              f"({statistics.median(inner):.1f} ms after start), identity requests per run "
              f"{sorted(set(counts))}, msal imported: {sorted(set(msal_loaded))}")

        key_name = f"global|{tid.lower()}|{app['client_id'].lower()}|app"
        times, counts = [], []
        for _ in range(runs):
            data = json.loads(vault.get_blob("token_cache", key_name) or b"{}")
            for e in data.get("AccessToken", {}).values():
                e["expires_on"] = e["extended_expires_on"] = str(int(time.time()) - 60)
            vault.put_blob("token_cache", key_name, json.dumps(data).encode())
            emu.control.clear()
            ms, out = wall([py, "-c", CHILD], job)
            times.append(ms)
            counts.append(identity())
        print(f"fresh process, expired token: median {statistics.median(times):7.1f} ms wall, "
              f"identity requests per run {sorted(set(counts))}")
        vault.close()


if __name__ == "__main__":
    main()
