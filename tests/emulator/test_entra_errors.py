"""Contract tests: each AADSTS error the emulator promises, in Entra's exact JSON format."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from msal_support import (
    LOGIN,
    app,
    authorize_url,
    get_code,
    http,
    tenant,
    unconsented_app,
    user,
    valid_secret,
)

from m365bot.emulator.entra.grants import revoke_refresh_tokens
from m365bot.emulator.state import AppSecret

DESC = re.compile(
    r"^AADSTS(\d+): .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: ([0-9a-f-]{36})\r\n"
    r"Timestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$",
    re.S,
)
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


@pytest.fixture
def client(emulator: Any) -> Iterator[httpx.Client]:
    with http(emulator.info) as c:
        yield c


def token_url(info: dict[str, Any], cloud: str = "global", segment: str | None = None) -> str:
    return f"https://{LOGIN[cloud]}/{segment or tenant(info, cloud)['domain']}/oauth2/v2.0/token"


def assert_entra_error(
    r: httpx.Response, status: int, error: str, code: int, corr: str | None = None
) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    m = DESC.match(body["error_description"])
    assert m, body["error_description"]
    assert int(m.group(1)) == code
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", body["timestamp"])
    assert body["trace_id"] and body["correlation_id"] == m.group(2)
    if corr:
        assert body["correlation_id"] == corr
    assert body["error_uri"].endswith(f"/error?code={code}")
    return body


def demo(info: dict[str, Any], cloud: str = "global") -> dict[str, Any]:
    return app(info, "m365bot-demo", cloud)


def cc(info: dict[str, Any], **over: str) -> dict[str, str]:
    d = demo(info)
    data = {
        "grant_type": "client_credentials",
        "client_id": d["client_id"],
        "client_secret": valid_secret(d),
        "scope": GRAPH_DEFAULT,
    }
    data.update(over)
    return {k: v for k, v in data.items() if v != ""}


def test_wrong_secret_is_7000215_401_and_echoes_correlation_id(
    emulator: Any, client: httpx.Client
) -> None:
    corr = str(uuid.uuid4())
    r = client.post(
        token_url(emulator.info),
        data=cc(emulator.info, client_secret="nope"),
        headers={"client-request-id": corr},
    )
    body = assert_entra_error(r, 401, "invalid_client", 7000215, corr)
    assert "not the client secret ID" in body["error_description"]


def test_sending_the_secret_id_is_7000215(emulator: Any, client: httpx.Client) -> None:
    secret_id = demo(emulator.info)["secrets"][0]["id"]
    r = client.post(token_url(emulator.info), data=cc(emulator.info, client_secret=secret_id))
    assert_entra_error(r, 401, "invalid_client", 7000215)


def test_secret_in_basic_header_works_and_wrong_one_is_7000215(
    emulator: Any, client: httpx.Client
) -> None:
    d = demo(emulator.info)
    data = cc(emulator.info, client_secret="")
    ok = client.post(token_url(emulator.info), data=data, auth=(d["client_id"], valid_secret(d)))
    assert ok.status_code == 200 and ok.json()["access_token"]
    bad = client.post(token_url(emulator.info), data=data, auth=(d["client_id"], "wrong"))
    assert_entra_error(bad, 401, "invalid_client", 7000215)


def test_expired_secret_is_7000222(emulator: Any, client: httpx.Client) -> None:
    d = emulator.state.apps[demo(emulator.info)["client_id"]]
    old = AppSecret(
        id=str(uuid.uuid4()), value="expired-" + uuid.uuid4().hex, expires=emulator.clock.now() - 60
    )
    d.secrets.append(old)
    try:
        r = client.post(token_url(emulator.info), data=cc(emulator.info, client_secret=old.value))
        assert_entra_error(r, 401, "invalid_client", 7000222)
    finally:
        d.secrets.remove(old)


def test_no_credential_is_7000218(emulator: Any, client: httpx.Client) -> None:
    r = client.post(token_url(emulator.info), data=cc(emulator.info, client_secret=""))
    assert_entra_error(r, 401, "invalid_client", 7000218)


def test_unknown_app_is_700016(emulator: Any, client: httpx.Client) -> None:
    r = client.post(token_url(emulator.info), data=cc(emulator.info, client_id=str(uuid.uuid4())))
    body = assert_entra_error(r, 400, "unauthorized_client", 700016)
    assert "was not found in the directory" in body["error_description"]


def test_unknown_tenant_is_90002(emulator: Any, client: httpx.Client) -> None:
    r = client.post(
        token_url(emulator.info, segment="nosuch.onmicrosoft.com"), data=cc(emulator.info)
    )
    assert_entra_error(r, 400, "invalid_tenant", 90002)


def test_gov_tenant_on_global_login_host_is_90002_correct_cloud(
    emulator: Any, client: httpx.Client
) -> None:
    gov = tenant(emulator.info, "usgovhigh")
    d = demo(emulator.info, "usgovhigh")
    data = {
        "grant_type": "client_credentials",
        "client_id": d["client_id"],
        "client_secret": valid_secret(d),
        "scope": "https://graph.microsoft.us/.default",
    }
    r = client.post(f"https://login.microsoftonline.com/{gov['id']}/oauth2/v2.0/token", data=data)
    body = assert_entra_error(r, 400, "invalid_tenant", 90002)
    assert "signing into the correct cloud" in body["error_description"]
    ok = client.post(f"https://login.microsoftonline.us/{gov['id']}/oauth2/v2.0/token", data=data)
    assert ok.status_code == 200, ok.text


def test_other_clouds_graph_scope_is_invalid_resource(emulator: Any, client: httpx.Client) -> None:
    r = client.post(
        token_url(emulator.info),
        data=cc(emulator.info, scope="https://graph.microsoft.us/.default"),
    )
    assert_entra_error(r, 400, "invalid_resource", 500011)


@pytest.mark.parametrize(
    "scope",
    [
        "https://graph.microsoft.com/Mail.Read",
        GRAPH_DEFAULT + " https://management.azure.com/.default",
    ],
)
def test_bad_or_multi_resource_scope_is_70011(
    emulator: Any, client: httpx.Client, scope: str
) -> None:
    r = client.post(token_url(emulator.info), data=cc(emulator.info, scope=scope))
    assert_entra_error(r, 400, "invalid_scope", 70011)


def test_public_client_presenting_a_secret_is_700025(emulator: Any, client: httpx.Client) -> None:
    pkce = app(emulator.info, "m365bot-pkce")
    r = client.post(token_url(emulator.info), data=cc(emulator.info, client_id=pkce["client_id"]))
    assert_entra_error(r, 400, "invalid_client", 700025)


def test_assertion_signed_by_another_key_is_700027(emulator: Any, client: httpx.Client) -> None:
    d = demo(emulator.info)
    x5t = emulator.state.apps[d["client_id"]].certificates[0].x5t
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    url = token_url(emulator.info)
    assertion = jwt.encode(
        {
            "aud": url,
            "iss": d["client_id"],
            "sub": d["client_id"],
            "jti": str(uuid.uuid4()),
            "nbf": now,
            "exp": now + 600,
        },
        forged_key,
        algorithm="RS256",
        headers={"x5t": x5t},
    )
    r = client.post(
        url,
        data=cc(
            emulator.info,
            client_secret="",
            client_assertion=assertion,
            client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
    )
    assert_entra_error(r, 401, "invalid_client", 700027)


def _signed_assertion(emulator: Any, **claims: Any) -> str:
    """A PS256 assertion signed with the demo app's real certificate key (x5t#S256)."""
    from cryptography.hazmat.primitives import serialization

    d = demo(emulator.info)
    cert = d["certificates"][0]
    with open(cert["key_file"], "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=None)
    x5t_s256 = emulator.state.apps[d["client_id"]].certificates[0].x5t_s256
    now = int(emulator.clock.now())
    body = {
        "aud": token_url(emulator.info),
        "iss": d["client_id"],
        "sub": d["client_id"],
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "exp": now + 600,
        **claims,
    }
    return jwt.encode(body, key, algorithm="PS256", headers={"x5t#S256": x5t_s256})


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({}, 0),
        ({"iss": "someone-else"}, 700021),
        ({"exp": 1_000_000_000, "nbf": 999_999_000}, 700024),
        ({"aud": "https://login.microsoftonline.com/other/oauth2/v2.0/token"}, 700027),
    ],
    ids=["valid", "iss-not-client", "expired", "wrong-aud"],
)
def test_certificate_assertion_claims_are_checked(
    emulator: Any, client: httpx.Client, claims: dict[str, Any], code: int
) -> None:
    r = client.post(
        token_url(emulator.info),
        data=cc(
            emulator.info,
            client_secret="",
            client_assertion=_signed_assertion(emulator, **claims),
            client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
    )
    if code == 0:
        assert r.status_code == 200, r.text
    else:
        assert_entra_error(r, 401, "invalid_client", code)


def test_unsupported_grant_is_70003(emulator: Any, client: httpx.Client) -> None:
    r = client.post(
        token_url(emulator.info), data=cc(emulator.info, grant_type="urn:example:magic")
    )
    assert_entra_error(r, 400, "unsupported_grant_type", 70003)


@pytest.mark.parametrize("missing", ["grant_type", "client_id", "scope"])
def test_missing_parameter_is_900144_naming_it(
    emulator: Any, client: httpx.Client, missing: str
) -> None:
    r = client.post(token_url(emulator.info), data=cc(emulator.info, **{missing: ""}))
    body = assert_entra_error(r, 400, "invalid_request", 900144)
    assert f"'{missing}'" in body["error_description"]


@pytest.mark.parametrize(
    ("content", "ctype"),
    [
        (b'{"grant_type": "client_credentials"}', "application/json"),
        (b"grant_type=client_credentials&grant_type=password", "application/x-www-form-urlencoded"),
        (b"grant_type=\xff\xfe", "application/x-www-form-urlencoded"),
        (b"a=" + b"x" * (2 * 1024 * 1024), "application/x-www-form-urlencoded"),
    ],
    ids=["json", "duplicate", "bad-utf8", "oversized"],
)
def test_malformed_body_is_9002313(
    emulator: Any, client: httpx.Client, content: bytes, ctype: str
) -> None:
    r = client.post(token_url(emulator.info), content=content, headers={"content-type": ctype})
    assert_entra_error(r, 400, "invalid_request", 9002313)


def test_garbage_basic_header_and_get_are_400_not_500(emulator: Any, client: httpx.Client) -> None:
    r = client.post(
        token_url(emulator.info),
        data=cc(emulator.info, client_secret=""),
        headers={"authorization": "Basic !!!not-base64"},
    )
    assert_entra_error(r, 400, "invalid_request", 9002313)
    r = client.get(token_url(emulator.info))
    assert_entra_error(r, 400, "invalid_request", 900561)


# -- user grants -------------------------------------------------------------------------------


def _code_grant(
    info: dict[str, Any], code: str, verifier: str | None, **over: str
) -> dict[str, str]:
    pkce = app(info, "m365bot-pkce")
    data = {
        "grant_type": "authorization_code",
        "client_id": pkce["client_id"],
        "code": code,
        "redirect_uri": "http://localhost:8400",
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(over)
    return data


SCOPE = "openid offline_access https://graph.microsoft.com/Mail.ReadWrite"


def _code(emulator: Any, client: httpx.Client, method: str = "S256") -> tuple[str, str]:
    info = emulator.info
    return get_code(
        info,
        client,
        app(info, "m365bot-pkce")["client_id"],
        user(info, "alice"),
        SCOPE,
        method=method,
    )


def test_code_redeemed_twice_is_54005(emulator: Any, client: httpx.Client) -> None:
    code, verifier = _code(emulator, client)
    first = client.post(token_url(emulator.info), data=_code_grant(emulator.info, code, verifier))
    assert first.status_code == 200, first.text
    again = client.post(token_url(emulator.info), data=_code_grant(emulator.info, code, verifier))
    assert_entra_error(again, 400, "invalid_grant", 54005)


def test_plain_pkce_works(emulator: Any, client: httpx.Client) -> None:
    code, verifier = _code(emulator, client, method="plain")
    r = client.post(token_url(emulator.info), data=_code_grant(emulator.info, code, verifier))
    assert r.status_code == 200, r.text


def test_code_after_ten_minutes_is_70008(emulator: Any, client: httpx.Client) -> None:
    code, verifier = _code(emulator, client)
    emulator.clock.advance(601)
    try:
        r = client.post(token_url(emulator.info), data=_code_grant(emulator.info, code, verifier))
    finally:
        emulator.clock.advance(-601)
    assert_entra_error(r, 400, "invalid_grant", 70008)


def test_wrong_verifier_is_50148_and_missing_is_501481(emulator: Any, client: httpx.Client) -> None:
    code, _ = _code(emulator, client)
    r = client.post(token_url(emulator.info), data=_code_grant(emulator.info, code, "x" * 43))
    assert_entra_error(r, 400, "invalid_grant", 50148)
    code, _ = _code(emulator, client)
    r = client.post(token_url(emulator.info), data=_code_grant(emulator.info, code, None))
    assert_entra_error(r, 400, "invalid_grant", 501481)


@pytest.mark.parametrize("method", ["plain", "S256"])
def test_a_non_ascii_verifier_is_refused_and_leaves_the_code_usable(
    emulator: Any, client: httpx.Client, method: str
) -> None:
    code, verifier = _code(emulator, client, method=method)
    r = client.post(token_url(emulator.info), data=_code_grant(emulator.info, code, "é" * 43))
    assert_entra_error(r, 400, "invalid_grant", 50148)
    # The refused attempt did not burn the code: its owner still redeems it.
    r = client.post(token_url(emulator.info), data=_code_grant(emulator.info, code, verifier))
    assert r.status_code == 200, r.text


def test_a_non_ascii_code_challenge_is_refused_at_authorize(
    emulator: Any, client: httpx.Client
) -> None:
    info = emulator.info
    url = authorize_url(info, app(info, "m365bot-pkce")["client_id"], SCOPE,
                        code_challenge="é" * 43, code_challenge_method="plain")
    r = client.get(url, follow_redirects=False)
    assert r.status_code == 302
    answer = parse_qs(urlsplit(r.headers["location"]).query)
    assert answer["error"] == ["invalid_request"]
    assert "code_challenge" in answer["error_description"][0]
    assert "code" not in answer


def test_redirect_uri_differing_from_authorize_is_50011(
    emulator: Any, client: httpx.Client
) -> None:
    code, verifier = _code(emulator, client)
    r = client.post(
        token_url(emulator.info),
        data=_code_grant(emulator.info, code, verifier, redirect_uri="http://localhost:8400/"),
    )
    assert_entra_error(r, 400, "invalid_grant", 50011)


def _refresh_token(emulator: Any, client: httpx.Client) -> str:
    code, verifier = _code(emulator, client)
    r = client.post(token_url(emulator.info), data=_code_grant(emulator.info, code, verifier))
    assert r.status_code == 200, r.text
    return str(r.json()["refresh_token"])


def _refresh(info: dict[str, Any], rt: str, scope: str = SCOPE) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "client_id": app(info, "m365bot-pkce")["client_id"],
        "refresh_token": rt,
        "scope": scope,
    }


def test_unconsented_scope_on_refresh_is_65001_consent_required(
    emulator: Any, client: httpx.Client
) -> None:
    rt = _refresh_token(emulator, client)
    r = client.post(
        token_url(emulator.info),
        data=_refresh(
            emulator.info, rt, "https://graph.microsoft.com/Directory.ReadWrite.All offline_access"
        ),
    )
    body = assert_entra_error(r, 400, "invalid_grant", 65001)
    assert body["suberror"] == "consent_required"


def test_refresh_token_unused_for_90_days_is_700082(emulator: Any, client: httpx.Client) -> None:
    rt = _refresh_token(emulator, client)
    days = 91 * 86400
    emulator.clock.advance(days)
    try:
        r = client.post(token_url(emulator.info), data=_refresh(emulator.info, rt))
    finally:
        emulator.clock.advance(-days)
    assert_entra_error(r, 400, "invalid_grant", 700082)


def test_refresh_rotation_keeps_old_token_valid_by_default(
    emulator: Any, client: httpx.Client
) -> None:
    rt = _refresh_token(emulator, client)
    first = client.post(token_url(emulator.info), data=_refresh(emulator.info, rt))
    assert first.status_code == 200 and first.json()["refresh_token"] != rt
    again = client.post(token_url(emulator.info), data=_refresh(emulator.info, rt))
    assert again.status_code == 200, again.text


def test_revoked_refresh_token_is_50173(emulator: Any, client: httpx.Client) -> None:
    rt = _refresh_token(emulator, client)
    alice = user(emulator.info, "alice")
    pkce = app(emulator.info, "m365bot-pkce")
    assert (
        revoke_refresh_tokens(
            emulator.state, emulator.clock.now(), user_id=alice["id"], client_id=pkce["client_id"]
        )
        >= 1
    )
    r = client.post(token_url(emulator.info), data=_refresh(emulator.info, rt))
    assert_entra_error(r, 400, "invalid_grant", 50173)


def test_bad_password_is_50126(emulator: Any, client: httpx.Client) -> None:
    pkce = app(emulator.info, "m365bot-pkce")
    r = client.post(
        token_url(emulator.info),
        data={
            "grant_type": "password",
            "client_id": pkce["client_id"],
            "scope": SCOPE,
            "username": user(emulator.info, "alice")["upn"],
            "password": "wrong",
        },
    )
    assert_entra_error(r, 400, "invalid_grant", 50126)


def test_unconsented_app_is_65001_on_token_endpoint(emulator: Any, client: httpx.Client) -> None:
    bare = unconsented_app(emulator.info)
    alice = user(emulator.info, "alice")
    data = {
        "grant_type": "password",
        "client_id": bare["client_id"],
        "scope": SCOPE,
        "username": alice["upn"],
        "password": alice["password"],
    }
    if not bare["public_client"]:
        data["client_secret"] = valid_secret(bare)
    r = client.post(token_url(emulator.info), data=data)
    body = assert_entra_error(r, 400, "invalid_grant", 65001)
    assert body["suberror"] == "consent_required"


def test_strict_rotation_makes_a_used_refresh_token_fail(
    emulator: Any, client: httpx.Client
) -> None:
    rt = _refresh_token(emulator, client)
    emulator.settings.update({"refresh_token_policy": "strict"})
    try:
        first = client.post(token_url(emulator.info), data=_refresh(emulator.info, rt))
        assert first.status_code == 200, first.text
        reused = client.post(token_url(emulator.info), data=_refresh(emulator.info, rt))
        newest = client.post(
            token_url(emulator.info), data=_refresh(emulator.info, first.json()["refresh_token"])
        )
    finally:
        emulator.settings.update({"refresh_token_policy": "entra"})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert newest.status_code == 200, newest.text


@pytest.mark.parametrize(
    ("segment", "code"), [("common", 50194), ("organizations", 50194), ("consumers", 9002331)]
)
def test_single_tenant_app_on_a_meta_tenant_is_rejected(
    emulator: Any, client: httpx.Client, segment: str, code: int
) -> None:
    r = client.post(token_url(emulator.info, segment=segment), data=cc(emulator.info))
    assert_entra_error(r, 400, "invalid_request", code)
