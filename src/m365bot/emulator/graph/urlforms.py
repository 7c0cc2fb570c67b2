"""The spellings of a Graph URL that Graph answers like the canonical one, rewritten to that
one before routing (by :class:`m365bot.emulator.graph.keys.KeySegments`, so ``$batch`` items
get the same treatment). Sources for each rule are in ``docs/emulator-mail.md``.

Path:

* an empty segment right after the version (``/v1.0//users/…``, what an SDK whose base URL
  ends in a slash sends) is dropped, except before ``$batch``: ``/v1.0//$batch`` stays
  Graph's 400 "Resource not found for the segment '$batch'.";
* a trailing slash is dropped (``…/messages/`` is ``…/messages``);
* segment names match in any case (``MailFolders``, ``mailfolders``, ``CHILDFOLDERS``): each
  literal segment of a mounted route is written as the route writes it. Ids, UPNs and
  well-known folder names are left alone (the handlers match those).

Query string (system query options):

* ``$Select`` is ``$select``: option names match in any case;
* on Outlook resources (``/me/…`` and ``/users/{id}/…``) the ``$`` may be left out
  (``select=subject``); not on ``/users/{id}`` itself, a directory resource;
* an option given twice (``$top=1&$top=2``, or ``$select`` and ``select``) is OData's 400
  "Query option '$top/top' was specified more than once, but it must be specified at most
  once." (:class:`RepeatedOption`).

Example::

    >>> canonical_path("/v1.0//Users/a@b.com/MailFolders/Inbox/messages/", {"users": "users",
    ...                "mailfolders": "mailFolders", "messages": "messages"})
    '/v1.0/users/a@b.com/mailFolders/Inbox/messages'
    >>> canonical_query("/v1.0/me/messages", b"select=subject&$TOP=2")
    b'$select=subject&$top=2'
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping

SYSTEM_OPTIONS = frozenset({"select", "filter", "search", "orderby", "top", "skip", "count",
                            "expand", "skiptoken", "deltatoken", "format"})
_VERSIONS = ("/v1.0/", "/beta/")
# /me/<something> or /users/<id>/<something>: Outlook resources, where "$" is optional.
_OUTLOOK = re.compile(r"^/(?:v1\.0|beta)/(?:me|users/[^/]+)/.")
_PARAM = re.compile(r"^\{[^}]*\}$")


class RepeatedOption(ValueError):
    """A system query option appears more than once; ``str(exc)`` is Graph's message."""


def vocabulary(paths: Iterable[str]) -> dict[str, str]:
    """Lower-case → canonical spelling of every literal segment of the route ``paths``.

    Example: ``vocabulary(["/v1.0/me/mailFolders/{folder}"])`` →
    ``{"v1.0": "v1.0", "me": "me", "mailfolders": "mailFolders"}``.
    """
    out: dict[str, str] = {}
    for path in paths:
        for segment in path.split("/"):
            if segment and not _PARAM.match(segment):
                out.setdefault(segment.lower(), segment)
    return out


def canonical_path(path: str, names: Mapping[str, str]) -> str:
    """``path`` with the path rules of the module docs applied (Graph paths only)."""
    if not path.startswith(_VERSIONS):
        return path
    version, _, rest = path[1:].partition("/")
    segments = rest.split("/")
    while len(segments) > 1 and segments[0] == "" and segments[1].lower() != "$batch":
        segments.pop(0)
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()
    fixed = [names.get(s.lower(), s) if s else s for s in segments]
    return f"/{version}/" + "/".join(fixed)


def canonical_query(path: str, query: bytes) -> bytes:
    """``query`` with the query-option rules of the module docs applied; raises
    :class:`RepeatedOption` for an option given twice."""
    if not query:
        return query
    bare_allowed = bool(_OUTLOOK.match(path))
    parts = query.split(b"&")
    seen: set[str] = set()
    out: list[bytes] = []
    for part in parts:
        raw_name, eq, value = part.partition(b"=")
        name = urllib.parse.unquote_plus(raw_name.decode("latin-1"))
        word = name[1:] if name.startswith("$") else name
        is_option = word.lower() in SYSTEM_OPTIONS and (name.startswith("$") or bare_allowed)
        if not is_option:
            out.append(part)
            continue
        canonical = "$" + word.lower()
        if canonical in seen:
            shown = f"{canonical}/{word.lower()}" if bare_allowed else name
            raise RepeatedOption(f"Query option '{shown}' was specified more than once, but "
                                 "it must be specified at most once.")
        seen.add(canonical)
        out.append(canonical.encode() + eq + value)
    return b"&".join(out)


def unresolved_segment(path: str, templates: Iterable[str]) -> str:
    """The segment Graph names in "Resource not found for the segment '…'": the first one no
    route resolves (empty segments skipped), else the last.

    Example: ``unresolved_segment("/v1.0/me/bogus/messages", ["/v1.0/me/messages"])`` →
    ``"bogus"``.
    """
    segments = path.strip("/").split("/")
    resolved = 0
    for template in templates:
        count = 0
        for got, want in zip(segments, template.strip("/").split("/"), strict=False):
            if want.endswith(":path}"):
                count = len(segments)
                break
            if got != want and not (got and _PARAM.match(want)):
                break
            count += 1
        resolved = max(resolved, count)
    rest = [s for s in segments[resolved:] if s]
    return rest[0] if rest else segments[-1]
