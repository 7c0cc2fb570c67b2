"""Graph v1.0's schema and Graph-formed values in the emulator's answers.

The checker itself (against a real Graph answer and against the faults a strict client trips
on), the hook that the whole suite runs with (tests/plugins/graph_schema.py), and the values
a third-party client sees: standard base64 in ``conversationIndex``, change keys and etags as
Exchange forms them, the cloud's ``webLink`` host and directory display names.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphx_support import GX, proxied_client
from mail_support import ALICE, BOB, token_for, unique

from m365bot.emulator.graph import schema
from m365bot.emulator.graph.schemacheck import ENV_VAR, SchemaLog

CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#users('a%40contoso.com')"
# A message as Graph answers it (learn.microsoft.com/graph/api/message-get, trimmed).
REAL_MESSAGE = {
    "@odata.context": CONTEXT + "/messages/$entity",
    "@odata.etag": 'W/"CQAAABYAAACBmGpda7ZqQJPfMOpiyn6aAAAERfnB"',
    "id": "AAMkAGNjYjZlNmUxLWIzNGYtNDc3Ni04YTI3LTcwODFjOGZkMzkwMABGAAAAAABxT_rxjLfGQoiJhM1u-etj"
          "BwBlLqkxdm26QJmVjZdJ5nCIAAAAfGyrAAAodlP4a6HZQo2G3v6Cd4flAAAEO0PbAAA=",
    "createdDateTime": "2016-06-14T15:21:51Z",
    "lastModifiedDateTime": "2016-06-21T23:44:12Z",
    "changeKey": "CQAAABYAAACBmGpda7ZqQJPfMOpiyn6aAAAERfnB",
    "categories": [],
    "receivedDateTime": "2016-06-14T15:21:51Z",
    "sentDateTime": "2016-06-14T15:21:29Z",
    "hasAttachments": False,
    "subject": "Satya is on stage",
    "importance": "normal",
    "conversationIndex": "AdHGUGl6hj/7Ze4dRROcLj0hVzbH1w==",
    "isDeliveryReceiptRequested": None,
    "isReadReceiptRequested": False,
    "inferenceClassification": "focused",
    "body": {"contentType": "html", "content": "<html></html>"},
    "from": {"emailAddress": {"name": "Derrick Connell", "address": "derrickc@microsoft.com"}},
    "toRecipients": [],
    "flag": {"flagStatus": "notFlagged"},
}
URL_SAFE_ID = re.compile(r"^[A-Za-z0-9_=-]+$")


def test_a_real_graph_message_passes_the_checker() -> None:
    assert schema.check(REAL_MESSAGE, strict=True) == []
    assert "f54f11b6" in schema.provenance()


@pytest.mark.parametrize(("change", "expected"), [
    ({"conversationIndex": "CQAAAL_VkdHbeYrriVV83BUO"}, "conversationIndex: 'CQAAAL_VkdHbeYr"),
    ({"sentDateTime": "2016-06-14 15:21:29"}, "sentDateTime: '2016-06-14 15:21:29' is not"),
    ({"importance": "Normal"}, "importance: 'Normal' is not a member of importance"),
    ({"isReadReceiptRequested": "false"}, "isReadReceiptRequested: expected true/false"),
    ({"id": None}, "id: null, but Edm.String is not nullable"),
    ({"flag": {"flagStatus": "flagged", "color": "red"}}, "flag.color: no such property"),
    ({"unsubscribeData": []}, "unsubscribeData: no such property on microsoft.graph.message"),
])
def test_the_checker_names_each_kind_of_violation(change: dict[str, Any], expected: str) -> None:
    problems = schema.check({**REAL_MESSAGE, **change}, strict=True)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_folders_and_attachments_follow_v1_types() -> None:
    folder = {"@odata.context": CONTEXT + "/mailFolders/$entity", "id": "AAMk",
              "displayName": "Inbox", "sizeInBytes": 10}
    assert schema.check(folder) == [
        "sizeInBytes: no such property on microsoft.graph.mailFolder"]
    listed = {"@odata.context": CONTEXT + "/messages('AAMk')/attachments",
              "value": [{"id": "AAMk", "name": "a.txt", "size": 3, "isInline": False},
                        {"@odata.type": "#microsoft.graph.fileAttachment", "id": "AAMk",
                         "name": "a.txt", "size": 3, "isInline": False,
                         "contentBytes": "YWJj"},
                        {"@odata.type": "#microsoft.graph.event", "id": "x"}]}
    problems = schema.check(listed)
    assert problems[0].startswith("value[0]: attachment is abstract; the object needs "
                                  "@odata.type")
    assert problems[1:] == ["value[2].@odata.type: '#microsoft.graph.event' does not derive "
                            "from attachment"]


def test_a_violation_fails_the_test_that_caused_it(tmp_path: Path) -> None:
    """The suite's plugin turns a recorded violation into that test's failure."""
    test_file = tmp_path / "test_bad_answer.py"
    test_file.write_text(
        "import os\n"
        "from m365bot.emulator.graph.schemacheck import ENV_VAR, SchemaLog\n"
        "def test_emulator_sent_a_beta_property():\n"
        "    body = b'{\"@odata.context\": \"https://graph.microsoft.com/v1.0/$metadata#"
        "users(\\'a\\')/mailFolders/$entity\", \"id\": \"AAMk\", \"sizeInBytes\": 1}'\n"
        "    SchemaLog(os.environ[ENV_VAR]).record('/v1.0/users/a/mailFolders/inbox', 200, "
        "body)\n"
        "def test_clean():\n"
        "    SchemaLog(os.environ[ENV_VAR]).record('/v1.0/me', 200, b'{\"id\": \"x\", "
        "\"displayName\": \"A\"}')\n")
    tests_dir = Path(__file__).resolve().parents[1]
    # a fresh pytest session: not the schema folder of this one, and not an xdist worker's
    # variables (a worker prints no summary, which the asserts below read)
    env = {k: v for k, v in os.environ.items()
           if k not in (ENV_VAR, "M365BOT_TEST_SCHEMA_FOLDER")
           and not k.startswith("PYTEST_XDIST_")}
    env["PYTHONPATH"] = str(tests_dir)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "plugins.graph_schema", str(test_file)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert "sizeInBytes: no such property on microsoft.graph.mailFolder" in out
    assert "Graph schema: 2 emulator answers validated" in out


def test_the_hook_records_every_answer_of_a_served_request(
        gx: GX, tmp_path: Path) -> None:
    log = Path(os.environ[ENV_VAR])
    before = log.stat().st_size
    r = gx.get(f"/users/{ALICE}/mailFolders", params={"$top": "3"})
    assert r.status_code == 200
    records = [json.loads(line) for line in log.read_bytes()[before:].splitlines()]
    mine = [rec for rec in records if rec["path"] == f"/v1.0/users/{ALICE}/mailFolders"]
    assert mine and mine[-1]["type"] == "mailFolder" and mine[-1]["violations"] == []
    other = tmp_path / "other.jsonl"
    assert SchemaLog(str(other)).record("/v1.0/me", 200, b"not json") == [
        "the body is not JSON although Content-Type says so"]
    assert json.loads(other.read_text())["violations"] != []


def test_mail_folder_has_v1_properties_only(gx: GX) -> None:
    r = gx.get(f"/users/{ALICE}/mailFolders/inbox")
    assert r.status_code == 200
    assert set(r.json()) == {"@odata.context", "id", "displayName", "parentFolderId",
                             "childFolderCount", "unreadItemCount", "totalItemCount",
                             "isHidden"}
    bad = gx.get(f"/users/{ALICE}/mailFolders/inbox", params={"$select": "sizeInBytes"})
    assert bad.status_code == 400
    assert "sizeInBytes" in bad.json()["error"]["message"]


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)  # a strict decoder: no - or _


def test_binary_and_change_keys_are_formed_as_exchange_forms_them(gx: GX) -> None:
    subject = unique("schema")
    sent = gx.post(f"/users/{ALICE}/sendMail", json={"message": {
        "subject": subject, "body": {"contentType": "text", "content": "hi"},
        "toRecipients": [{"emailAddress": {"address": BOB}}]}})
    assert sent.status_code == 202, sent.text
    got = gx.get(f"/users/{BOB}/mailFolders/inbox/messages",
                 params={"$filter": f"subject eq '{subject}'"}).json()["value"]
    assert len(got) == 1
    msg = got[0]
    index = _b64(msg["conversationIndex"])
    assert len(index) == 22
    change = _b64(msg["changeKey"])
    assert len(change) == 30 and change[:8] == b"\x09\x00\x00\x00\x16\x00\x00\x00"
    assert msg["@odata.etag"] == f'W/"{msg["changeKey"]}"'
    assert URL_SAFE_ID.match(msg["id"]) and URL_SAFE_ID.match(msg["conversationId"])
    guid = index[6:]
    assert base64.urlsafe_b64decode(msg["conversationId"]).endswith(b"\x10\x00" + guid)

    reply = gx.post(f"/users/{BOB}/messages/{msg['id']}/createReply", json={})
    assert reply.status_code == 201, reply.text
    child = _b64(reply.json()["conversationIndex"])
    assert len(child) == 27 and child[:22] == index
    assert reply.json()["conversationId"] == msg["conversationId"]


def test_names_are_the_directorys_display_names(gx: GX) -> None:
    subject = unique("names")
    gx.post(f"/users/{ALICE}/sendMail", json={"message": {
        "subject": subject, "body": {"contentType": "text", "content": "hi"},
        "toRecipients": [{"emailAddress": {"address": BOB}},
                         {"emailAddress": {"address": "someone@example.com"}}]}})
    got = gx.get(f"/users/{BOB}/mailFolders/inbox/messages",
                 params={"$filter": f"subject eq '{subject}'"}).json()["value"][0]
    assert got["from"]["emailAddress"] == {"name": "Alice Anders", "address": ALICE}
    names = {r["emailAddress"]["address"]: r["emailAddress"]["name"]
             for r in got["toRecipients"]}
    assert names == {BOB: "Bob Berg", "someone@example.com": "someone@example.com"}
    seeded = gx.get(f"/users/{ALICE}/messages",
                    params={"$filter": "subject eq 'Welcome to Contoso'"}).json()["value"]
    assert seeded and seeded[0]["from"]["emailAddress"] == {"name": "Bob Berg", "address": BOB}


@pytest.mark.parametrize(("cloud", "graph", "owa"), [
    ("global", "https://graph.microsoft.com", "https://outlook.office365.com/owa/?ItemID="),
    ("usgovhigh", "https://graph.microsoft.us", "https://outlook.office365.us/owa/?ItemID="),
])
def test_web_link_is_the_clouds_outlook(emulator_info: dict[str, Any], cloud: str, graph: str,
                                        owa: str) -> None:
    with proxied_client(emulator_info) as client:
        token = token_for(client, emulator_info, "m365bot-demo", cloud)
        tenant = next(t for t in emulator_info["tenants"] if t["cloud"] == cloud)
        alice = next(u["upn"] for u in emulator_info["users"]
                     if u["tenant_id"] == tenant["id"] and u["upn"].startswith("alice@"))
        r = client.get(f"{graph}/v1.0/users/{alice}/messages",
                       headers={"Authorization": f"Bearer {token}"},
                       params={"$select": "webLink,subject"})
    assert r.status_code == 200, r.text
    for msg in r.json()["value"]:
        link = httpx.URL(msg["webLink"])
        assert msg["webLink"].startswith(owa)
        item_id = link.params["ItemID"]
        assert item_id == msg["id"].replace("-", "+").replace("_", "/")


def test_sending_a_received_message_is_item_not_found(gx: GX) -> None:
    """Outlook answers a received message's id on /send as it answers an unknown id
    (rlrghb/olkcli#118: "The specified object was not found in the store")."""
    received = gx.get(f"/users/{ALICE}/mailFolders/inbox/messages",
                      params={"$top": "1"}).json()["value"][0]
    r = gx.post(f"/users/{ALICE}/messages/{received['id']}/send")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "ErrorItemNotFound"
    assert r.json()["error"]["message"] == "The specified object was not found in the store."
