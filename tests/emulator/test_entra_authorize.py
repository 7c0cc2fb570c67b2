"""/authorize pages, prompts, response modes, discovery, JWKS and the device code flow."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from msal_support import (
    GRAPH,
    app,
    authorize_url,
    get_code,
    http,
    pkce_pair,
    sign_in,
    tenant,
    unconsented_app,
    user,
    valid_secret,
)

SCOPE = "openid offline_access https://graph.microsoft.com/Mail.ReadWrite"


@pytest.fixture
def client(emulator: Any) -> Iterator[httpx.Client]:
    with http(emulator.info) as c:
        yield c


def _redirect_params(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 302, r.text[:400]
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}


def _pkce(info: dict[str, Any]) -> dict[str, Any]:
    return app(info, "m365bot-pkce")


def _signed_in(info: dict[str, Any], client: httpx.Client) -> None:
    get_code(info, client, _pkce(info)["client_id"], user(info, "alice"), SCOPE)


# -- discovery ---------------------------------------------------------------------------------


def test_openid_configuration_points_at_the_host_it_was_asked_on(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    t = tenant(info)
    doc = client.get(
        f"https://login.microsoftonline.com/{t['domain']}/v2.0/.well-known/openid-configuration"
    ).json()
    assert doc["issuer"] == f"https://login.microsoftonline.com/{t['id']}/v2.0"
    assert doc["token_endpoint"] == f"https://login.microsoftonline.com/{t['id']}/oauth2/v2.0/token"
    assert doc["msgraph_host"] == "graph.microsoft.com"
    gov = tenant(info, "usgovhigh")
    doc = client.get(
        f"https://login.microsoftonline.us/{gov['id']}/v2.0/.well-known/openid-configuration"
    ).json()
    assert doc["authorization_endpoint"].startswith("https://login.microsoftonline.us/")
    assert doc["msgraph_host"] == "graph.microsoft.us"
    # Direct mode: the same document names https://127.0.0.1:PORT.
    with httpx.Client(verify=_ctx(info), trust_env=False) as direct:
        doc = direct.get(
            f"{info['base_url']}/{t['id']}/v2.0/.well-known/openid-configuration"
        ).json()
    assert doc["token_endpoint"] == f"{info['base_url']}/{t['id']}/oauth2/v2.0/token"
    common = client.get(
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
    ).json()
    assert common["issuer"] == "https://login.microsoftonline.com/{tenantid}/v2.0"


def _ctx(info: dict[str, Any]) -> Any:
    import ssl

    return ssl.create_default_context(cafile=info["ca_bundle"])


def test_jwks_verifies_issued_access_token(emulator: Any, client: httpx.Client) -> None:
    info = emulator.info
    d = app(info, "m365bot-demo")
    t = tenant(info)
    tok = client.post(
        f"https://login.microsoftonline.com/{t['id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": d["client_id"],
            "client_secret": valid_secret(d),
            "scope": GRAPH["global"] + "/.default",
        },
    ).json()
    keys = client.get(f"https://login.microsoftonline.com/{t['id']}/discovery/v2.0/keys").json()
    kid = jwt.get_unverified_header(tok["access_token"])["kid"]
    jwk = next(k for k in keys["keys"] if k["kid"] == kid)
    claims = jwt.decode(
        tok["access_token"],
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience="https://graph.microsoft.com",
    )
    assert claims["iss"] == f"https://sts.windows.net/{t['id']}/"


def test_instance_discovery_metadata(emulator: Any, client: httpx.Client) -> None:
    r = client.get(
        "https://login.microsoftonline.com/common/discovery/instance",
        params={
            "api-version": "1.1",
            "authorization_endpoint": "https://login.microsoftonline.us/x/oauth2/v2.0/authorize",
        },
    )
    body = r.json()
    assert (
        body["tenant_discovery_endpoint"]
        == "https://login.microsoftonline.us/x/v2.0/.well-known/openid-configuration"
    )
    assert any("login.usgovcloudapi.net" in m["aliases"] for m in body["metadata"])
    bad = client.get(
        "https://login.microsoftonline.com/common/discovery/instance",
        params={
            "api-version": "1.1",
            "authorization_endpoint": "https://evil.example/x/oauth2/v2.0/authorize",
        },
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_instance"


# -- page errors (redirect URI cannot be trusted) ------------------------------------------------


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"redirect_uri": "https://evil.example/cb"}, 50011),
        ({"redirect_uri": "http://localhost:8400/other-path"}, 50011),
        ({"client_id": "00000000-0000-0000-0000-00000000beef"}, 700016),
    ],
)
def test_untrusted_redirect_errors_are_shown_as_a_page(
    emulator: Any, client: httpx.Client, over: dict[str, str], code: int
) -> None:
    info = emulator.info
    url = authorize_url(info, _pkce(info)["client_id"], SCOPE)
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()} | over
    r = client.get(url.split("?")[0], params=q)
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]
    assert f"AADSTS{code}" in r.text
    assert "location" not in r.headers


def test_unknown_tenant_page_is_90002(emulator: Any, client: httpx.Client) -> None:
    r = client.get(
        "https://login.microsoftonline.com/nosuch.example/oauth2/v2.0/authorize",
        params={"client_id": _pkce(emulator.info)["client_id"], "response_type": "code"},
    )
    assert r.status_code == 400 and "AADSTS90002" in r.text


@pytest.mark.parametrize(
    "redirect", ["http://localhost:1", "http://localhost:65000", "http://127.0.0.1:5111"]
)
def test_loopback_redirects_match_any_port(
    emulator: Any, client: httpx.Client, redirect: str
) -> None:
    info = emulator.info
    alice = user(info, "alice")
    params = sign_in(
        client,
        authorize_url(info, _pkce(info)["client_id"], SCOPE, redirect_uri=redirect),
        alice["upn"],
        alice["password"],
    )
    assert params["code"] and params["state"] == "s-123"


# -- redirected errors -------------------------------------------------------------------------


def test_missing_scope_and_bad_response_type_go_back_to_the_app(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    r = client.get(authorize_url(info, _pkce(info)["client_id"], ""))
    p = _redirect_params(r)
    assert p["error"] == "invalid_request" and p["error_description"].startswith("AADSTS900144")
    assert p["state"] == "s-123"
    r = client.get(authorize_url(info, _pkce(info)["client_id"], SCOPE, response_type="token"))
    assert _redirect_params(r)["error"] == "unsupported_response_type"


def test_prompt_none_without_session_is_login_required(emulator: Any, client: httpx.Client) -> None:
    info = emulator.info
    p = _redirect_params(
        client.get(authorize_url(info, _pkce(info)["client_id"], SCOPE, prompt="none"))
    )
    assert p["error"] == "login_required" and "AADSTS50058" in p["error_description"]


def test_prompt_none_after_login_returns_a_code_silently(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    _signed_in(info, client)
    p = _redirect_params(
        client.get(authorize_url(info, _pkce(info)["client_id"], SCOPE, prompt="none"))
    )
    assert p["code"]


def test_prompt_login_shows_sign_in_page_despite_session(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    _signed_in(info, client)
    r = client.get(
        authorize_url(
            info, _pkce(info)["client_id"], SCOPE, prompt="login", login_hint="bob@example.invalid"
        )
    )
    assert r.status_code == 200 and 'id="signin"' in r.text
    assert 'value="bob@example.invalid"' in r.text  # login_hint pre-fills the username


def test_prompt_select_account_shows_picker(emulator: Any, client: httpx.Client) -> None:
    info = emulator.info
    _signed_in(info, client)
    r = client.get(authorize_url(info, _pkce(info)["client_id"], SCOPE, prompt="select_account"))
    assert 'id="picker"' in r.text and user(info, "alice")["upn"] in r.text


def test_prompt_consent_shows_consent_page_even_when_consented(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    _signed_in(info, client)
    r = client.get(authorize_url(info, _pkce(info)["client_id"], SCOPE, prompt="consent"))
    assert 'id="consent"' in r.text and "Mail.Read" in r.text


def test_bad_password_on_sign_in_page_shows_50126(emulator: Any, client: httpx.Client) -> None:
    info = emulator.info
    r = client.get(authorize_url(info, _pkce(info)["client_id"], SCOPE))
    ctx = re.search(r'name="ctx" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    r = client.post(
        f"https://login.microsoftonline.com/{tenant(info)['domain']}/login",
        data={"ctx": ctx, "login": user(info, "alice")["upn"], "passwd": "wrong"},
    )
    assert r.status_code == 200 and "AADSTS50126" in r.text and 'id="signin"' in r.text
    assert "wrong" not in r.text


def test_unconsented_app_asks_for_consent_and_decline_is_access_denied(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    bare = unconsented_app(info)
    alice = user(info, "alice")
    redirect = bare["redirect_uris"][0]
    url = authorize_url(
        info, bare["client_id"], "https://graph.microsoft.com/Mail.Read", redirect_uri=redirect
    )
    p = sign_in(client, url, alice["upn"], alice["password"], accept_consent=False)
    assert p["error"] == "access_denied" and p["error_description"].startswith("AADSTS65004")
    silent = _redirect_params(client.get(url + "&prompt=none"))
    assert silent["error"] == "consent_required" and "AADSTS65001" in silent["error_description"]


def test_form_post_auto_submits_code_and_state(emulator: Any, client: httpx.Client) -> None:
    info = emulator.info
    _signed_in(info, client)
    r = client.get(authorize_url(info, _pkce(info)["client_id"], SCOPE, response_mode="form_post"))
    assert r.status_code == 200 and "document.forms[0].submit()" in r.text
    assert 'action="http://localhost:8400"' in r.text
    assert 'name="code"' in r.text and 'name="state" value="s-123"' in r.text


def test_token_response_shape_follows_scopes_and_client_info(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    pkce = _pkce(info)
    alice = user(info, "alice")
    t = tenant(info)
    verifier, challenge = pkce_pair()
    url = authorize_url(
        info,
        pkce["client_id"],
        "openid https://graph.microsoft.com/Mail.ReadWrite",
        nonce="n-42",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    code = sign_in(client, url, alice["upn"], alice["password"])["code"]
    r = client.post(
        f"https://login.microsoftonline.com/{t['domain']}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": pkce["client_id"],
            "code": code,
            "redirect_uri": "http://localhost:8400",
            "code_verifier": verifier,
            "client_info": "1",
        },
    )
    body = r.json()
    assert "refresh_token" not in body  # no offline_access asked
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert "https://graph.microsoft.com/Mail.ReadWrite" in body["scope"].split()
    info_claims = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert info_claims == {"uid": alice["id"], "utid": t["id"]}
    idt = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert idt["nonce"] == "n-42" and idt["aud"] == pkce["client_id"]
    assert idt["iss"] == f"https://login.microsoftonline.com/{t['id']}/v2.0"


# -- device code -------------------------------------------------------------------------------


def test_device_code_flow(emulator: Any, client: httpx.Client) -> None:
    info = emulator.info
    pkce = _pkce(info)
    alice = user(info, "alice")
    base = f"https://login.microsoftonline.com/{tenant(info)['domain']}/oauth2/v2.0"
    dc = client.post(
        f"{base}/devicecode", data={"client_id": pkce["client_id"], "scope": SCOPE}
    ).json()
    poll = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": pkce["client_id"],
        "device_code": dc["device_code"],
    }
    pending = client.post(f"{base}/token", data=poll)
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    page = client.post(dc["verification_uri"], data={"otc": dc["user_code"]})
    ctx = re.search(r'name="ctx" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    action = re.search(r'action="([^"]+)" id="signin"', page.text).group(1)  # type: ignore[union-attr]
    done = client.post(
        f"https://login.microsoftonline.com{action}",
        data={"ctx": ctx, "login": alice["upn"], "passwd": alice["password"]},
    )
    assert "You have signed in" in done.text
    tokens = client.post(f"{base}/token", data=poll).json()
    assert emulator.tokens.decode_access_token(tokens["access_token"])["upn"] == alice["upn"]


# -- bad input on the pages --------------------------------------------------------------------


def test_page_posts_without_context_are_400_pages_not_500(
    emulator: Any, client: httpx.Client
) -> None:
    base = f"https://login.microsoftonline.com/{tenant(emulator.info)['domain']}"
    for path in ("/login", "/Consent/Set", "/oauth2/v2.0/authorize/pick"):
        r = client.post(
            base + path,
            content=b"\x00\xff garbage",
            headers={"content-type": "multipart/form-data"},
        )
        assert r.status_code == 400 and "AADSTS9002313" in r.text, path
        r = client.post(base + path, data={"ctx": "forged", "login": "a", "passwd": "b"})
        assert r.status_code == 400 and "AADSTS9002313" in r.text, path


def test_authorize_without_client_id_is_a_900144_page(emulator: Any, client: httpx.Client) -> None:
    r = client.get(
        f"https://login.microsoftonline.com/{tenant(emulator.info)['domain']}/oauth2/v2.0/authorize"
    )
    assert r.status_code == 400 and "AADSTS900144" in r.text and "client_id" in r.text


def test_devicecode_and_instance_discovery_bad_input_is_json_400(
    emulator: Any, client: httpx.Client
) -> None:
    base = f"https://login.microsoftonline.com/{tenant(emulator.info)['domain']}/oauth2/v2.0"
    r = client.post(f"{base}/devicecode", data={"scope": SCOPE})
    assert r.status_code == 400 and r.json()["error_codes"] == [900144]
    r = client.get("https://login.microsoftonline.com/common/discovery/instance")
    assert r.status_code == 400 and r.json()["error_codes"] == [900144]
    r = client.get(
        "https://login.microsoftonline.com/common/discovery/instance",
        params={"api-version": "1.1", "authorization_endpoint": "http://[::1"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_instance"


def test_hybrid_code_id_token_returns_id_token_with_nonce(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    alice = user(info, "alice")
    url = authorize_url(
        info,
        _pkce(info)["client_id"],
        SCOPE,
        response_type="code id_token",
        nonce="hy-1",
        response_mode="form_post",
    )
    p = sign_in(client, url, alice["upn"], alice["password"])
    assert p["code"]
    assert jwt.decode(p["id_token"], options={"verify_signature": False})["nonce"] == "hy-1"
    no_nonce = _redirect_params(
        client.get(
            authorize_url(info, _pkce(info)["client_id"], SCOPE, response_type="code id_token")
        )
    )
    assert no_nonce["error"] == "invalid_request" and "'nonce'" in no_nonce["error_description"]


def test_delegated_default_scope_gives_every_consented_permission(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    pkce = _pkce(info)
    alice = user(info, "alice")
    code, verifier = get_code(
        info,
        client,
        pkce["client_id"],
        alice,
        "openid offline_access https://graph.microsoft.com/.default",
    )
    r = client.post(
        f"https://login.microsoftonline.com/{tenant(info)['domain']}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": pkce["client_id"],
            "code": code,
            "redirect_uri": "http://localhost:8400",
            "code_verifier": verifier,
        },
    )
    assert r.status_code == 200, r.text
    scp = set(emulator.tokens.decode_access_token(r.json()["access_token"])["scp"].split())
    admin = {p for p, who in pkce["delegated_permissions"].items() if who == "admin"}
    assert admin - {"openid", "profile", "email", "offline_access"} <= scp
    assert "Mail.ReadWrite" in scp


def test_authorize_by_post_and_with_a_garbled_post_body(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    url = authorize_url(info, _pkce(info)["client_id"], SCOPE)
    endpoint, _, query = url.partition("?")
    form = {k: v[0] for k, v in parse_qs(query).items()}
    r = client.post(endpoint, data=form)
    assert r.status_code == 200 and 'id="signin"' in r.text
    r = client.post(
        endpoint,
        content=b"--x\r\n\xff",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert r.status_code == 400 and "AADSTS900144" in r.text
    # A well-formed multipart form is not what Entra's pages read either, and an oversized
    # urlencoded one is refused unread: both are the same 400 page, never a 500.
    r = client.post(endpoint, files={"client_id": (None, form["client_id"])})
    assert r.status_code == 400 and "AADSTS900144" in r.text
    r = client.post(endpoint, content=b"client_id=" + b"x" * (6 * 1024 * 1024),
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "AADSTS900144" in r.text
