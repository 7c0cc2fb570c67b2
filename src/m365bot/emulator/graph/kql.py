"""``$search`` on messages: the KQL subset Outlook clients use.

Free text (matches from, subject and body), ``"quoted phrases"``, property restrictions
``subject:``, ``from:``, ``to:``, ``cc:``, ``bcc:``, ``recipients:``, ``participants:``,
``body:``, ``attachment:``, ``importance:``, ``hasAttachments:true``, ``received>=2026-11-01``
(also ``>``, ``<``, ``<=``, ``=``, ``:`` for the whole day, and ``sent``), combined with
``AND`` (implicit between terms), ``OR``, ``NOT`` and parentheses. Matching is
case-insensitive substring matching.

Example::

    pred = compile_search('"subject:invoice AND from:billing"')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from m365bot.emulator.graph.errors import bad_request
from m365bot.emulator.graph.queryprops import to_epoch
from m365bot.emulator.state import Message

Pred = Callable[[Message], bool]

_TOKEN = re.compile(r"""\s*(?:
    (?P<lp>\() | (?P<rp>\))
  | (?P<prop>[A-Za-z]+)(?P<op>>=|<=|:|=|>|<)(?P<val>"[^"]*"|[^\s()]+)
  | (?P<phrase>"[^"]*")
  | (?P<word>[^\s()"]+)
)""", re.VERBOSE)


def _addresses(m: Message, keys: tuple[str, ...]) -> str:
    parts: list[str] = []
    for key in keys:
        value = m.props.get(key)
        items = value if isinstance(value, list) else [value] if value else []
        for r in items:
            email = (r or {}).get("emailAddress") or {}
            parts.append(f"{email.get('name') or ''} {email.get('address') or ''}")
    return " ".join(parts).lower()


def _body(m: Message) -> str:
    return str((m.props.get("body") or {}).get("content") or "").lower()


_TEXT: dict[str, Callable[[Message], str]] = {
    "subject": lambda m: str(m.props.get("subject") or "").lower(),
    "body": _body,
    "from": lambda m: _addresses(m, ("from",)),
    "to": lambda m: _addresses(m, ("toRecipients",)),
    "cc": lambda m: _addresses(m, ("ccRecipients",)),
    "bcc": lambda m: _addresses(m, ("bccRecipients",)),
    "recipients": lambda m: _addresses(m, ("toRecipients", "ccRecipients", "bccRecipients")),
    "participants": lambda m: _addresses(
        m, ("from", "toRecipients", "ccRecipients", "bccRecipients")),
    "attachment": lambda m: " ".join(str(a.props.get("name") or "")
                                     for a in m.attachments).lower(),
    "importance": lambda m: str(m.props.get("importance") or "").lower(),
}
_DATES = {"received": "receivedDateTime", "sent": "sentDateTime"}


def _default(m: Message) -> str:
    return " ".join((_TEXT["from"](m), _TEXT["subject"](m), _body(m)))


def _term(prop: str | None, op: str, value: str) -> Pred:
    needle = value.strip('"').lower()
    if prop is None:
        return lambda m: needle in _default(m)
    key = prop.lower()
    if key == "hasattachments":
        if needle not in ("true", "false"):
            raise bad_request("hasAttachments takes true or false in $search.")
        want = needle == "true"
        return lambda m: bool(m.props.get("hasAttachments")) == want
    if key in _DATES:
        field = _DATES[key]
        stamp = to_epoch(needle)
        if stamp is None:
            raise bad_request(f"'{value}' is not a date in $search (use 2026-11-01).")
        whole_day = op in (":", "=") and len(needle) == 10

        def date_test(m: Message) -> bool:
            got = to_epoch(str(m.props.get(field) or ""))
            if got is None:
                return False
            if whole_day:
                return stamp <= got < stamp + 86400
            return {">=": got >= stamp, ">": got > stamp, "<=": got <= stamp,
                    "<": got < stamp}.get(op, got == stamp)

        return date_test
    if key not in _TEXT:
        raise bad_request(f"The property '{prop}' is not supported in $search. Use one of: "
                          f"{', '.join(sorted([*_TEXT, 'hasAttachments', 'received', 'sent']))}.")
    if op != ":":
        raise bad_request(f"'{prop}{op}' is not valid in $search; use '{prop}:value'.")
    text = _TEXT[key]
    return lambda m: needle in text(m)


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks: list[dict[str, Any]] = []
        pos = 0
        while pos < len(text) and text[pos:].strip():
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise bad_request(f"Syntax error: character '{text[pos]}' is not valid at "
                                  f"position {pos} in '{text}'.")
            self.toks.append({k: v for k, v in m.groupdict().items() if v is not None})
            pos = m.end()
        self.i = 0
        self.depth = 0

    def peek(self) -> dict[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def keyword(self, name: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.get("word") == name

    def parse(self) -> Pred:
        pred = self.or_expr()
        if self.peek() is not None:
            raise bad_request("Syntax error in $search: unbalanced parentheses.")
        return pred

    def or_expr(self) -> Pred:
        preds = [self.and_expr()]
        while self.keyword("OR"):
            self.i += 1
            preds.append(self.and_expr())
        return preds[0] if len(preds) == 1 else (lambda m: any(p(m) for p in preds))

    def and_expr(self) -> Pred:
        preds = [self.unary()]
        while True:
            tok = self.peek()
            if tok is None or "rp" in tok or self.keyword("OR"):
                break
            if self.keyword("AND"):
                self.i += 1
            preds.append(self.unary())
        return preds[0] if len(preds) == 1 else (lambda m: all(p(m) for p in preds))

    def unary(self) -> Pred:
        tok = self.peek()
        if tok is None:
            raise bad_request("Syntax error in $search: an expression is missing.")
        self.depth += 1
        if self.depth > 50:
            raise bad_request("Syntax error in $search: nested too deeply.")
        try:
            self.i += 1
            if tok.get("word") == "NOT":
                inner = self.unary()
                return lambda m: not inner(m)
            if "lp" in tok:
                pred = self.or_expr()
                nxt = self.peek()
                if nxt is None or "rp" not in nxt:
                    raise bad_request("Syntax error in $search: missing ')'.")
                self.i += 1
                return pred
            if "rp" in tok:
                raise bad_request("Syntax error in $search: unexpected ')'.")
            if "prop" in tok:
                return _term(tok["prop"], tok["op"], tok["val"])
            return _term(None, ":", tok.get("phrase") or tok.get("word") or "")
        finally:
            self.depth -= 1


def compile_search(raw: str) -> Pred:
    """A predicate for ``$search`` (surrounding double quotes are optional)."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and text.count('"') % 2 == 0:
        inner = text[1:-1]
        if inner.count('"') % 2 == 0:
            text = inner
    if not text.strip():
        raise bad_request("The $search query is empty. Example: $search=\"subject:invoice\".")
    if len(text) > 2000:
        raise bad_request("The $search query is too long.")
    return _Parser(text).parse()
