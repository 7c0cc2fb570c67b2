"""The emulator's signing key: persisted in its data folder, so tokens survive a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from m365bot.emulator.clock import Clock
from m365bot.emulator.tokens import KEY_FILE, TokenError, Tokens


def _token(tokens: Tokens) -> str:
    return tokens.issue_access_token(
        tenant_id="t", cloud="dod", client_id="c", app_name="a", oid="o", roles=["Mail.Read"]
    )


def test_key_survives_restart_and_is_private(tmp_path: Path) -> None:
    first = Tokens.open(tmp_path, Clock())
    token = _token(first)
    again = Tokens.open(tmp_path, Clock())
    assert again.kid == first.kid
    claims = again.decode_access_token(token)
    assert claims["aud"] == "https://dod-graph.microsoft.us" and claims["roles"] == ["Mail.Read"]
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o077 == 0


def test_tokens_from_another_key_or_tampered_are_rejected(tmp_path: Path) -> None:
    ours = Tokens.open(None, Clock())
    theirs = Tokens.open(tmp_path, Clock())
    with pytest.raises(TokenError):
        ours.decode_access_token(_token(theirs))
    head, body, sig = _token(ours).split(".")
    with pytest.raises(TokenError):
        ours.decode_access_token(f"{head}.{body[:-4]}AAAA.{sig}")
    with pytest.raises(TokenError):
        ours.decode_access_token("not a jwt")


def test_expiry_follows_the_emulator_clock() -> None:
    clock = Clock()
    clock.advance(10_000)
    tokens = Tokens.open(None, clock)
    claims = tokens.decode_access_token(_token(tokens))
    assert claims["exp"] - clock.now() == pytest.approx(3599, abs=2)
    assert claims["iat"] >= clock.now() - 2
