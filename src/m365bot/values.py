"""Field values: a Credential reference, a bot Variable, or an insecure string; and the
:class:`Secret` type that never shows its value.

Example::

    from m365bot.values import Secret
    s = Secret("p@ss")
    print(s)          # ********
    s.reveal()        # 'p@ss' -- only where the value is really needed
"""

from __future__ import annotations

from typing import Any


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
