"""Large attachments through upload sessions: createUploadSession on Graph, chunked PUTs on
the Outlook upload host without an Authorization header, PascalCase intermediate replies, the
150 MB cap, cancel, expiry, and the 150 MB / 5 min upload throttle."""

from __future__ import annotations

import hashlib
import os
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx
from graphx_support import ALICE, GX, error_code

from m365bot.emulator.state import Attachment

MB = 1024 * 1024


def _session(gx: GX, mid: str, size: int, name: str = "big.bin") -> dict[str, Any]:
    r = gx.post(f"/users/{ALICE}/messages/{mid}/attachments/createUploadSession",
                json={"AttachmentItem": {"attachmentType": "file", "name": name, "size": size,
                                         "contentType": "application/pdf"}})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _put(gx: GX, url: str, data: bytes, start: int, total: int, **headers: str
         ) -> httpx.Response:
    end = start + len(data) - 1
    h = {"Content-Range": f"bytes {start}-{end}/{total}",
         "Content-Type": "application/octet-stream", **headers}
    return gx.client.put(url, content=data, headers=h)


def test_five_megabytes_in_three_chunks(gx: GX, draft: str, emulator: Any) -> None:
    data = os.urandom(5 * MB)
    session = _session(gx, draft, len(data))
    url = session["uploadUrl"]
    parts = urlsplit(url)
    assert parts.hostname == "outlook.office.com" and "authtoken=" in parts.query
    assert "/api/v2.0/Users('" in url and "/AttachmentSessions('" in url
    assert session["nextExpectedRanges"] == ["0-"] and session["expirationDateTime"]

    cuts = [0, 2 * MB, 4 * MB, len(data)]
    for i in range(3):
        chunk = data[cuts[i]:cuts[i + 1]]
        r = _put(gx, url, chunk, cuts[i], len(data))  # note: no Authorization header
        if i < 2:
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["NextExpectedRanges"] == [str(cuts[i + 1])]
            assert body["ExpirationDateTime"] and "/AttachmentSessions/" in body["@odata.context"]
            assert "nextExpectedRanges" not in body  # PascalCase, as Outlook answers
        else:
            assert r.status_code == 201, r.text
            location = r.headers["location"]
    aid = location.split("Attachments('")[1].rstrip("')")
    raw = gx.get(f"/users/{ALICE}/messages/{draft}/attachments/{aid}/$value")
    assert raw.status_code == 200
    assert hashlib.sha256(raw.content).hexdigest() == hashlib.sha256(data).hexdigest()
    meta = gx.get(f"/users/{ALICE}/messages/{draft}/attachments/{aid}").json()
    assert meta["name"] == "big.bin" and meta["size"] == len(data)
    assert meta["contentType"] == "application/pdf"
    assert emulator.state.mailbox(ALICE).messages[draft].props["hasAttachments"] is True
    assert emulator.control.count("uploadSession.put") >= 3


def test_put_with_a_bearer_token_is_refused(gx: GX, draft: str) -> None:
    session = _session(gx, draft, 3 * MB)
    r = _put(gx, session["uploadUrl"], b"a" * 1024, 0, 3 * MB,
             Authorization=f"Bearer {gx.token}")
    assert r.status_code == 401
    ok = _put(gx, session["uploadUrl"], b"a" * 1024, 0, 3 * MB)
    assert ok.status_code == 200 and ok.json()["NextExpectedRanges"] == ["1024"]


def test_bad_content_range(gx: GX, draft: str) -> None:
    total = 3 * MB
    url = _session(gx, draft, total)["uploadUrl"]
    assert _put(gx, url, b"x" * 100, 0, total).status_code == 200
    skipped = _put(gx, url, b"x" * 100, 500, total)
    assert skipped.status_code == 416
    assert skipped.json()["NextExpectedRanges"] == ["100"]
    malformed = gx.client.put(url, content=b"x" * 10, headers={"Content-Range": "bytes=0-9"})
    assert malformed.status_code == 400 and "Content-Range" in malformed.json()["error"]["message"]
    wrong_total = _put(gx, url, b"x" * 100, 100, total + 1)
    assert wrong_total.status_code == 400
    short = gx.client.put(url, content=b"x" * 10,
                          headers={"Content-Range": f"bytes 100-199/{total}"})
    assert short.status_code == 400
    # The session survived all that and continues where it was.
    assert _put(gx, url, b"y" * 100, 100, total).json()["NextExpectedRanges"] == ["200"]


def test_size_limits_on_create(gx: GX, draft: str, emulator: Any) -> None:
    path = f"/users/{ALICE}/messages/{draft}/attachments/createUploadSession"
    too_big = gx.post(path, json={"attachmentItem": {"attachmentType": "file", "name": "x.iso",
                                                     "size": 150 * MB + 1}})
    assert too_big.status_code == 413 and error_code(too_big) == "ErrorMessageSizeExceeded"
    too_small = gx.post(path, json={"AttachmentItem": {"name": "x.txt", "size": 10}})
    assert too_small.status_code == 400
    assert error_code(too_small) == "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
    at_cap = gx.post(path, json={"AttachmentItem": {"name": "x.iso", "size": 150 * MB}})
    assert at_cap.status_code == 201
    emulator.state.mailbox(ALICE).messages[draft].attachments.append(
        Attachment(id="AAMkAGAttFake000000", props={"size": 100 * MB, "name": "prior.bin"}))
    over = gx.post(path, json={"AttachmentItem": {"name": "x.iso", "size": 60 * MB}})
    assert over.status_code == 413 and error_code(over) == "ErrorMessageSizeExceeded"
    for bad in ({}, {"AttachmentItem": {"size": 3 * MB}},
                {"AttachmentItem": {"name": "x", "size": "big"}},
                {"AttachmentItem": {"name": "x", "size": 3 * MB, "attachmentType": "item"}}):
        r = gx.post(path, json=bad)
        assert r.status_code == 400, (bad, r.text)


def test_cancel_and_expiry(gx: GX, draft: str, emulator: Any) -> None:
    url = _session(gx, draft, 3 * MB)["uploadUrl"]
    assert gx.client.delete(url).status_code == 204
    assert _put(gx, url, b"x" * 10, 0, 3 * MB).status_code == 404

    url = _session(gx, draft, 3 * MB)["uploadUrl"]
    emulator.clock.advance(7 * 3600)
    try:
        r = _put(gx, url, b"x" * 10, 0, 3 * MB)
    finally:
        emulator.clock.advance(-7 * 3600)
    assert r.status_code == 404

    forged = url.split("authtoken=")[0] + "authtoken=forged"
    assert _put(gx, forged, b"x" * 10, 0, 3 * MB).status_code in (401, 404)


def test_direct_mode_upload_url(gx: GX, draft: str, emulator_info: dict[str, Any]) -> None:
    ctx = ssl.create_default_context(cafile=emulator_info["ca_bundle"])
    base = emulator_info["base_url"]
    with httpx.Client(verify=ctx, trust_env=False, timeout=30) as direct:
        r = direct.post(f"{base}/v1.0/users/{ALICE}/messages/{draft}/attachments/"
                        "createUploadSession",
                        headers={"Authorization": f"Bearer {gx.token}"},
                        json={"AttachmentItem": {"name": "d.bin", "size": 3 * MB}})
        assert r.status_code == 201, r.text
        url = r.json()["uploadUrl"]
        assert url.startswith(base + "/api/v2.0/")
        put = direct.put(url, content=b"z" * 3 * MB,
                         headers={"Content-Range": f"bytes 0-{3 * MB - 1}/{3 * MB}"})
        assert put.status_code == 201 and put.headers["location"].startswith(base)


def test_uploads_count_against_the_upload_throttle(gx: GX, draft: str, emulator: Any) -> None:
    url = _session(gx, draft, 3 * MB)["uploadUrl"]
    before = emulator.settings.throttling.upload_bytes
    emulator.control.throttle.clear()
    emulator.settings.update({"throttling": {"upload_bytes": MB}})
    try:
        first = _put(gx, url, b"x" * (MB // 2), 0, 3 * MB)
        second = _put(gx, url, b"x" * MB, MB // 2, 3 * MB)
    finally:
        emulator.settings.update({"throttling": {"upload_bytes": before}})
        emulator.control.throttle.clear()
    assert first.status_code == 200
    assert second.status_code == 429 and second.headers["retry-after"]
    assert second.json()["error"]["code"] == "ApplicationThrottled"


def test_full_mailbox_refuses_the_session(gx: GX, draft: str, emulator: Any) -> None:
    box = emulator.state.mailbox(ALICE)
    before = box.quota_bytes
    box.quota_bytes = 1024
    try:
        r = gx.post(f"/users/{ALICE}/messages/{draft}/attachments/createUploadSession",
                    json={"AttachmentItem": {"name": "big.bin", "size": 3 * MB}})
    finally:
        box.quota_bytes = before
    assert error_code(r) == "ErrorQuotaExceeded"
    assert r.json()["error"]["message"] == "Mailbox has exceeded maximum mailbox size."


def test_gov_cloud_session_uses_its_upload_host(gx: GX, draft: str) -> None:
    info = gx.info
    tenant = next(t for t in info["tenants"] if t["cloud"] == "usgovhigh")
    app = next(a for a in info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    user = next(u for u in info["users"] if u["tenant_id"] == tenant["id"])
    r = gx.client.post(
        f"https://login.microsoftonline.us/{tenant['id']}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": app["client_id"],
              "client_secret": max(app["secrets"], key=lambda x: str(x["expires"]))["value"],
              "scope": "https://graph.microsoft.us/.default"})
    assert r.status_code == 200, r.text
    auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
    graph = f"https://graph.microsoft.us/v1.0/users/{user['upn']}"
    created = gx.client.post(f"{graph}/messages", headers=auth,
                             json={"subject": "gov draft"})
    assert created.status_code == 201, created.text
    mid = created.json()["id"]
    s = gx.client.post(f"{graph}/messages/{mid}/attachments/createUploadSession", headers=auth,
                       json={"AttachmentItem": {"name": "g.bin", "size": 3 * MB}})
    assert s.status_code == 201, s.text
    url = s.json()["uploadUrl"]
    assert urlsplit(url).hostname == "outlook.office365.us"
    try:
        done = _put(gx, url, b"g" * 3 * MB, 0, 3 * MB)
        assert done.status_code == 201
        assert urlsplit(done.headers["location"]).hostname == "outlook.office365.us"
    finally:  # leave the gov mailbox as the mail tests expect it
        assert gx.client.delete(f"{graph}/messages/{mid}", headers=auth).status_code == 204


def test_curl_uploads_through_the_proxy(gx: GX, draft: str, tmp_path: Any) -> None:
    """An unmodified client (curl) PUTs chunks to the real upload host name via the proxy."""
    import shutil
    import subprocess

    curl = shutil.which("curl")
    assert curl, "curl is part of the CI image"
    data = os.urandom(3 * MB)
    url = _session(gx, draft, len(data), name="curl.bin")["uploadUrl"]
    half = len(data) // 2
    statuses = []
    for start, end in ((0, half - 1), (half, len(data) - 1)):
        part = tmp_path / f"part{start}"
        part.write_bytes(data[start:end + 1])
        out = subprocess.run(
            [curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
             "--proxy", gx.info["proxy_url"], "--cacert", gx.info["ca_bundle"],
             "-H", f"Content-Range: bytes {start}-{end}/{len(data)}",
             "-H", "Content-Type: application/octet-stream",
             "--data-binary", f"@{part}", url],
            capture_output=True, text=True, timeout=60,
            env={"PATH": os.environ.get("PATH", "")},
        )
        statuses.append(out.stdout.strip())
    assert statuses == ["200", "201"], statuses
    atts = gx.get(f"/users/{ALICE}/messages/{draft}/attachments").json()["value"]
    got = next(a for a in atts if a["name"] == "curl.bin")
    raw = gx.get(f"/users/{ALICE}/messages/{draft}/attachments/{got['id']}/$value").content
    assert hashlib.sha256(raw).digest() == hashlib.sha256(data).digest()
