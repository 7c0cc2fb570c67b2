"""Field values: Credential references, Variables and insecure strings, resolved to Secret."""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import warnings
from typing import Any

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


def test_masks_and_errors_read_exactly_as_documented() -> None:
    """The exact text a user sees (these lines were rewritten by surviving mutants)."""
    s = Secret("CANARY-m")
    assert (repr(s), str(s), f"{s}", f"{s:>12}") == ("Secret('********')", "********",
                                                    "********", "********")
    ins = Insecure("CANARY-m")
    assert (repr(ins), str(ins)) == ("Insecure('********')", "insecure:********")
    assert Secret(s).reveal() == "CANARY-m"  # a Secret of a Secret is the same value
    with pytest.raises(TypeError, match=r"^Secret takes a str$"):
        Secret(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^a Secret cannot be pickled; pass a Credential "
                       r"reference instead$"):
        pickle.dumps(s)
    assert values_mod.insecure_message("client_secret") == (
        "the value of client_secret is an insecure string: it is not protected like a "
        "Credential Vault value; prefer credential:LOCKER/CREDENTIAL/ATTRIBUTE")


def test_secret_equality_hash_and_truth() -> None:
    a, b, c = Secret("CANARY-e1"), Secret("CANARY-e1"), Secret("CANARY-e2")
    assert a == b and a != c and hash(a) == hash(b) and len({a, b, c}) == 2
    assert a != "CANARY-e1" and (a == "CANARY-e1") is False  # never equal to a plain str
    assert hash(a) != hash("CANARY-e1")
    assert bool(a) and not Secret("") and len(a) == len("CANARY-e1")


@pytest.mark.parametrize(("call", "text", "field"), [
    (lambda: parse_value(5, field="f"), "f must be a string, not int Fix: write "  # type: ignore[arg-type]
     "credential:LOCKER/CREDENTIAL/ATTRIBUTE, variable:NAME or insecure:VALUE", "f"),
    (lambda: parse_value("variable:"), "value: the variable name is empty Fix: write "
     "variable:NAME", "value"),
    (lambda: parse_value("credential:a/b", field="f"), "f: a credential reference needs three "
     "parts Fix: write credential:LOCKER/CREDENTIAL/ATTRIBUTE", "f"),
    (lambda: parse_value("variable: ", field="f"), "f: the variable name is empty Fix: write "
     "variable:NAME", "f"),
    (lambda: resolve(Insecure("")), "client_secret is empty Fix: give a value for "
     "client_secret", "client_secret"),
    (lambda: resolve("", field="f"), "f is empty Fix: give a value for f", "f"),
    (lambda: resolve(VariableRef("v"), variables={}, field="f"), "f names the variable 'v', "
     "which this bot does not have Fix: create the variable 'v' or fix the name", "f"),
    (lambda: resolve(VariableRef("v"), variables={"v": VariableRef("w")}, field="f"),
     "f: variable 'v' refers to another variable Fix: store the value itself", "f"),
    (lambda: resolve(VariableRef("v"), variables={"v": ""}, field="f"), "f: variable 'v' is "
     "empty or not a string Fix: set the variable 'v' to the value", "f"),
    (lambda: resolve(VariableRef("v"), variables={"v": 5}, field="f"), "f: variable 'v' is "
     "empty or not a string Fix: set the variable 'v' to the value", "f"),
    (lambda: resolve(VariableRef("v"), variables={"v": Insecure("")}, field="f"),
     "f is empty Fix: give a value for f", "f"),
    (lambda: resolve(CredentialRef("a", "b", "c"), field="f"), "f is a Credential Vault "
     "reference (credential:a/b/c) but no vault was given Fix: open and unlock the vault and "
     "pass it (vault=...)", "f"),
    (lambda: resolve(5, field="f"), "f has an unsupported value type int Fix: use a "  # type: ignore[arg-type]
     "CredentialRef, VariableRef, Insecure, Secret or a string", "f"),
])
def test_value_errors_read_exactly(call: Any, text: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        call()
    assert str(err.value) == text and err.value.field == field


def test_a_variable_holding_a_reference_resolves_it(
        stocked: tuple[Vault, dict[str, str]]) -> None:
    vault, values = stocked
    ref = CredentialRef("bots", "o365", "client_secret")
    got = resolve(VariableRef("c"), vault=vault, variables={"c": ref}, field="password")
    assert got.reveal() == values["client_secret"]
    with pytest.raises(ConfigError) as err:  # the field name travels along the chain
        resolve(VariableRef("c"), variables={"c": ref}, field="password")
    assert err.value.field == "password" and "password is a Credential" in err.value.message
    assert resolve(VariableRef("p"), variables={"p": "CANARY-plain"}).reveal() == "CANARY-plain"
    with pytest.raises(ConfigError) as err:
        resolve(CredentialRef("bots", "o365", "nope"), vault=vault, field="password")
    assert err.value.advice and err.value.advice != "check the names"


def test_a_store_without_advice_gets_the_default_fix() -> None:
    """Any SecretStore may answer VaultNotFoundError; without advice of its own, the error
    still ends with a fix."""
    from m365bot.errors import VaultNotFoundError

    class Store:
        def get(self, locker: str, credential: str, attribute: str) -> Secret:
            raise VaultNotFoundError(f"no credential {credential!r}")

    with pytest.raises(ConfigError) as err:
        resolve(CredentialRef("a", "b", "c"), vault=Store(), field="f")
    assert str(err.value) == "f: no credential 'b' Fix: check the names"
