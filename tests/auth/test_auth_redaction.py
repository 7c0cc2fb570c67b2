"""Log redaction (``m365bot.redact``): what a log reader sees of codes, secrets and tokens that
msal, httpx and httpcore put in their records. Each case is a line such a library writes."""

from __future__ import annotations

import logging
import sys

import pytest

from m365bot.redact import FILTERED, RedactingFilter, install_log_filter, redact

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.mark.parametrize("key", [
    "code", "refresh_token", "access_token", "id_token", "code_verifier", "client_secret",
    "client_assertion", "secret", "password", "passwd", "client_info", "assertion",
    "session_state", "device_code", "user_code", "authtoken", "tempauth", "sig", "ESTSAUTH",
    "ESTSAUTHPERSISTENT",
])
def test_every_secret_key_is_masked_in_each_way_it_is_written(key: str) -> None:
    value = "Zm9vYmFy.canary-42"
    for line, shown in [
        (f"{key}={value}&state=s1", f"{key}=***&state=s1"),                 # a query string
        (f"{key.upper()}={value}", f"{key.upper()}=***"),                   # any case
        (f"{{'{key}': '{value}', 'scope': 'Mail.Read'}}",                   # a dict's repr
         f"{{'{key}': '***', 'scope': 'Mail.Read'}}"),
        (f'{{"{key}": "{value}"}}', f'{{"{key}": "***"}}'),                 # JSON
        (f"{key}%3D{value}%26state%3Ds1", f"{key}%3D***"),                   # URL-encoded
        (f"{key} : {value}, next", f"{key} : ***, next"),                    # spaced out
        (f"[{key}={value}]", f"[{key}=***]"),
    ]:
        assert redact(line) == shown, line


def test_names_that_only_contain_a_secret_key_are_left_alone() -> None:
    # a word boundary on each side: these are not secrets, and a log reader needs them
    for line in ["error_codes=[7000215] status_code=400", "zipcode=75001",
                 "codes=2 signal=3", "secretary=bob", "state=abc&response_mode=query"]:
        assert redact(line) == line


def test_a_value_ends_at_the_first_separator() -> None:
    assert redact("code=abc def") == "code=*** def"
    assert redact("code='abc' state='x'") == "code='***' state='x'"
    assert redact('code="abc",state=x') == 'code="***",state=x'
    assert redact("{code=abc}") == "{code=***}"
    assert redact("code=abc\tstate=x") == "code=***\tstate=x"


def test_tokens_are_masked_wherever_they_stand() -> None:
    assert redact(f"Bearer {JWT} for alice") == "Bearer *** for alice"
    assert redact(f"failed: {JWT}") == "failed: ***"
    # the signature may be empty (an unsigned token), the header and payload may not be short
    assert redact("eyJhbGci.eyJzdWIi.") == "***"
    assert redact("eyJab.cdefg.hij") == "eyJab.cdefg.hij"
    assert redact("eyJabcd.efg.hij") == "eyJabcd.efg.hij"


def _record(msg: object, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"token endpoint said refresh_token=1.AbC-canary and {JWT}")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("msal.application", logging.DEBUG, __file__, 1, msg,
                             args or None, exc_info)


def _format(record: logging.LogRecord) -> str:
    return logging.Formatter("%(message)s").format(record)


def test_the_filter_rewrites_the_message_and_its_arguments() -> None:
    rec = _record("Got auth response: %s", {"code": "0.AX-canary", "state": "st"})
    assert RedactingFilter().filter(rec) is True          # the record is kept, not dropped
    assert _format(rec) == "Got auth response: {'code': '***', 'state': 'st'}"


def test_a_record_with_a_broken_format_string_keeps_its_template_redacted() -> None:
    rec = _record("refresh_token=1.AbC-canary %s %s", "only one")
    assert RedactingFilter().filter(rec) is True
    assert _format(rec) == "refresh_token=*** %s %s"


def test_a_traceback_in_a_record_is_redacted() -> None:
    rec = _record("refresh failed", exc=True)
    RedactingFilter().filter(rec)
    text = _format(rec)
    assert "1.AbC-canary" not in text and "c2lnbmF0dXJl" not in text
    assert "refresh failed" in text and "RuntimeError: token endpoint said refresh_token=***" \
        in text and "Traceback (most recent call last)" in text


def test_the_filter_is_on_every_library_logger_once(caplog: pytest.LogCaptureFixture) -> None:
    child = logging.getLogger("httpx.m365bot-test-child")   # a logger made after import
    other = logging.getLogger("httpxtra.m365bot-test")       # not one of httpx's
    install_log_filter()
    install_log_filter()
    for name in (*FILTERED, "httpx.m365bot-test-child"):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in filters) == 1, name
    assert not any(isinstance(f, RedactingFilter) for f in other.filters)
    caplog.set_level(logging.DEBUG)
    child.debug("POST /token body=client_secret=s3cret-canary&grant_type=client_credentials")
    assert "s3cret-canary" not in caplog.text and "grant_type=client_credentials" in caplog.text
