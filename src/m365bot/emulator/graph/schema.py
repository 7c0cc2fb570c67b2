"""Graph v1.0's types for mail, folders, attachments, events and users, and a checker that
tells whether a JSON body the emulator sends fits them.

The types are in ``graph-v1-outlook-schema.json`` next to this module: an extract of
Microsoft's published CSDL (microsoftgraph/msgraph-metadata
``clean_v10_metadata/cleanMetadata.xml``, commit in the file's ``commit`` field), copied from
the project's reference folder. The rules (identity-and-graph-facts.md §2.1, issue 7):

* a property exists on the type or one of its base types, unless the type is open;
* ``Edm.*`` values have the right JSON type; ``Edm.Binary`` is standard base64 (``+``, ``/``,
  ``=``), ``Edm.DateTimeOffset`` is ISO 8601 with ``Z`` or an offset;
* enum values are members (lower camel case, as Graph sends them);
* an abstract type's instance, or one of a derived type, carries ``@odata.type``;
* a non-nullable property is not ``null``.

Example::

    >>> check({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('a')/"
    ...        "mailFolders/$entity", "id": "AAMk", "sizeInBytes": 3})
    ["sizeInBytes: no such property on microsoft.graph.mailFolder"]
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("graph-v1-outlook-schema.json")

# Navigation names that appear as the last segment of an @odata.context or a path.
_SEGMENT_TYPES = {
    "messages": "message",
    "mailfolders": "mailFolder",
    "childfolders": "mailFolder",
    "attachments": "attachment",
    "events": "event",
    "calendarview": "event",
    "instances": "event",
    "calendars": "calendar",
    "calendar": "calendar",
    "users": "user",
    "me": "user",
    "messagerules": "messageRule",
    "mailboxsettings": "mailboxSettings",
    "mastercategories": "outlookCategory",
}
_SINGLETONS = frozenset({"me", "calendar", "mailboxsettings"})
# Control information and instance annotations Graph puts on objects.
_ANNOTATION = re.compile(r"^(?:[A-Za-z]\w*)?@(?:odata|microsoft\.graph)\.[A-Za-z]\w*$")
_DELTA_ANNOTATIONS = frozenset({"@removed"})
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?(?:Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INTS = {"Edm.Int16": 2**15, "Edm.Int32": 2**31, "Edm.Int64": 2**63, "Edm.Byte": 2**8}
# How many violations one body reports at most (a 1,000-item page repeats the same one).
_MAX_REPORTED = 20


@functools.cache
def types() -> dict[str, dict[str, Any]]:
    """The schema's types by short name (``message``, ``mailFolder``, ``followupFlag``)."""
    data = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return dict(data["types"])


def provenance() -> str:
    """Where the types come from, e.g. ``microsoftgraph/msgraph-metadata … @ f54f11b6``."""
    data = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return f"{data['source']} @ {data['commit']}"


def _short(name: str) -> str:
    return name.lstrip("#").removeprefix("microsoft.graph.").removeprefix("graph.")


def _chain(name: str) -> list[dict[str, Any]]:
    """The type and its base types, most derived first."""
    out: list[dict[str, Any]] = []
    current: str | None = name
    while current:
        spec = types().get(current)
        if spec is None:
            break
        out.append(spec)
        current = spec.get("base")
    return out


def derives_from(name: str, base: str) -> bool:
    """``derives_from("fileAttachment", "attachment")`` is True."""
    current: str | None = name
    while current:
        if current == base:
            return True
        current = types().get(current, {}).get("base")
    return False


def type_of_context(context: str) -> tuple[str | None, bool]:
    """(type name, is a collection) from an ``@odata.context`` URL.

    Example: ``…/$metadata#users('a')/messages(subject)`` → ``("message", True)``;
    ``…#Collection(microsoft.graph.attachment)`` → ``("attachment", True)``.
    """
    fragment = context.partition("#")[2]
    entity = fragment.endswith("/$entity")
    fragment = fragment.removesuffix("/$entity").removesuffix("/$delta")
    if fragment.startswith("Collection(") and fragment.endswith(")"):
        return _short(fragment[len("Collection("):-1]), True
    if fragment.startswith(("microsoft.graph.", "graph.")):
        return _short(fragment), False
    segment = fragment.rsplit("/", 1)[-1]
    name = segment.split("(", 1)[0]
    found = _SEGMENT_TYPES.get(name.lower())
    if found is None:
        return None, False
    keyed = "(" in segment and _is_key(segment)
    return found, not (entity or keyed or name.lower() in _SINGLETONS)


def _is_key(segment: str) -> bool:
    """``users('a')`` names one entity; ``messages(subject,from)`` is a $select list."""
    inner = segment.split("(", 1)[1].rstrip(")")
    return inner.startswith("'") or _GUID.match(inner) is not None


def type_of_path(path: str) -> tuple[str | None, bool]:
    """(type name, is a collection) from a request path, when the body names none.

    Example: ``/v1.0/users/a/mailFolders/inbox`` → ``("mailFolder", False)``.
    """
    parts = [p for p in path.split("/") if p and p not in ("v1.0", "beta")]
    for index in range(len(parts) - 1, -1, -1):
        name = parts[index].lower()
        found = _SEGMENT_TYPES.get(name)
        if found:
            last = index == len(parts) - 1
            return found, last and name not in _SINGLETONS
    return None, False


def check(body: Any, *, path: str = "", strict: bool = False) -> list[str]:
    """Every way ``body`` (a Graph JSON answer) breaks the schema; ``[]`` when it fits.

    The type comes from ``@odata.context``, else ``@odata.type``, else the request ``path``.
    Error envelopes and ``$batch`` envelopes (whose items are checked on their own) pass.
    ``strict`` also reports undeclared properties on open types (message, event, user): Graph
    sends those only when a client stored them, so the emulator's own output never should.
    """
    if not isinstance(body, dict) or _is_envelope(body):
        return []
    context = body.get("@odata.context")
    name, many = type_of_context(context) if isinstance(context, str) else (None, False)
    if name is None and isinstance(body.get("@odata.type"), str):
        name, many = _short(body["@odata.type"]), False
    if name is None and path:
        name, many = type_of_path(path)
    if name is None or name not in types():
        return [f"cannot tell the Graph type of the answer (@odata.context {context!r}, "
                f"path {path!r})"]
    found: list[str] = []
    if many or ("value" in body and isinstance(body["value"], list) and "id" not in body):
        for key in body:
            if key != "value" and not _is_annotation(key):
                found.append(f"{key}: not allowed next to a collection's 'value'")
        items = body.get("value")
        if not isinstance(items, list):
            return [*found, "value: a collection answer needs a 'value' array"]
        for index, item in enumerate(items):
            _value(item, name, False, f"value[{index}]", found, strict)
            if len(found) >= _MAX_REPORTED:
                break
    else:
        _value(body, name, False, "", found, strict)
    return found[:_MAX_REPORTED]


def _is_envelope(body: dict[str, Any]) -> bool:
    if set(body) == {"error"}:
        return True
    return set(body) <= {"responses", "@odata.nextLink"} and "responses" in body


def _is_annotation(key: str) -> bool:
    return key in _DELTA_ANNOTATIONS or _ANNOTATION.match(key) is not None


def _value(value: Any, type_name: str, nullable: bool, where: str, out: list[str],
           strict: bool = False) -> None:
    if value is None:
        if not nullable:
            out.append(f"{where or 'body'}: null, but {type_name} is not nullable here")
        return
    if type_name.startswith("Edm."):
        problem = _edm(value, type_name)
        if problem:
            out.append(f"{where}: {problem}")
        return
    spec = types().get(type_name)
    if spec is None:
        return  # a type outside the extract (e.g. profilePhoto): not checked
    kind = spec["kind"]
    if kind == "enum":
        _enum(value, type_name, spec, where, out)
        return
    if not isinstance(value, dict):
        out.append(f"{where}: expected a {type_name} object, got {type(value).__name__}")
        return
    _object(value, type_name, where, out, strict)


def _object(value: dict[str, Any], type_name: str, where: str, out: list[str],
            strict: bool) -> None:
    actual = type_name
    declared = value.get("@odata.type")
    if isinstance(declared, str):
        actual = _short(declared)
        if actual not in types():
            out.append(f"{where}.@odata.type: unknown type {declared!r}")
            return
        if not derives_from(actual, type_name):
            out.append(f"{where}.@odata.type: {declared!r} does not derive from {type_name}")
            return
    elif types()[type_name].get("abstract"):
        out.append(f"{where or 'body'}: {type_name} is abstract; the object needs @odata.type "
                   "naming its derived type")
        return
    chain = _chain(actual)
    is_open = any(spec.get("open") for spec in chain) and not strict
    prefix = f"{where}." if where else ""
    for key, item in value.items():
        if _is_annotation(key):
            if key == "@odata.etag" and not (isinstance(item, str) and item.startswith('W/"')):
                out.append(f"{prefix}{key}: expected W/\"<changeKey>\", got {item!r}")
            continue
        prop = _property(chain, key)
        if prop is None:
            if not is_open:
                out.append(f"{prefix}{key}: no such property on microsoft.graph.{actual}"
                           + (" (v1.0; an open type, but the emulator adds no dynamic "
                              "properties)" if strict and _is_open(chain) else ""))
            continue
        target = str(prop["type"])
        nullable = bool(prop.get("nullable", True))
        if prop.get("collection"):
            if not isinstance(item, list):
                if item is not None or not nullable:
                    out.append(f"{prefix}{key}: expected an array of {target}")
                continue
            for index, element in enumerate(item):
                _value(element, target, False, f"{prefix}{key}[{index}]", out, strict)
        else:
            _value(item, target, nullable, f"{prefix}{key}", out, strict)


def _is_open(chain: list[dict[str, Any]]) -> bool:
    return any(spec.get("open") for spec in chain)


def _property(chain: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    for spec in chain:
        prop = spec.get("properties", {}).get(key)
        if prop is not None:
            return dict(prop)
        nav = spec.get("navigation", {}).get(key)
        if nav is not None:
            return {"type": nav["type"], "collection": nav.get("collection", False),
                    "nullable": True}
    return None


def _enum(value: Any, type_name: str, spec: dict[str, Any], where: str, out: list[str]) -> None:
    members = spec["members"]
    names = value.split(",") if spec.get("flags") and isinstance(value, str) else [value]
    for name in names:
        if not isinstance(name, str) or name.strip() not in members:
            out.append(f"{where}: {value!r} is not a member of {type_name} "
                       f"({', '.join(members)})")
            return


def _edm(value: Any, type_name: str) -> str | None:
    """What is wrong with ``value`` as an ``Edm.*`` value, or None."""
    if type_name == "Edm.String":
        return None if isinstance(value, str) else f"expected a string, got {value!r}"
    if type_name == "Edm.Boolean":
        return None if isinstance(value, bool) else f"expected true/false, got {value!r}"
    if type_name in _INTS:
        limit = _INTS[type_name]
        if isinstance(value, bool) or not isinstance(value, int) or not -limit <= value < limit:
            return f"expected an {type_name} number, got {value!r}"
        return None
    if type_name in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        if isinstance(value, bool) or not (isinstance(value, int | float)
                                           or value in ("NaN", "INF", "-INF")):
            return f"expected a number, got {value!r}"
        return None
    if not isinstance(value, str):
        return f"expected a {type_name} string, got {value!r}"
    pattern = {"Edm.Binary": _BASE64, "Edm.DateTimeOffset": _DATETIME, "Edm.Date": _DATE,
               "Edm.TimeOfDay": _TIME, "Edm.Guid": _GUID}.get(type_name)
    if pattern is not None and not pattern.match(value):
        what = "standard base64 (+ / =)" if type_name == "Edm.Binary" else type_name
        return f"{value!r} is not {what}"
    return None
