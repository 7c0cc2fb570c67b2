"""Field values: Credential references, Variables and insecure strings, resolved to Secret."""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import warnings

import pytest

import m365bot.values as values_mod
from m365bot.errors import ConfigError
from m365bot.values import (
    CredentialRef,
    Insecure,
    InsecureValueWarning,
    Secret,
    VariableRef,
    parse_value,
    resolve,
)
from m365bot.vault import Vault


def test_reprs_never_show_values(caplog: pytest.LogCaptureFixture) -> None:
    s, ins = Secret("CANARY-sec"), Insecure("CANARY-ins")
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").debug("values %s %r %s %r", s, s, ins, ins)
    text = f"{s} {s!r} {s:>20} {ins} {ins!r} {[s, ins]} {({'k': s})}" + caplog.text
    assert "CANARY" not in text
    with pytest.raises(TypeError):
        pickle.dumps(s)
    ref = CredentialRef("bots", "o365", "client_secret")
    assert str(ref) == "credential:bots/o365/client_secret"
    with pytest.raises(AttributeError):
        ref.locker = "x"  # type: ignore[misc]


def test_parse_cli_strings() -> None:
    assert parse_value("credential:bots/o365/client_secret") == CredentialRef(
        "bots", "o365", "client_secret")
    assert parse_value("variable:secret") == VariableRef("secret")
    assert parse_value("insecure:CANARY-p") == Insecure("CANARY-p")
    assert parse_value("CANARY-plain") == Insecure("CANARY-plain")
    assert parse_value("alice@contoso.com", secret=False) == "alice@contoso.com"
    for bad in ("credential:bots/o365", "credential:a//c", "variable:"):
        with pytest.raises(ConfigError) as err:
            parse_value(bad, field="client_secret")
        assert err.value.field == "client_secret"


@pytest.mark.parametrize("wrong", [None, 5, b"credential:a/b/c"])
def test_parse_value_of_a_non_string_names_the_field(wrong: object) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_value(wrong, field="--client-secret")  # type: ignore[arg-type]
    assert ei.value.field == "--client-secret" and "credential:" in ei.value.advice


def test_resolve_each_kind(stocked: tuple[Vault, dict[str, str]]) -> None:
    vault, values = stocked
    ref = CredentialRef("bots", "o365", "client_secret")
    assert resolve(ref, vault=vault).reveal() == values["client_secret"]
    got = resolve(VariableRef("s"), variables={"s": Secret("CANARY-var")})
    assert got.reveal() == "CANARY-var"
    # A Variable may hold a Credential reference (AA's Credential variable).
    assert resolve(VariableRef("c"), vault=vault, variables={"c": ref}).reveal() == \
        values["client_secret"]
    with pytest.raises(ConfigError) as err:
        resolve(ref, field="client_secret")
    assert err.value.field == "client_secret" and "no vault" in str(err.value)
    with pytest.raises(ConfigError) as err:
        resolve(VariableRef("missing"), variables={}, field="client_secret")
    assert "'missing'" in str(err.value) and err.value.field == "client_secret"
    with pytest.raises(ConfigError) as err:
        resolve(CredentialRef("bots", "o365", "nope"), vault=vault, field="password")
    assert err.value.field == "password" and "no attribute 'nope'" in str(err.value)
    with pytest.raises(ConfigError) as err:
        resolve(CredentialRef("nope", "o365", "a"), vault=vault, field="password")
    assert "no locker named 'nope'" in str(err.value)
    with pytest.raises(ConfigError):
        resolve(Insecure(""), field="client_secret")


def test_insecure_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(values_mod, "_warned_insecure", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert resolve(Insecure("CANARY-i1"), field="client_secret").reveal() == "CANARY-i1"
        assert resolve("CANARY-i2", field="client_secret").reveal() == "CANARY-i2"
    mine = [w for w in caught if issubclass(w.category, InsecureValueWarning)]
    assert len(mine) == 1
    assert "client_secret" in str(mine[0].message) and "CANARY" not in str(mine[0].message)


def test_insecure_warning_points_at_the_callers_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """(Not run under mutmut, whose trampoline adds a frame outside the package.)"""
    monkeypatch.setattr(values_mod, "_warned_insecure", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolve(Insecure("CANARY-i3"), field="client_secret")
    assert [w.filename for w in caught] == [__file__]


def test_values_module_is_import_light() -> None:
    code = ("import sys, m365bot.values; "
            "print(sorted(m for m in ('cryptography', 'sqlalchemy', 'msal', 'httpx') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
