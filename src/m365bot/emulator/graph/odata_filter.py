"""``$filter`` for messages: a small recursive-descent parser for the OData subset mail
clients use.

Comparisons (``eq ne gt ge lt le``) on properties and paths (``from/emailAddress/address``),
``contains``/``startswith``/``endswith``, ``categories/any(c:c eq 'x')`` (and ``any`` over
recipient lists), ``and``/``or``/``not`` and parentheses. Strings compare case-insensitively,
as Exchange does. Anything else is 400 BadRequest naming the problem.

Example::

    pred, props = compile_filter("isRead eq false and receivedDateTime ge 2026-11-01T00:00:00Z")
    props  # ['isRead', 'receivedDateTime']  (used for the InefficientFilter rule)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from m365bot.emulator.graph.errors import bad_request
from m365bot.emulator.graph.queryprops import DATES, canonical_path, getter, to_epoch
from m365bot.emulator.state import Message

Pred = Callable[[Message], bool]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<date>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),:])
    | (?P<word>[A-Za-z_][A-Za-z0-9_./]*)
    )""", re.VERBOSE)
_OPS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_FUNCS = frozenset({"contains", "startswith", "endswith"})
MAX_LENGTH = 4000


def syntax(detail: str) -> Exception:
    return bad_request(f"Invalid filter clause: {detail}")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise syntax(f"syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.props: list[str] = []
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise syntax(f"unexpected end of '{self.text}'.")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        _kind, got = self.take()
        if got.lower() != value:
            raise syntax(f"expected '{value}' but found '{got}'.")

    def is_word(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() == value

    def parse(self) -> Pred:
        pred = self.or_expr()
        if self.peek() is not None:
            raise syntax(f"unexpected '{self.peek()[1]}' in '{self.text}'.")  # type: ignore[index]
        return pred

    def or_expr(self) -> Pred:
        preds = [self.and_expr()]
        while self.is_word("or"):
            self.take()
            preds.append(self.and_expr())
        if len(preds) == 1:
            return preds[0]
        return lambda m: any(p(m) for p in preds)

    def and_expr(self) -> Pred:
        preds = [self.unary()]
        while self.is_word("and"):
            self.take()
            preds.append(self.unary())
        if len(preds) == 1:
            return preds[0]
        return lambda m: all(p(m) for p in preds)

    def unary(self) -> Pred:
        self.depth += 1
        if self.depth > 50:
            raise syntax("the expression is nested too deeply.")
        try:
            if self.is_word("not"):
                self.take()
                inner = self.unary()
                return lambda m: not inner(m)
            tok = self.peek()
            if tok is not None and tok[1] == "(":
                self.take()
                pred = self.or_expr()
                self.expect(")")
                return pred
            return self.primary()
        finally:
            self.depth -= 1

    def note(self, path: str) -> None:
        if path not in self.props:
            self.props.append(path)

    def primary(self) -> Pred:
        kind, word = self.take()
        if kind != "word":
            raise syntax(f"expected a property or function but found '{word}'.")
        if word.lower() in _FUNCS:
            return self.function(word.lower())
        if word.lower().endswith("/any") or word.lower().endswith("/all"):
            return self.lambda_any(word)
        path = canonical_path(word)
        self.note(path)
        tok = self.peek()
        if tok is None or tok[0] != "word" or tok[1].lower() not in _OPS:
            if tok is None or tok[1] in (")",) or (tok[0] == "word" and tok[1].lower()
                                                   in ("and", "or")):
                get = getter(path)
                return lambda m: get(m) is True
            raise syntax(f"expected a comparison operator after '{word}'.")
        op = self.take()[1].lower()
        value = self.literal()
        return compare(getter(path), path, op, value)

    def literal(self) -> Any:
        kind, raw = self.take()
        if kind == "str":
            return raw[1:-1].replace("''", "'")
        if kind == "date":
            return ("date", raw)
        if kind == "num":
            return float(raw)
        if kind == "word" and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if kind == "word" and raw.lower() == "null":
            return None
        raise syntax(f"'{raw}' is not a valid literal; quote strings like 'text'.")

    def function(self, name: str) -> Pred:
        self.expect("(")
        kind, word = self.take()
        if kind != "word":
            raise syntax(f"the first argument of {name} must be a property.")
        path = canonical_path(word)
        self.note(path)
        self.expect(",")
        needle = self.literal()
        self.expect(")")
        if not isinstance(needle, str):
            raise syntax(f"the second argument of {name} must be a quoted string.")
        get = getter(path)
        low = needle.lower()

        def test(m: Message) -> bool:
            value = get(m)
            if not isinstance(value, str):
                return False
            text = value.lower()
            if name == "contains":
                return low in text
            if name == "startswith":
                return text.startswith(low)
            return text.endswith(low)

        return test

    def lambda_any(self, word: str) -> Pred:
        collection, _, fn = word.rpartition("/")
        path = canonical_path(collection)
        self.note(path)
        self.expect("(")
        kind, var = self.take()
        if kind != "word":
            raise syntax("expected a lambda variable like c:c eq 'x'.")
        self.expect(":")
        kind, ref = self.take()
        if kind != "word" or ref.split("/")[0] != var:
            raise syntax(f"the lambda body must start with '{var}'.")
        sub = ref.split("/")[1:]
        op = self.take()[1].lower()
        if op not in _OPS:
            raise syntax(f"'{op}' is not a comparison operator.")
        value = self.literal()
        self.expect(")")
        get = getter(path)

        def item_value(item: Any) -> Any:
            for p in sub:
                item = item.get(p[0].lower() + p[1:]) if isinstance(item, dict) else None
            return item

        inner = compare(lambda item: item_value(item), "", op, value)
        if fn.lower() == "all":
            return lambda m: all(inner(i) for i in (get(m) or []))
        return lambda m: any(inner(i) for i in (get(m) or []))


def compare(get: Callable[[Any], Any], path: str, op: str, value: Any) -> Callable[[Any], bool]:
    if isinstance(value, tuple) or (path in DATES and isinstance(value, str)):
        stamp = to_epoch(value[1] if isinstance(value, tuple) else value)
        if stamp is None:
            raise syntax(f"'{value}' is not a valid date and time.")
        if path and path not in DATES:
            raise syntax(f"'{path}' is not a date property.")

        def date_test(m: Any) -> bool:
            got = to_epoch(str(get(m) or ""))
            return got is not None and _cmp(got, op, stamp)

        return date_test
    if path in DATES:
        raise syntax(f"compare '{path}' with a date like 2026-11-01T00:00:00Z.")
    if isinstance(value, str):
        low = value.lower()
        return lambda m: _cmp_str(get(m), op, low)
    return lambda m: _cmp(get(m), op, value)


def _cmp_str(got: Any, op: str, low: str) -> bool:
    if got is None:
        return op == "ne"
    return _cmp(str(got).lower(), op, low)


def _cmp(got: Any, op: str, value: Any) -> bool:
    if op == "eq":
        return bool(got == value)
    if op == "ne":
        return bool(got != value)
    if got is None or value is None:
        return False
    try:
        if op == "gt":
            return bool(got > value)
        if op == "ge":
            return bool(got >= value)
        if op == "lt":
            return bool(got < value)
        return bool(got <= value)
    except TypeError:
        return False


def compile_filter(text: str) -> tuple[Pred, list[str]]:
    """(predicate, properties in order of first use); 400 BadRequest for bad syntax."""
    if not text.strip():
        raise syntax("the filter is empty.")
    if len(text) > MAX_LENGTH:
        raise syntax("the filter is too long.")
    parser = _Parser(text)
    return parser.parse(), parser.props
