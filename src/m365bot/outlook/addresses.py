"""Email addresses for the send actions: parse and validate, without any request.

A recipient list may be given as a list (of text or :class:`EmailAddress`) or as one text with
addresses separated by ``,`` or ``;``. Each entry is ``bob@contoso.com`` or
``Bob Berg <bob@contoso.com>`` (a quoted name may contain commas: ``"Berg, Bob" <bob@...>``).
Every address is checked (a local part, one ``@``, a domain with a dot, no spaces or control
characters, RFC 5321 lengths); the first bad one raises ConfigError naming the field and the
address, so nothing is sent.

Example::

    parse_addresses("bob@contoso.com; Berg, Bob <bob2@contoso.com>", field="to")
    # ConfigError: "Berg" has no address... -> quote the name: "\"Berg, Bob\" <bob2@...>"
    parse_addresses(["bob@contoso.com", "Ann <ann@contoso.com>"], field="cc")
    # (EmailAddress('bob@contoso.com'), EmailAddress('ann@contoso.com', 'Ann'))
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from m365bot.errors import ConfigError
from m365bot.outlook.models import EmailAddress

Addresses = str | EmailAddress | Iterable[str | EmailAddress] | None
"""What the actions accept for to, cc, bcc and reply_to."""

# RFC 5322 dot-atom local part; a domain of LDH labels with at least one dot (Graph needs an
# SMTP address it can route), or an IP literal in brackets
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^{_LOCAL}@(?:{_LABEL}(?:\.{_LABEL})+|\[[0-9A-Fa-f:.]+\])$")
_NAMED = re.compile(r'^\s*(?:"((?:[^"\\]|\\.)*)"|([^"<>]*?))\s*<([^<>]*)>\s*$')
_ADVICE = ("write each address as name@example.com or 'Name <name@example.com>', and separate "
           "several with ',' or ';' (quote a name that contains one)")


def is_address(text: str) -> bool:
    """True when ``text`` is a plain email address Graph can route (no name part).

    Example::

        is_address("bob@contoso.com")   # True
        is_address("bob@contoso")       # False: no dot in the domain
    """
    if len(text) > 254 or "@" not in text or len(text.rsplit("@", 1)[0]) > 64:
        return False
    return bool(_ADDRESS.match(text))


def split_addresses(text: str) -> list[str]:
    """Split a text list on ``,`` and ``;`` outside quotes and angle brackets.

    Example::

        split_addresses('"Berg, Bob" <bob@x.com>; ann@x.com')   # two entries
    """
    parts: list[str] = []
    current: list[str] = []
    quoted = angle = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"' and not angle:
            quoted = not quoted
        elif ch == "<" and not quoted:
            angle = True
        elif ch == ">" and not quoted:
            angle = False
        elif ch in ",;" and not quoted and not angle:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_address(text: str, *, field: str) -> EmailAddress:
    """One entry (``addr`` or ``Name <addr>``), validated; ConfigError naming ``field``.

    Example::

        parse_address("Bob Berg <bob@contoso.com>", field="to").name   # 'Bob Berg'
    """
    entry = text.strip()
    name: str | None = None
    address = entry
    m = _NAMED.match(entry)
    if m:
        raw_name = m.group(1) if m.group(1) is not None else m.group(2)
        name = re.sub(r"\\(.)", r"\1", raw_name).strip() or None
        address = m.group(3).strip()
    if not is_address(address):
        shown = entry if len(entry) <= 80 else entry[:77] + "..."
        raise ConfigError(f"{field}: {shown!r} is not a valid email address",
                          field=field, advice=_ADVICE)
    if name is not None and any(ord(c) < 32 for c in name):
        raise ConfigError(f"{field}: the name of {address!r} contains control characters",
                          field=field, advice="remove line breaks and tabs from the name")
    return EmailAddress(address=address, name=name)


def parse_addresses(value: Addresses, *, field: str) -> tuple[EmailAddress, ...]:
    """Every recipient in ``value`` (None, one text, an EmailAddress, or a list of them),
    validated, duplicates (same address, any case) kept once.

    Example::

        parse_addresses("a@x.com, b@x.com;A@X.COM", field="to")   # two addresses
    """
    if value is None:
        return ()
    items: Iterable[str | EmailAddress]
    items = [value] if isinstance(value, str | EmailAddress) else value
    out: list[EmailAddress] = []
    seen: set[str] = set()
    for item in items:
        if isinstance(item, EmailAddress):
            if not is_address(item.address):
                raise ConfigError(f"{field}: {item.address!r} is not a valid email address",
                                  field=field, advice=_ADVICE)
            parsed = [item]
        elif isinstance(item, str):
            parsed = [parse_address(part, field=field) for part in split_addresses(item)]
        else:
            raise ConfigError(f"{field}: expected addresses as text or EmailAddress, got "
                              f"{type(item).__name__}", field=field, advice=_ADVICE)
        for address in parsed:
            if address.address.lower() not in seen:
                seen.add(address.address.lower())
                out.append(address)
    return tuple(out)


def parse_mailbox(value: str, *, field: str) -> str:
    """One plain mailbox address (``from_mailbox``), validated.

    Example::

        parse_mailbox("ops@contoso.com", field="from_mailbox")   # 'ops@contoso.com'
    """
    return parse_address(value, field=field).address


__all__ = ["Addresses", "is_address", "parse_address", "parse_addresses", "parse_mailbox",
           "split_addresses"]
