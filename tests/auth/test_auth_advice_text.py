"""Sign-in error text as a user reads it: Entra's long descriptions are shortened at a word
boundary (never mid-word) and never carry the secret that was sent."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

from m365bot.auth.loopback import LoopbackListener
from m365bot.auth.modes import ClientCredentials, SecretCredential
from m365bot.config import Settings
from m365bot.emulator.entra.errors import expired_secret
from m365bot.errors import AuthError, ConfigError
from m365bot.values import Secret
from world_support import app, secret


def test_expired_secret_message_is_cut_between_words(clean_emulator: Any, settings: Settings,
                                                     vault: Any) -> None:
    a = app(clean_emulator.info, "m365bot-demo")
    old = secret(a, expired=True)
    provider = ClientCredentials(cloud="global", tenant=a["tenant_id"], client_id=a["client_id"],
                                 credential=SecretCredential(Secret(old["value"])),
                                 settings=settings, store=vault)
    with pytest.raises(AuthError) as ei:
        provider.get_token()
    err = ei.value
    assert err.code == "7000222" and "new client secret" in err.advice
    full_words = set(str(expired_secret(a["client_id"], old["id"])).split())
    summary = err.message.removeprefix("sign-in failed: ").removesuffix("...").split()
    assert summary and all(w in full_words for w in summary), summary  # no word cut in two
    assert "Visit the Azure portal" in err.message
    assert old["value"] not in str(err) and old["value"] not in err.advice


def _busy_pair() -> tuple[socket.socket, socket.socket, int]:
    """Two listening sockets on consecutive loopback ports P and P+1."""
    for _ in range(50):
        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        second = socket.socket()
        try:
            second.bind(("127.0.0.1", port + 1))
        except OSError:
            first.close()
            second.close()
            continue
        first.listen(1)
        second.listen(1)
        return first, second, port
    raise AssertionError("no two consecutive free ports")


def test_port_in_use_advice_suggests_a_free_port() -> None:
    first, second, port = _busy_pair()
    with first, second:
        with pytest.raises(ConfigError) as ei:
            LoopbackListener.open(f"http://localhost:{port}/cb")
        found = re.search(r"e\.g\. http://localhost:(\d+)/cb\)", ei.value.advice)
        assert found, ei.value.advice
        suggested = int(found.group(1))
        assert suggested not in (port, port + 1)  # neither busy port is offered
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", suggested))  # and the offered one is really free
