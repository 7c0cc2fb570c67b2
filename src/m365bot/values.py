"""Field values: a Credential reference, a bot Variable, or an insecure string; and the
:class:`Secret` type that never shows its value.

Every field that takes a secret accepts any of the three, as Automation Anywhere's
Credential / Variable / Insecure string tabs do, and :func:`resolve` turns it into a
:class:`Secret` at run time.

Example::

    from m365bot.values import Secret, CredentialRef, VariableRef, Insecure, resolve, parse_value
    s = Secret("p@ss")
    print(s)          # ********
    s.reveal()        # 'p@ss' -- only where the value is really needed
    ref = parse_value("credential:bots/o365/client_secret")
    secret = resolve(ref, vault=vault, field="client_secret")
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import FrameType


class Secret:
    """A string whose ``str``, ``repr``, ``format`` and pickling never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret takes a str")
        self._value = value

    def reveal(self) -> str:
        """The plain value. Call it only where the value leaves for its destination."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __format__(self, spec: str) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            import hmac

            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled; pass a Credential reference instead")


class CredentialRef(NamedTuple):
    """A value kept in the Credential Vault: locker, credential, attribute.

    Only the names are held; the value is read at run time by :func:`resolve`.

    Example::

        CredentialRef("bots", "o365", "client_secret")
    """

    locker: str
    credential: str
    attribute: str

    def __str__(self) -> str:
        return f"credential:{self.locker}/{self.credential}/{self.attribute}"


class VariableRef(NamedTuple):
    """A value held by the running bot in a variable of this name.

    Example::

        resolve(VariableRef("secret"), variables={"secret": Secret("...")})
    """

    name: str

    def __str__(self) -> str:
        return f"variable:{self.name}"


class Insecure(NamedTuple):
    """A value typed in clear (AA's "insecure string"). Allowed, but not protected:
    :func:`resolve` warns once per process. The repr never shows the value.

    Example::

        Insecure("not-really-secret")
    """

    value: str

    def __repr__(self) -> str:
        return "Insecure('********')"

    def __str__(self) -> str:
        return "insecure:********"


class InsecureValueWarning(UserWarning):
    """A secret field was given an insecure string instead of a Credential or Variable."""


class _VaultLike(Protocol):
    def get(self, locker: str, credential: str, attribute: str) -> Secret: ...


Value = Secret | CredentialRef | VariableRef | Insecure | str
_warned_insecure = False


def insecure_message(field_name: str) -> str:
    """The text of the :class:`InsecureValueWarning` for ``field_name`` (never the value)."""
    return (f"the value of {field_name} is an insecure string: it is not protected like a "
            "Credential Vault value; prefer credential:LOCKER/CREDENTIAL/ATTRIBUTE")


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside m365bot: the
    user's line that passed the insecure value, however deep inside the package we are."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level = 2  # the caller of warn_insecure
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def warn_insecure(field_name: str, *, once: bool = True) -> None:
    """Warn (:class:`InsecureValueWarning`, at the caller's line) that ``field_name`` got an
    insecure string; with ``once``, only the first time in this process.

    Example::

        warn_insecure("--client-secret", once=False)   # the CLI, for a value on argv
    """
    global _warned_insecure
    if once and _warned_insecure:
        return
    _warned_insecure = True
    warnings.warn(insecure_message(field_name), InsecureValueWarning,
                  stacklevel=_caller_stacklevel())


def resolve(
    value: Value,
    *,
    vault: _VaultLike | None = None,
    variables: Mapping[str, Any] | None = None,
    field: str = "client_secret",
) -> Secret:
    """Turn a field value into a :class:`Secret`; errors name ``field``.

    A plain ``str`` is treated as an insecure string. Example::

        resolve(CredentialRef("bots", "o365", "client_secret"), vault=v)
    """
    from m365bot.errors import ConfigError, NotFoundError

    if isinstance(value, Secret):
        return value
    if isinstance(value, Insecure | str):
        text = value.value if isinstance(value, Insecure) else value
        if not text:
            raise ConfigError(f"{field} is empty", field=field, advice=f"give a value for {field}")
        warn_insecure(field)
        return Secret(text)
    if isinstance(value, VariableRef):
        if variables is None or value.name not in variables:
            raise ConfigError(
                f"{field} names the variable {value.name!r}, which this bot does not have",
                field=field,
                advice=f"create the variable {value.name!r} or fix the name",
            )
        got = variables[value.name]
        if isinstance(got, CredentialRef | VariableRef | Insecure):
            if isinstance(got, VariableRef):
                raise ConfigError(f"{field}: variable {value.name!r} refers to another "
                                  "variable", field=field, advice="store the value itself")
            return resolve(got, vault=vault, variables=variables, field=field)
        if isinstance(got, Secret):
            return got
        if isinstance(got, str) and got:
            return Secret(got)
        raise ConfigError(
            f"{field}: variable {value.name!r} is empty or not a string",
            field=field,
            advice=f"set the variable {value.name!r} to the value",
        )
    if isinstance(value, CredentialRef):
        if vault is None:
            raise ConfigError(
                f"{field} is a Credential Vault reference ({value}) but no vault was given",
                field=field,
                advice="open and unlock the vault and pass it (vault=...)",
            )
        try:
            return vault.get(value.locker, value.credential, value.attribute)
        except NotFoundError as exc:
            raise ConfigError(
                f"{field}: {exc.message}", field=field, advice=exc.advice or "check the names"
            ) from None
    raise ConfigError(
        f"{field} has an unsupported value type {type(value).__name__}",
        field=field,
        advice="use a CredentialRef, VariableRef, Insecure, Secret or a string",
    )


def parse_value(text: str, *, field: str = "value", secret: bool = True) -> Value:
    """Parse a CLI string: ``credential:LOCKER/CREDENTIAL/ATTRIBUTE``, ``variable:NAME``,
    ``insecure:VALUE``. A plain string is an insecure value (for non-secret fields it is
    just the value).

    Example::

        parse_value("credential:bots/o365/client_secret")
        # CredentialRef(locker='bots', credential='o365', attribute='client_secret')
    """
    from m365bot.errors import ConfigError

    if not isinstance(text, str):
        raise ConfigError(f"{field} must be a string, not {type(text).__name__}", field=field,
                          advice="write credential:LOCKER/CREDENTIAL/ATTRIBUTE, "
                          "variable:NAME or insecure:VALUE")
    if text.startswith("credential:"):
        parts = text[len("credential:"):].split("/")
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ConfigError(
                f"{field}: a credential reference needs three parts",
                field=field,
                advice="write credential:LOCKER/CREDENTIAL/ATTRIBUTE",
            )
        return CredentialRef(*(p.strip() for p in parts))
    if text.startswith("variable:"):
        name = text[len("variable:"):].strip()
        if not name:
            raise ConfigError(f"{field}: the variable name is empty", field=field,
                              advice="write variable:NAME")
        return VariableRef(name)
    if text.startswith("insecure:"):
        return Insecure(text[len("insecure:"):])
    return Insecure(text) if secret else text


__all__ = [
    "CredentialRef",
    "Insecure",
    "InsecureValueWarning",
    "Secret",
    "Value",
    "VariableRef",
    "insecure_message",
    "parse_value",
    "resolve",
    "warn_insecure",
]
