"""What a user reads when sign-in fails, code by code (the table in docs/connect.md), and what
a token tells them (who, which permissions, how long): plain functions, no network."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from m365bot.auth.advice import UNAVAILABLE_FIX, error_from_result, identity_unavailable
from m365bot.auth.tokens import AccessToken, decode_claims, make_access_token
from m365bot.clouds import Cloud
from m365bot.errors import ReauthRequired
from m365bot.values import Secret

TENANT, CLIENT = "contoso.onmicrosoft.com", "11111111-2222-4333-8444-555555555555"

# (codes, a phrase of the documented advice, ReauthRequired?)
ADVICE = [
    (["7000215"], "use the secret's value, not its ID", False),
    (["7000222"], "create a new client secret", False),
    (["90002", "900023", "90023"], f"tenant '{TENANT}' was not found on "
     "login.microsoftonline.com (Azure Global)", False),
    (["500011"], f"the Graph resource of Azure Global is not available in tenant '{TENANT}'",
     False),
    (["700016"], f"application '{CLIENT}' is not registered in tenant '{TENANT}'", False),
    (["65001"], f"open https://login.microsoftonline.com/{TENANT}/adminconsent?client_id="
     f"{CLIENT} or use API permissions", False),
    (["50011"], "the redirect URL does not match the app registration", False),
    (["700025"], "the app is a public client", False),
    (["70011", "700022", "1002012"], "the requested scope is invalid", False),
    (["7000218", "700027", "700023", "7000214", "700024"],
     "the client credential is missing or invalid", False),
    (["50126"], "the user name or password is wrong", False),
    (["50020", "50034", "50053", "50057"], "the account cannot sign in to this tenant", False),
    (["50194"], "the app is single-tenant", False),
    (["700082", "70008", "50173", "70043", "700084", "50078", "50076", "50079", "54005",
      "70000"], "--interactive", True),
    (["90033"], "try again in a minute", False),
]

ERRORS = [
    ("invalid_scope", "the requested scope is invalid", False),
    ("invalid_grant", "--interactive", True),
    ("interaction_required", "--interactive", True),
    ("login_required", "--interactive", True),
    ("consent_required", "--interactive", True),
    ("invalid_client", "the client credential was refused", False),
    ("unauthorized_client", "may not use this sign-in method", False),
    ("temporarily_unavailable", "try again in a minute", False),
    ("server_error", "try again in a minute", False),
    ("something_new", "check the Client ID, Tenant ID, credentials and Azure cloud", False),
]


@pytest.mark.parametrize(("codes", "phrase", "reauth"), ADVICE)
def test_each_aadsts_code_gets_its_documented_advice(codes: list[str], phrase: str,
                                                     reauth: bool) -> None:
    for code in codes:
        err = error_from_result(
            {"error": "invalid_request", "error_codes": [int(code)],
             "error_description": f"AADSTS{code}: Something went wrong.\r\nTrace ID: t-1\r\n"
             "Correlation ID: c-1", "correlation_id": "c-1"},
            cloud=Cloud.GLOBAL, tenant=TENANT, client_id=CLIENT)
        assert err.code == code
        assert phrase in err.advice, (code, err.advice)
        assert isinstance(err, ReauthRequired) is reauth
        assert err.message == f"sign-in failed: AADSTS{code}: Something went wrong."
        assert err.correlation_id == "c-1"


@pytest.mark.parametrize(("error", "phrase", "reauth"), ERRORS)
def test_each_oauth_error_gets_its_documented_advice(error: str, phrase: str,
                                                     reauth: bool) -> None:
    err = error_from_result({"error": error, "error_description": "It failed."})
    assert err.code == error and phrase in err.advice
    assert isinstance(err, ReauthRequired) is reauth
    assert err.message == f"sign-in failed ({error}): It failed."
    assert err.correlation_id == ""


def test_the_advice_names_the_users_cloud_tenant_and_app() -> None:
    gov = {"cloud": Cloud.GCC_HIGH, "tenant": "fabrikam.us", "client_id": "app-1"}
    err = error_from_result({"error": "invalid_tenant", "error_codes": [90002]}, **gov)
    assert ("tenant 'fabrikam.us' was not found on login.microsoftonline.us "
            "(Azure US GCC High)") in err.advice
    err = error_from_result({"error": "invalid_grant", "suberror": "consent_required"}, **gov)
    assert "https://login.microsoftonline.us/fabrikam.us/adminconsent?client_id=app-1" in (
        err.advice)
    assert not isinstance(err, ReauthRequired)  # consent is an administrator's job
    err = error_from_result({"error": "invalid_resource", "error_codes": [500011]}, **gov)
    assert "the Graph resource of Azure US GCC High" in err.advice


def test_without_a_cloud_the_advice_speaks_of_azure_global() -> None:
    """The refresh-token source of a Control Room connection knows no cloud."""
    err = error_from_result({"error": "invalid_tenant", "error_codes": [90002]}, tenant=TENANT)
    assert f"tenant '{TENANT}' was not found on login.microsoftonline.com (Azure Global)" in (
        err.advice)
    err = error_from_result({"error": "invalid_resource", "error_codes": [500011]})
    assert "the Graph resource of Azure Global" in err.advice


def test_the_code_comes_from_error_codes_first_then_the_description() -> None:
    err = error_from_result({"error": "invalid_client", "error_codes": [7000222],
                             "error_description": "AADSTS7000215: Invalid client secret."})
    assert err.code == "7000222"
    err = error_from_result({"error": "invalid_client", "error_codes": [],
                             "error_description": "Oops. AADSTS7000215: Invalid secret."})
    assert err.code == "7000215" and "not its ID" in err.advice
    assert err.message == "sign-in failed (AADSTS7000215): Oops. AADSTS7000215: Invalid secret."
    err = error_from_result({"error": "invalid_client"})
    assert err.code == "invalid_client" and err.message == "sign-in failed: invalid_client"
    assert error_from_result({}).code == "unknown_error"


def test_long_descriptions_are_cut_between_words() -> None:
    long = "word " * 100
    err = error_from_result({"error": "invalid_request", "error_description": long})
    summary = err.message.removeprefix("sign-in failed (invalid_request): ")
    assert summary == " ".join(["word"] * 59) + "..."
    exact = "x" * 300
    err = error_from_result({"error": "invalid_request", "error_description": exact})
    assert err.message.endswith(": " + exact)  # 300 characters are kept whole
    spaced = "y" * 297 + " zz" + "z" * 50
    err = error_from_result({"error": "invalid_request", "error_description": spaced})
    assert err.message.endswith(": " + "y" * 297 + "...")
    listed = "BOX, " * 100  # a cut after a comma drops the comma, not the word
    err = error_from_result({"error": "invalid_request", "error_description": listed})
    assert err.message.endswith(" BOX, BOX...")
    one_word = "q" * 400
    err = error_from_result({"error": "invalid_request", "error_description": one_word})
    assert err.message == "sign-in failed (invalid_request): ..."


def test_a_5xx_answer_reads_as_the_identity_platform_being_unavailable() -> None:
    body = json.dumps({"error": "temporarily_unavailable", "error_codes": [90033],
                       "error_description": "AADSTS90033: A transient error has occurred.",
                       "correlation_id": "corr-9"})
    err = identity_unavailable(503, body, {"retry-after": "7"})
    assert err.code == "90033" and err.retry_after == 7.0 and err.correlation_id == "corr-9"
    assert err.message == ("the identity platform is temporarily unavailable "
                           "(HTTP 503, AADSTS90033)")
    assert err.advice == UNAVAILABLE_FIX
    err = identity_unavailable(500, json.dumps({"error": "server_error"}), {})
    assert err.code == "server_error" and err.retry_after == 0.0
    assert err.message.endswith("(HTTP 500, server_error)")
    err = identity_unavailable(502, "<html>bad gateway</html>", {"retry-after": "soon"})
    assert err.code == "HTTP502" and err.retry_after == 0.0
    assert err.message.endswith("(HTTP 502)")


def _jwt(payload: object) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64(b'{}')}.{b64(json.dumps(payload).encode())}.c2ln"


def test_claims_are_read_from_the_token_and_limited_to_the_known_ones() -> None:
    raw = _jwt({"upn": "alice@contoso.com", "roles": ["Mail.Send"], "secret_claim": "x",
                "exp": 2_000_000_000})
    assert decode_claims(raw) == {"upn": "alice@contoso.com", "roles": ["Mail.Send"],
                                  "exp": 2_000_000_000}
    assert decode_claims("opaque-token") == {}
    assert decode_claims("a.!!!.c") == {}
    assert decode_claims(_jwt(["not", "a", "dict"])) == {}


def test_a_token_tells_who_it_is_for_and_what_it_may_do() -> None:
    app = make_access_token(_jwt({"app_displayname": "ops-bot", "appid": "a-1",
                                  "roles": ["Mail.ReadWrite", "Mail.Send"]}), 3600, "cache",
                            now=1000.0)
    assert app.identity == "ops-bot" and app.roles == ["Mail.ReadWrite", "Mail.Send"]
    assert app.scopes == [] and app.source == "cache"
    assert app.expires_on == 4600.0 and app.expires_in(now=1600.0) == 3000.0
    user = make_access_token(_jwt({"upn": "alice@contoso.com", "unique_name": "other",
                                   "scp": "Mail.Read Mail.Send", "roles": "not-a-list"}),
                             "60", "identity_provider", now=0.0)
    assert user.identity == "alice@contoso.com" and user.scopes == ["Mail.Read", "Mail.Send"]
    assert user.roles == [] and user.expires_on == 60.0
    for claims, who in (({"unique_name": "u@x"}, "u@x"), ({"preferred_username": "p@x"}, "p@x"),
                        ({"appid": "a-2"}, "a-2"), ({"azp": "z-3"}, "z-3"), ({}, "")):
        assert make_access_token(_jwt(claims), 60, "cache").identity == who


def test_a_token_without_expires_in_uses_its_exp_claim_or_ten_minutes() -> None:
    from_exp = make_access_token(_jwt({"exp": 5000}), None, "cache", now=1000.0)
    assert from_exp.expires_on == 5000.0
    garbled = make_access_token(_jwt({"exp": 5000}), "soon", "cache", now=1000.0)
    assert garbled.expires_on == 5000.0
    opaque = make_access_token("opaque", None, "cache", now=1000.0)
    assert opaque.expires_on == 1600.0 and opaque.claims == {}
    left = make_access_token("opaque", 60, "cache").expires_in()
    assert 59 <= left <= 60


def test_a_token_never_shows_its_value() -> None:
    raw = _jwt({"upn": "alice@contoso.com"})
    tok = AccessToken(Secret(raw), 1000.0, decode_claims(raw), "cache")
    assert raw not in repr(tok) and raw not in str(tok)
    assert repr(tok) == ("AccessToken(token=Secret('********'), expires_on=1000, "
                         "identity='alice@contoso.com', source='cache')")


def _documented_advice() -> list[tuple[list[dict[str, object]], str]]:
    """(error results, advice text) for each row of docs/connect.md's sign-in advice table."""
    doc = (Path(__file__).parents[2] / "docs" / "connect.md").read_text()
    table = doc.split("### Sign-in error advice")[1].split("\n### ")[0]
    rows = []
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith(("| AADSTS", "|---")):
            continue
        keys, advice = (cell.strip() for cell in line.strip().strip("|").split("|", 1))
        results: list[dict[str, object]] = [
            {"error": "invalid_request", "error_codes": [int(n)]}
            for n in re.findall(r"\b\d{4,7}\b", keys)]
        for name in re.findall(r"`(\w+)`", keys):
            sub = f"suberror `{name}`" in keys
            results.append({"error": "invalid_grant", "suberror": name} if sub
                           else {"error": name})
        if keys == "anything else":
            results.append({"error": "something_new"})
        rows.append((results, advice.strip()))
    return rows


def _pattern(advice: str) -> re.Pattern[str]:
    """The documented text as a regex: '…' and *placeholders* match anything, a `quoted`
    part matches itself or anything (a URL with <placeholders>)."""
    parts = re.split(r"(…|\*[^*]+\*|`[^`]+`)", advice)
    out = []
    for part in parts:
        if part == "…" or (part.startswith("*") and part.endswith("*") and len(part) > 1):
            out.append(".+?")
        elif part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"(?:{re.escape(part)}|.+?)")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def test_the_advice_is_word_for_word_what_docs_connect_md_says() -> None:
    rows = _documented_advice()
    assert len(rows) == 18 and sum(len(r) for r, _ in rows) >= 45
    for results, advice in rows:
        reauth = advice.startswith("**`ReauthRequired`**: ")
        advice = advice.removeprefix("**`ReauthRequired`**: ")
        for result in results:
            err = error_from_result(result, cloud=Cloud.GLOBAL, tenant=TENANT, client_id=CLIENT)
            if "temporarily unavailable" in advice:  # with how a 5xx is retried
                assert UNAVAILABLE_FIX in advice and err.advice == UNAVAILABLE_FIX
                continue
            assert _pattern(advice).fullmatch(err.advice), (result, err.advice, advice)
            assert isinstance(err, ReauthRequired) is reauth, result
