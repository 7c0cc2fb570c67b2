"""Contract tests for Graph's authentication and authorization errors on mail endpoints, over
real HTTPS through proxy mode: InvalidAuthenticationToken (+ WWW-Authenticate), cross-cloud
tokens, app roles, the application access policy, delegated scopes, shared-mailbox grants,
ErrorSendAsDenied, /me with an app token, unknown users, MailboxNotEnabledForRESTAPI,
ErrorQuotaExceeded, ErrorInvalidIdMalformed and ErrorItemNotFound."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphx_support import GX
from mail_support import ALICE, BOB, OPS, err, sign_in, token_for, unique

CHALLENGE = ('Bearer realm="", authorization_uri="https://{login}/common/oauth2/authorize", '
             'client_id="00000003-0000-0000-c000-000000000000"')
INBOX = f"/users/{ALICE}/mailFolders/inbox/messages"


def _call(client: httpx.Client, url: str, token: str | None, method: str = "GET",
          **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.request(method, url, headers=headers, **kw)


def _unauthorized(r: httpx.Response, message: str,
                  login: str = "login.microsoftonline.com") -> None:
    assert r.status_code == 401, r.text
    assert err(r) == "InvalidAuthenticationToken"
    assert r.json()["error"]["message"] == message
    assert r.headers["www-authenticate"] == CHALLENGE.format(login=login)


def test_missing_and_garbage_tokens(http_client: httpx.Client) -> None:
    url = "https://graph.microsoft.com/v1.0" + INBOX
    _unauthorized(_call(http_client, url, None), "Access token is empty.")
    _unauthorized(_call(http_client, url, "not-a-jwt"),
                  "CompactToken parsing failed with error code: 80049217")
    r = http_client.get(url, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401 and err(r) == "InvalidAuthenticationToken"


def test_tampered_token(gx: GX) -> None:
    header, payload, signature = gx.token.split(".")
    forged = f"{header}.{payload}.{signature[:-6]}AAAAAA"
    r = _call(gx.client, "https://graph.microsoft.com/v1.0" + INBOX, forged)
    _unauthorized(r, "Access token validation failure.")


def test_expired_token(gx: GX, emulator: Any) -> None:
    emulator.clock.advance(2 * 3600)
    try:
        r = gx.get(INBOX)
    finally:
        emulator.clock.advance(-2 * 3600)
    _unauthorized(r, "Access token has expired or is not yet valid.")
    assert gx.get(INBOX).status_code == 200


def test_token_accepted_only_by_its_own_clouds_graph(http_client: httpx.Client,
                                                     emulator_info: dict[str, Any],
                                                     gx: GX) -> None:
    gov = token_for(http_client, emulator_info, "m365bot-demo", "usgovhigh")
    gov_alice = "alice@fabrikamgov.onmicrosoft.us"
    ok = _call(http_client, f"https://graph.microsoft.us/v1.0/users/{gov_alice}/messages", gov)
    assert ok.status_code == 200
    assert [m["subject"] for m in ok.json()["value"]] == ["Welcome to Fabrikam"]
    wrong = _call(http_client, "https://graph.microsoft.com/v1.0" + INBOX, gov)
    _unauthorized(wrong, "Access token validation failure. Invalid audience.")
    back = _call(http_client, f"https://graph.microsoft.us/v1.0/users/{gov_alice}/messages",
                 gx.token)
    _unauthorized(back, "Access token validation failure. Invalid audience.",
                  login="login.microsoftonline.us")
    dod = _call(http_client, f"https://dod-graph.microsoft.us/v1.0/users/{gov_alice}/messages",
                gov)
    _unauthorized(dod, "Access token validation failure. Invalid audience.",
                  login="login.microsoftonline.us")


def test_app_without_mail_roles_is_denied(http_client: httpx.Client,
                                          emulator_info: dict[str, Any]) -> None:
    token = token_for(http_client, emulator_info, "m365bot-noconsent")
    r = _call(http_client, "https://graph.microsoft.com/v1.0" + INBOX, token)
    assert r.status_code == 403 and err(r) == "ErrorAccessDenied"
    assert r.json()["error"]["message"] == "Access is denied. Check credentials and try again."


def test_application_access_policy(http_client: httpx.Client,
                                   emulator_info: dict[str, Any]) -> None:
    token = token_for(http_client, emulator_info, "m365bot-ops-only")
    inside = _call(http_client,
                   f"https://graph.microsoft.com/v1.0/users/{OPS}/mailFolders/inbox/messages",
                   token)
    assert inside.status_code == 200
    outside = _call(http_client, "https://graph.microsoft.com/v1.0" + INBOX, token)
    assert outside.status_code == 403 and err(outside) == "ErrorAccessDenied"
    assert outside.json()["error"]["message"].startswith("Access to OData is disabled")


def test_me_with_app_token_is_bad_request(gx: GX) -> None:
    r = gx.get("/me/messages")
    assert r.status_code == 400 and err(r) == "BadRequest"
    assert r.json()["error"]["message"] == \
        "/me request is only valid with delegated authentication flow."
    assert gx.get("/me").status_code == 400


def test_delegated_scopes_are_enforced(http_client: httpx.Client,
                                       emulator_info: dict[str, Any]) -> None:
    token = sign_in(emulator_info, "alice", "openid User.Read")
    me = GX(client=http_client, token=token, info=emulator_info)
    assert me.get("/me").status_code == 200
    r = me.get("/me/messages")
    assert r.status_code == 403 and err(r) == "ErrorAccessDenied"
    r = me.post("/me/sendMail", json={"message": {"subject": "x", "toRecipients": [
        {"emailAddress": {"address": BOB}}]}})
    assert r.status_code == 403 and err(r) == "ErrorAccessDenied"


def test_shared_and_other_mailboxes_need_grants(alice_delegated: GX, bob_delegated: GX) -> None:
    assert alice_delegated.get(f"/users/{OPS}/messages").status_code == 200  # FullAccess
    r = bob_delegated.get(f"/users/{OPS}/messages")  # SendOnBehalf only: may not read
    assert r.status_code == 403 and err(r) == "ErrorAccessDenied"
    r = bob_delegated.get(f"/users/{ALICE}/messages")
    assert r.status_code == 403 and err(r) == "ErrorAccessDenied"
    subject = unique("onbehalf")
    r = bob_delegated.post(f"/users/{OPS}/sendMail", json={"message": {
        "subject": subject, "toRecipients": [{"emailAddress": {"address": ALICE}}]}})
    assert r.status_code == 202, r.text
    r = alice_delegated.post(f"/users/{BOB}/sendMail", json={"message": {
        "subject": "no grant", "toRecipients": [{"emailAddress": {"address": ALICE}}]}})
    assert r.status_code == 403 and err(r) == "ErrorSendAsDenied"


def test_send_as_through_from(alice_delegated: GX, bob_delegated: GX, gx: GX) -> None:
    subject = unique("sendas")
    r = alice_delegated.post("/me/sendMail", json={"message": {
        "subject": subject, "from": {"emailAddress": {"address": OPS}},
        "toRecipients": [{"emailAddress": {"address": BOB}}]}})
    assert r.status_code == 202, r.text
    got = gx.get(f"/users/{BOB}/mailFolders/inbox/messages",
                 params={"$filter": f"subject eq '{subject}'"}).json()["value"]
    assert got[0]["from"]["emailAddress"]["address"] == OPS
    r = bob_delegated.post("/me/sendMail", json={"message": {
        "subject": "spoof", "from": {"emailAddress": {"address": ALICE}},
        "toRecipients": [{"emailAddress": {"address": BOB}}]}})
    assert r.status_code == 403 and err(r) == "ErrorSendAsDenied"


def test_unknown_and_foreign_users(gx: GX) -> None:
    for who in ("nobody@contoso.onmicrosoft.com", "alice@fabrikamgov.onmicrosoft.us",
                "00000000-0000-0000-0000-000000000000"):
        r = gx.get(f"/users/{who}/messages")
        assert r.status_code == 404 and err(r) == "ErrorInvalidUser", who


@pytest.fixture
def bob_box(emulator: Any) -> Iterator[Any]:
    box = emulator.state.mailbox(BOB)
    quota = box.quota_bytes
    yield box
    box.enabled_for_rest = True
    box.quota_bytes = quota


def test_mailbox_not_enabled_for_rest(gx: GX, bob_box: Any) -> None:
    bob_box.enabled_for_rest = False
    r = gx.get(f"/users/{BOB}/messages")
    assert r.status_code == 404 and err(r) == "MailboxNotEnabledForRESTAPI"
    assert r.json()["error"]["message"] == \
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise."


def test_quota_exceeded(gx: GX, bob_box: Any) -> None:
    bob_box.quota_bytes = 10
    for r in (gx.post(f"/users/{BOB}/messages", json={"subject": "too much"}),
              gx.post(f"/users/{BOB}/sendMail", json={"message": {
                  "subject": "too much", "toRecipients": [{"emailAddress": {"address": ALICE}}]}}),
              gx.post(f"/users/{BOB}/sendMail", json={"saveToSentItems": False, "message": {
                  "subject": "too much", "toRecipients": [{"emailAddress": {"address": ALICE}}]}})):
        assert r.status_code == 403 and err(r) == "ErrorQuotaExceeded"
        assert r.json()["error"]["message"] == "Mailbox has exceeded maximum mailbox size."


def test_ids_malformed_versus_unknown(gx: GX) -> None:
    for path in ("/messages/not!an!id", "/mailFolders/%20", "/messages/abc"):
        r = gx.get(f"/users/{ALICE}{path}")
        assert r.status_code == 400 and err(r) == "ErrorInvalidIdMalformed", path
        assert r.json()["error"]["message"] == "Id is malformed."
    unknown = "AAMkAGI2TG93AAA" + "A" * 100 + "="
    for path in (f"/messages/{unknown}", f"/mailFolders/{unknown}",
                 f"/mailFolders/inbox/messages/{unknown}/$value"):
        r = gx.get(f"/users/{ALICE}{path}")
        assert r.status_code == 404 and err(r) == "ErrorItemNotFound", path
    draft = gx.post(f"/users/{ALICE}/messages", json={"subject": unique("id")}).json()["id"]
    r = gx.post(f"/users/{ALICE}/messages/{draft}/move", json={"destinationId": "nowhere!"})
    assert r.status_code == 400 and err(r) == "ErrorInvalidIdMalformed"
    r = gx.post(f"/users/{ALICE}/messages/{draft}/copy", json={"destinationId": unknown})
    assert r.status_code == 404 and err(r) == "ErrorItemNotFound"
    assert gx.delete(f"/users/{ALICE}/messages/{draft}").status_code == 204


def test_refusals_are_recorded_for_inspection(http_client: httpx.Client,
                                              emulator_info: dict[str, Any],
                                              emulator: Any) -> None:
    token = token_for(http_client, emulator_info, "m365bot-noconsent")
    marker = unique("inspect")
    r = http_client.get("https://graph.microsoft.com/v1.0" + INBOX,
                        headers={"Authorization": f"Bearer {token}", "client-request-id": marker})
    assert r.status_code == 403
    r = http_client.get("https://graph.microsoft.com/v1.0" + INBOX,
                        headers={"client-request-id": marker})
    assert r.status_code == 401
    mine = [x for x in emulator.control.requests(op="messages.list")
            if x.get("client_request_id") == marker]
    assert sorted(x["status"] for x in mine) == [401, 403]


def test_direct_mode_accepts_each_clouds_token(http_client: httpx.Client,
                                               emulator_info: dict[str, Any], gx: GX) -> None:
    import ssl

    gov = token_for(http_client, emulator_info, "m365bot-demo", "usgovhigh")
    ctx = ssl.create_default_context(cafile=emulator_info["ca_bundle"])
    base = emulator_info["base_url"] + "/v1.0"
    with httpx.Client(verify=ctx, trust_env=False, timeout=20) as direct:
        r = _call(direct, f"{base}/users/alice@fabrikamgov.onmicrosoft.us/messages", gov)
        assert r.status_code == 200 and r.json()["value"][0]["subject"] == "Welcome to Fabrikam"
        page = _call(direct, f"{base}{INBOX}?$top=1", gx.token)
        assert page.status_code == 200
        assert page.json()["@odata.nextLink"].startswith(base + "/users/")
        # A tenant's token still reaches only its own tenant's mailboxes.
        foreign = _call(direct, f"{base}/users/alice@fabrikamgov.onmicrosoft.us/messages",
                        gx.token)
        assert foreign.status_code == 404 and err(foreign) == "ErrorInvalidUser"
