"""Unmodified msal against the emulator's identity side, through proxy mode and real URLs."""

from __future__ import annotations

from typing import Any

import jwt
import msal
import pytest
from msal_support import (
    GRAPH,
    LOGIN,
    app,
    authority,
    http,
    msal_http_client,
    sha1_thumbprint,
    sign_in,
    tenant,
    user,
    valid_secret,
)

# msal warns on every auth-code flow that does not ask for form_post; these tests drive the
# query mode, msal's default, because that is what they check the emulator answers
# (m365bot's own sign-in, a loopback listener, silences it in m365bot/auth/signin.py)
pytestmark = pytest.mark.filterwarnings(
    "ignore:response_mode='form_post' is recommended:UserWarning")


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _confidential(info: dict[str, Any], credential: Any, cloud: str = "global") -> Any:
    demo = app(info, "m365bot-demo", cloud)
    return msal.ConfidentialClientApplication(
        demo["client_id"],
        client_credential=credential,
        authority=authority(info, cloud),
        instance_discovery=False,
        http_client=msal_http_client(info),
        token_cache=msal.TokenCache(),
    )


def test_client_credentials_with_secret_gives_app_roles(emulator: Any) -> None:
    info = emulator.info
    demo = app(info, "m365bot-demo")
    cca = _confidential(info, valid_secret(demo))
    result = cca.acquire_token_for_client([GRAPH["global"] + "/.default"])
    assert "access_token" in result, result.get("error_description")
    claims = emulator.tokens.decode_access_token(result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == tenant(info)["id"]
    assert claims["appid"] == demo["client_id"]
    assert claims["idtyp"] == "app" and "scp" not in claims
    assert set(demo["application_permissions"]) <= set(claims["roles"])
    assert result["expires_in"] > 3000 and result["token_type"] == "Bearer"


def test_client_credentials_with_pem_certificate_rs256(emulator: Any) -> None:
    info = emulator.info
    cert = app(info, "m365bot-demo")["certificates"][0]
    with open(cert["key_file"]) as fh:
        key = fh.read()
    cca = _confidential(
        info, {"private_key": key, "thumbprint": sha1_thumbprint(cert["cert_file"])}
    )
    result = cca.acquire_token_for_client([GRAPH["global"] + "/.default"])
    assert "access_token" in result, result.get("error_description")
    assert _claims(result["access_token"])["appidacr"] == "2"


def test_client_credentials_with_pfx_certificate_ps256(emulator: Any) -> None:
    info = emulator.info
    cert = app(info, "m365bot-demo")["certificates"][0]
    cca = _confidential(info, {"private_key_pfx_path": cert["pfx_file"]})
    result = cca.acquire_token_for_client([GRAPH["global"] + "/.default"])
    assert "access_token" in result, result.get("error_description")
    assert _claims(result["access_token"])["appidacr"] == "2"


def test_wrong_secret_reaches_msal_as_7000215(emulator: Any) -> None:
    cca = _confidential(emulator.info, "not-the-secret")
    result = cca.acquire_token_for_client([GRAPH["global"] + "/.default"])
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]


@pytest.mark.parametrize("cloud", ["usgovhigh", "dod", "china"])
def test_national_cloud_client_credentials_on_its_own_login_host(emulator: Any, cloud: str) -> None:
    info = emulator.info
    demo = app(info, "m365bot-demo", cloud)
    cca = _confidential(info, valid_secret(demo), cloud)
    assert cca.authority.token_endpoint.startswith(f"https://{LOGIN[cloud]}/")
    result = cca.acquire_token_for_client([GRAPH[cloud] + "/.default"])
    assert "access_token" in result, result.get("error_description")
    claims = _claims(result["access_token"])
    assert claims["aud"] == GRAPH[cloud]
    assert claims["tid"] == tenant(info, cloud)["id"]


def test_token_requests_run_through_the_control_layer(emulator: Any) -> None:
    info = emulator.info
    demo = app(info, "m365bot-demo")
    before = emulator.control.count("token")
    rule = emulator.control.add_fault(op="token", kind="status", status=503, nth=1)
    try:
        cca = _confidential(info, valid_secret(demo))
        with pytest.raises(msal.exceptions.MsalServiceError, match="503"):
            cca.acquire_token_for_client([GRAPH["global"] + "/.default"])
    finally:
        emulator.control.clear_faults(rule["id"])
    assert emulator.control.count("token") >= before + 1
    ok = _confidential(info, valid_secret(demo)).acquire_token_for_client(
        [GRAPH["global"] + "/.default"]
    )
    assert "access_token" in ok, ok.get("error_description")


def test_gcc_high_tenant_is_not_found_on_the_global_login_host(emulator: Any) -> None:
    info = emulator.info
    gov = tenant(info, "usgovhigh")
    with pytest.raises(ValueError):
        # msal turns the 400 (AADSTS90002) on tenant discovery into a ValueError.
        msal.ConfidentialClientApplication(
            app(info, "m365bot-demo", "usgovhigh")["client_id"],
            client_credential="x",
            authority=f"https://login.microsoftonline.com/{gov['id']}",
            instance_discovery=False,
            http_client=msal_http_client(info),
        )


@pytest.mark.parametrize("cloud", ["global", "usgovhigh"])
def test_auth_code_with_pkce_through_sign_in_page_then_refresh(emulator: Any, cloud: str) -> None:
    info = emulator.info
    pkce = app(info, "m365bot-pkce", cloud)
    alice = user(info, "alice", cloud)
    pca = msal.PublicClientApplication(
        pkce["client_id"],
        authority=authority(info, cloud),
        instance_discovery=False,
        http_client=msal_http_client(info),
    )
    scopes = [f"{GRAPH[cloud]}/Mail.ReadWrite", f"{GRAPH[cloud]}/Mail.Send"]
    flow = pca.initiate_auth_code_flow(
        scopes, redirect_uri="http://localhost:53117", login_hint=alice["upn"]
    )
    assert flow["code_verifier"] and "code_challenge_method=S256" in flow["auth_uri"]
    with http(info) as client:
        response = sign_in(client, flow["auth_uri"], alice["upn"], alice["password"])
    assert response["state"] == flow["state"]
    result = pca.acquire_token_by_auth_code_flow(flow, response)
    assert "access_token" in result, result.get("error_description")
    claims = emulator.tokens.decode_access_token(result["access_token"])
    assert claims["aud"] == GRAPH[cloud]
    assert {"Mail.ReadWrite", "Mail.Send"} <= set(claims["scp"].split())
    assert claims["upn"] == alice["upn"] and claims["oid"] == alice["id"]
    # msal checked the id_token's nonce and aud; the account is keyed by client_info.
    assert result["id_token_claims"]["preferred_username"] == alice["upn"]
    assert result["id_token_claims"]["aud"] == pkce["client_id"]
    accounts = pca.get_accounts()
    assert accounts[0]["home_account_id"] == f"{alice['id']}.{tenant(info, cloud)['id']}"
    assert result["refresh_token"]

    refreshed = pca.acquire_token_by_refresh_token(result["refresh_token"], scopes)
    assert "access_token" in refreshed, refreshed.get("error_description")
    assert refreshed["refresh_token"] != result["refresh_token"]
    silent = pca.acquire_token_silent(scopes, account=accounts[0], force_refresh=True)
    assert silent and "access_token" in silent
    assert silent["access_token"] != result["access_token"]


def test_device_code_flow_with_msal(emulator: Any) -> None:
    import re

    info = emulator.info
    pkce = app(info, "m365bot-pkce")
    alice = user(info, "alice")
    pca = msal.PublicClientApplication(
        pkce["client_id"],
        authority=authority(info),
        instance_discovery=False,
        http_client=msal_http_client(info),
    )
    flow = pca.initiate_device_flow(scopes=[GRAPH["global"] + "/Mail.ReadWrite"])
    assert flow["user_code"] in flow["message"]
    # The user opens the verification page, types the code and signs in.
    with http(info) as client:
        page = client.post(flow["verification_uri"], data={"otc": flow["user_code"]})
        ctx = re.search(r'name="ctx" value="([^"]+)"', page.text)
        action = re.search(r'action="([^"]+)" id="signin"', page.text)
        assert ctx and action
        done = client.post(
            "https://login.microsoftonline.com" + action.group(1),
            data={"ctx": ctx.group(1), "login": alice["upn"], "passwd": alice["password"]},
        )
        assert "You have signed in" in done.text
    result = pca.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result.get("error_description")
    assert _claims(result["access_token"])["upn"] == alice["upn"]


def test_confidential_auth_code_flow_asks_consent_once(fresh_emulator: Any) -> None:
    """A web app (secret) with no admin consent: the user consents on the page, once."""
    from msal_support import unconsented_app, valid_secret

    info = fresh_emulator.info
    web = unconsented_app(info)
    alice = user(info, "alice")
    cca = msal.ConfidentialClientApplication(
        web["client_id"],
        client_credential=valid_secret(web),
        authority=authority(info),
        instance_discovery=False,
        http_client=msal_http_client(info),
    )
    scopes = [GRAPH["global"] + "/Mail.Read"]
    redirect = web["redirect_uris"][0]
    with http(info) as client:
        flow = cca.initiate_auth_code_flow(scopes, redirect_uri=redirect)
        first = client.get(flow["auth_uri"])
        assert 'id="signin"' in first.text
        response = sign_in(client, flow["auth_uri"], alice["upn"], alice["password"])
        result = cca.acquire_token_by_auth_code_flow(flow, response)
        assert "access_token" in result, result.get("error_description")
        scp = set(_claims(result["access_token"])["scp"].split())
        assert "Mail.Read" in scp and not scp & {"Mail.ReadWrite", "Mail.Send", "User.Read"}
        # Consent is remembered: the next silent sign-in needs no page at all.
        again = cca.initiate_auth_code_flow(scopes, redirect_uri=redirect, prompt="none")
        r = client.get(again["auth_uri"])
        assert r.status_code == 302 and "code=" in r.headers["location"]
