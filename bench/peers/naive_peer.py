"""The naive loop: requests + msal, one request per item, in sequence, as a competent
engineer would write it in an afternoon from Graph's REST reference.

* msal's ``ConfidentialClientApplication`` with a ``SerializableTokenCache`` kept in a file,
  so a second process reuses the token (msal's "token cache serialization" docs);
  ``acquire_token_for_client`` looks in that cache first.
* One ``requests.Session`` (keep-alive), ``$select`` and ``$top=1000`` with
  ``@odata.nextLink`` for lists (Graph's "paging" docs), one ``POST .../move`` per message,
  ``GET .../attachments`` per message (``contentBytes``), and for a file over 3 MB the
  upload session Graph's "attach large files" page describes, chunk by chunk.
* A 429 is retried after its ``Retry-After``; nothing runs in parallel.

requests and msal read the proxy and the CA from ``HTTPS_PROXY`` and
``REQUESTS_CA_BUNDLE``, which the runner points at the emulator.

Run: ``python bench/peers/naive_peer.py CONFIG.json`` (see ``_peer.py``).
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import msal
import requests
from _peer import FIELDS, GRAPH, LOGIN, SCOPE, emit, load, timed

CHUNK = 4 * 1024 * 1024  # a multiple of 320 KiB, as upload sessions require


def token(cfg: dict[str, Any]) -> str:
    path = Path(cfg["home"]) / "msal_cache.json"
    cache = msal.SerializableTokenCache()
    if path.exists():
        cache.deserialize(path.read_text())
    app = msal.ConfidentialClientApplication(
        cfg["client_id"], client_credential=cfg["client_secret"],
        authority=f"{LOGIN}/{cfg['tenant_id']}", token_cache=cache)
    result = app.acquire_token_for_client(scopes=[SCOPE])
    if "access_token" not in result:
        raise SystemExit(f"no token: {result.get('error')}")
    if cache.has_state_changed:
        path.write_text(cache.serialize())
    return str(result["access_token"])


def call(http: requests.Session, method: str, url: str, **kw: Any) -> requests.Response:
    while True:
        r = http.request(method, url, timeout=300, **kw)
        if r.status_code != 429:
            r.raise_for_status()
            return r
        time.sleep(float(r.headers.get("Retry-After", "1")))


def pages(http: requests.Session, url: str, params: dict[str, Any]) -> Any:
    r = call(http, "GET", url, params=params).json()
    yield from r["value"]
    while r.get("@odata.nextLink"):
        r = call(http, "GET", r["@odata.nextLink"]).json()
        yield from r["value"]


def folder_id(http: requests.Session, box: str, name: str) -> str:
    r = call(http, "GET", f"{box}/mailFolders", params={
        "$filter": f"displayName eq '{name}'", "$select": "id"}).json()
    return str(r["value"][0]["id"])


def send_one(http: requests.Session, box: str, cfg: dict[str, Any], i: int) -> None:
    draft = call(http, "POST", f"{box}/messages", json={
        "subject": f"bench {i}", "body": {"contentType": "text", "content": "x"},
        "toRecipients": [{"emailAddress": {"address": cfg["to"]}}]}).json()
    path = Path(cfg["file"])
    size = path.stat().st_size
    session = call(http, "POST", f"{box}/messages/{draft['id']}/attachments/createUploadSession",
                   json={"AttachmentItem": {"attachmentType": "file", "name": path.name,
                                            "size": size}}).json()
    with path.open("rb") as f:
        start = 0
        while start < size:
            data = f.read(CHUNK)
            end = start + len(data) - 1
            # the upload URL carries its own authorization: no bearer token (Graph's docs)
            r = requests.put(session["uploadUrl"], data=data, timeout=300, headers={
                "Content-Range": f"bytes {start}-{end}/{size}",
                "Content-Length": str(len(data))})
            r.raise_for_status()
            start = end + 1
    call(http, "POST", f"{box}/messages/{draft['id']}/send")


def main() -> None:
    cfg = load()
    http = requests.Session()
    http.headers["Authorization"] = "Bearer " + token(cfg)
    box = f"{GRAPH}/users/{cfg['mailbox']}"
    case = cfg["case"]
    if case == "B1":
        got = call(http, "GET", f"{box}/mailFolders/{cfg['folder']}/messages", params={
            "$top": cfg["n"], "$select": ",".join(FIELDS),
            "$orderby": "receivedDateTime desc"}).json()["value"]
        emit(items=len(got))
        return
    call(http, "GET", f"{box}/mailFolders/inbox", params={"$select": "id"})  # warm-up
    if case == "B2":
        with timed() as t:
            n = sum(1 for _ in pages(http, f"{box}/mailFolders/{cfg['folder']}/messages",
                                     {"$top": 1000, "$select": ",".join(FIELDS)}))
        emit(seconds=t.seconds, items=n)
    elif case == "B3":
        src, dst = folder_id(http, box, cfg["source"]), folder_id(http, box, cfg["dest"])
        ids = [m["id"] for m in pages(http, f"{box}/mailFolders/{src}/messages",
                                      {"$top": 1000, "$select": "id"})]
        with timed() as t:
            for mid in ids:
                call(http, "POST", f"{box}/messages/{mid}/move", json={"destinationId": dst})
        emit(seconds=t.seconds, items=len(ids))
    elif case == "B4":
        out = Path(cfg["out"])
        with timed() as t:
            saved = 0
            for m in pages(http, f"{box}/mailFolders/{cfg['folder']}/messages",
                           {"$top": 1000, "$select": "id,subject,hasAttachments"}):
                if cfg["subject"] not in m["subject"] or not m["hasAttachments"]:
                    continue
                for a in call(http, "GET", f"{box}/messages/{m['id']}/attachments").json()[
                        "value"]:
                    (out / a["name"]).write_bytes(base64.b64decode(a["contentBytes"]))
                    saved += 1
        emit(seconds=t.seconds, items=saved)
    elif case == "B5":
        with timed() as t:
            for i in range(cfg["n"]):
                send_one(http, box, cfg, i)
        emit(seconds=t.seconds, items=cfg["n"])


if __name__ == "__main__":
    main()
