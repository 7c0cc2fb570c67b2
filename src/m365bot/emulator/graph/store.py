"""The mail store on :class:`~m365bot.emulator.state.Mailbox`: Outlook-looking ids, the
well-known folders, finding folders and messages, and rendering a message as Graph does.

Callers hold ``state.lock`` while they mutate. Ids look like Exchange REST ids
(``AAMkAG…``, base64 with ``-``/``_``); a value that cannot be such an id is
``ErrorInvalidIdMalformed`` (400), a well-formed unknown one ``ErrorItemNotFound`` (404).

Example::

    ensure_well_known_folders(box)
    inbox = find_folder(box, "inbox")
    msg = find_message(box, message_id)
    render(msg, select=("subject", "from"))
"""

from __future__ import annotations

import base64
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from m365bot.emulator.graph.errors import GraphHTTPError, id_malformed
from m365bot.emulator.graph.errors import item_not_found as item_not_found
from m365bot.emulator.state import Folder, Mailbox, Message, MessageMap, Tombstones

_ID_RE = re.compile(r"^[A-Za-z0-9+/=_-]{8,400}$")

# (well-known name, display name, parent well-known name or "" for the root, hidden)
WELL_KNOWN: tuple[tuple[str, str, str, bool], ...] = (
    ("msgfolderroot", "Top of Information Store", "", False),
    ("inbox", "Inbox", "msgfolderroot", False),
    ("drafts", "Drafts", "msgfolderroot", False),
    ("sentitems", "Sent Items", "msgfolderroot", False),
    ("deleteditems", "Deleted Items", "msgfolderroot", False),
    ("junkemail", "Junk Email", "msgfolderroot", False),
    ("outbox", "Outbox", "msgfolderroot", False),
    ("archive", "Archive", "msgfolderroot", False),
    ("conversationhistory", "Conversation History", "msgfolderroot", False),
    ("clutter", "Clutter", "msgfolderroot", True),
    ("scheduled", "Scheduled", "msgfolderroot", True),
    ("syncissues", "Sync Issues", "msgfolderroot", False),
    ("conflicts", "Conflicts", "syncissues", False),
    ("localfailures", "Local Failures", "syncissues", False),
    ("serverfailures", "Server Failures", "syncissues", False),
    ("searchfolders", "Finder", "", True),
    ("recoverableitemsdeletions", "Deletions", "", True),
    ("recoverableitemspurges", "Purges", "", True),
)
WELL_KNOWN_NAMES = frozenset(w[0] for w in WELL_KNOWN)


def iso(ts: float) -> str:
    """Graph's UTC timestamp format: ``2026-11-26T08:10:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").replace("+", "-").replace("/", "_")


def _new_id(box: Mailbox, kind: bytes) -> str:
    """An Exchange-style entry id: ``AAMkAG`` + the mailbox GUID + a random item key."""
    guid = (box.id or str(uuid.uuid4())).encode("ascii", "replace")[:36].ljust(36, b"0")
    raw = b"\x00\x03\x24\x00" + guid + b"\x00" + kind + b"\x00\x00\x00\x00\x00" + os.urandom(24)
    return _b64(raw + b"\x00\x00")


def new_message_id(box: Mailbox) -> str:
    return _new_id(box, b"F")


def new_folder_id(box: Mailbox) -> str:
    return _new_id(box, b".")


def new_immutable_id(box: Mailbox) -> str:
    raw = b"\x00\x09\x2e\x00" + (box.id or "").encode("ascii", "replace")[:36] + os.urandom(28)
    return _b64(raw)


def new_change_key() -> str:
    """An Exchange change key as Graph sends it: standard base64 of a 4-byte type (9), a
    4-byte length (22), a 16-byte GUID and a 6-byte change number, e.g.
    ``CQAAABYAAACBmGpda7ZqQJPfMOpiyn6aAAAERfnB`` (learn.microsoft.com/graph/api/message-get)."""
    return base64.b64encode(b"\x09\x00\x00\x00\x16\x00\x00\x00" + uuid.uuid4().bytes
                            + os.urandom(6)).decode("ascii")


def check_id(value: str) -> None:
    """400 ErrorInvalidIdMalformed unless ``value`` could be an Outlook id."""
    if not _ID_RE.match(value or ""):
        raise id_malformed()


# -- folders ----------------------------------------------------------------------------------


def ensure_well_known_folders(box: Mailbox) -> None:
    """Create the mailbox's standard folders once (idempotent; callers hold the lock)."""
    have = {f.well_known_name: f for f in box.folders.values() if f.well_known_name}
    for name, display, parent, hidden in WELL_KNOWN:
        if name in have:
            continue
        parent_id = have[parent].id if parent else ""
        folder = Folder(id=new_folder_id(box), display_name=display, parent_id=parent_id,
                        well_known_name=name, is_hidden=hidden)
        box.folders[folder.id] = folder
        have[name] = folder


def well_known(box: Mailbox, name: str) -> Folder:
    ensure_well_known_folders(box)
    for folder in box.folders.values():
        if folder.well_known_name == name:
            return folder
    raise item_not_found()  # pragma: no cover - ensure_well_known_folders made it


def find_folder(box: Mailbox, ref: str) -> Folder:
    """A folder by id or well-known name (case-insensitive), as Graph accepts anywhere."""
    name = (ref or "").lower()
    if name in WELL_KNOWN_NAMES:
        return well_known(box, name)
    check_id(ref)
    folder = box.folders.get(ref)
    if folder is None:
        raise item_not_found()
    return folder


def child_folders(box: Mailbox, parent_id: str, *, hidden: bool = False) -> list[Folder]:
    return [f for f in box.folders.values()
            if f.parent_id == parent_id and (hidden or not f.is_hidden)]


def subtree_ids(box: Mailbox, folder_id: str) -> set[str]:
    out = {folder_id}
    frontier = [folder_id]
    while frontier:
        pid = frontier.pop()
        for f in box.folders.values():
            if f.parent_id == pid and f.id not in out:
                out.add(f.id)
                frontier.append(f.id)
    return out


def render_folder(box: Mailbox, folder: Folder) -> dict[str, Any]:
    total = unread = 0
    for m in messages_in(box, (folder.id,)):
        total += 1
        if not m.props.get("isRead", False):
            unread += 1
    return {
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent_id or folder.id,
        "childFolderCount": sum(1 for f in box.folders.values() if f.parent_id == folder.id),
        "unreadItemCount": unread,
        "totalItemCount": total,
        "isHidden": folder.is_hidden,
    }


# -- messages ---------------------------------------------------------------------------------


def find_message(box: Mailbox, message_id: str) -> Message:
    """A message by REST id or immutable id: 400 malformed, 404 unknown."""
    check_id(message_id)
    msg = box.messages.get(message_id)
    if msg is not None:
        return msg
    if isinstance(box.messages, MessageMap):
        msg = box.messages.by_immutable_id(message_id)
        if msg is not None:
            return msg
        raise item_not_found()
    for m in box.messages.values():
        if m.immutable_id == message_id:
            return m
    raise item_not_found()


def messages_in(box: Mailbox, folder_ids: Iterable[str] | None) -> list[Message]:
    if folder_ids is None:
        return list(box.messages.values())
    wanted = set(folder_ids)
    if isinstance(box.messages, MessageMap):
        return [m for fid in wanted for m in box.messages.in_folder(fid)]
    return [m for m in box.messages.values() if m.folder_id in wanted]


def ordered(box: Mailbox, key: Any, make: Callable[[], list[Message]]) -> list[Message]:
    """``make()``, a listing's messages in order, kept by the mailbox until a message is
    added, removed or changed (:meth:`MessageMap.ordered`); do not change the list."""
    if isinstance(box.messages, MessageMap):
        return box.messages.ordered(key, make)
    return make()


def tombstones_since(box: Mailbox, seq: int) -> list[tuple[int, str, str]]:
    """The mailbox's tombstones after change number ``seq`` (see :class:`Tombstones`)."""
    tombs = box.deleted_ids
    if isinstance(tombs, Tombstones):
        return tombs.since(seq)
    return [t for t in tombs if t[0] > seq]


def touch(msg: Message, now: float, seq: int) -> None:
    """Record a change: new changeKey, lastModifiedDateTime, and delta sequence number."""
    msg.props["changeKey"] = new_change_key()
    msg.props["lastModifiedDateTime"] = iso(now)
    msg.seq = seq
    if msg.home is not None:  # its body or attachments may have changed: the mailbox's size
        msg.home.remeasure(msg.id)


_SELECT_ONLY = frozenset({"@odata.type", "uniqueBody", "internetMessageHeaders"})


# Outlook on the web of each cloud, for ``webLink`` (a tenant's cloud decides).
OWA_HOSTS = {"global": "outlook.office365.com", "usgovhigh": "outlook.office365.us",
             "dod": "outlook-dod.office365.us", "china": "partner.outlook.cn"}


def web_link(message_id: str, owa_host: str = OWA_HOSTS["global"]) -> str:
    """``webLink`` as Graph forms it: the item's EWS id (standard base64), percent-encoded."""
    from urllib.parse import quote

    ews_id = message_id.replace("-", "+").replace("_", "/")
    return (f"https://{owa_host}/owa/?ItemID={quote(ews_id, safe='')}"
            "&exvsurl=1&viewmodel=ReadMessageItem")


def render(msg: Message, select: tuple[str, ...] | None = None, *, immutable: bool = False,
           body_type: str | None = None, owa_host: str = OWA_HOSTS["global"]) -> dict[str, Any]:
    """The message as Graph returns it; ``select`` keeps only those properties (plus id/etag).

    ``body_type`` ("text"/"html") converts ``body`` as ``Prefer: outlook.body-content-type``;
    ``owa_host`` is the cloud's Outlook on the web host (:data:`OWA_HOSTS`) for ``webLink``.
    """
    props = msg.props
    out: dict[str, Any] = {}
    if "@odata.type" in props and props["@odata.type"] != "#microsoft.graph.message":
        out["@odata.type"] = props["@odata.type"]
    out["@odata.etag"] = f'W/"{props.get("changeKey", "")}"'
    out["id"] = msg.immutable_id if immutable else msg.id
    if select is None:
        for key, value in props.items():
            if key not in _SELECT_ONLY:
                out[key] = value
        out["parentFolderId"] = msg.folder_id
        if not out.get("webLink"):
            out["webLink"] = web_link(out["id"], owa_host)
    else:
        for key in select:
            if key == "parentFolderId":
                out[key] = msg.folder_id
            elif key == "webLink" and not props.get("webLink"):
                out[key] = web_link(out["id"], owa_host)
            elif key == "uniqueBody":
                out[key] = props.get("uniqueBody") or props.get("body")
            elif key in props:
                out[key] = props[key]
            elif key not in ("id",):
                out[key] = None
    if body_type and "body" in out and isinstance(out["body"], dict):
        out["body"] = convert_body(out["body"], body_type)
    return out


_COMPUTED = frozenset({"parentFolderId", "webLink", "uniqueBody"})


def render_page(msgs: Iterable[Message], select: tuple[str, ...] | None = None, *,
                immutable: bool = False, body_type: str | None = None,
                owa_host: str = OWA_HOSTS["global"]) -> list[dict[str, Any]]:
    """:func:`render` of each message (a listing's page). A ``$select`` of stored properties
    only (no computed one, no body to convert) takes a short path: a page of 1,000 is most
    of a listing's server time."""
    if select is None or not _COMPUTED.isdisjoint(select) or (body_type and "body" in select):
        return [render(m, select, immutable=immutable, body_type=body_type, owa_host=owa_host)
                for m in msgs]
    stored = [key for key in select if key != "id"]  # the id is always there
    out = []
    for msg in msgs:
        props = msg.props
        item: dict[str, Any] = {}
        kind = props.get("@odata.type")
        if kind is not None and kind != "#microsoft.graph.message":
            item["@odata.type"] = kind
        item["@odata.etag"] = f'W/"{props.get("changeKey", "")}"'
        item["id"] = msg.immutable_id if immutable else msg.id
        for key in stored:
            item[key] = props.get(key)
        out.append(item)
    return out


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")


def html_to_text(html: str) -> str:
    import html as html_mod

    # a closed block or table row ends its line; table cells are kept apart ("Total 42",
    # not "Total42")
    text = re.sub(r"(?i)<br\s*/?>|</(?:p|div|tr|li|table|h[1-6])\s*>", "\n", html)
    text = re.sub(r"(?i)</t[dh]\s*>", " ", text)
    text = re.sub(r"(?is)<(script|style|head)[^>]*>.*?</\1>", "", text)
    text = html_mod.unescape(_TAG.sub("", text))
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def text_to_html(text: str) -> str:
    import html as html_mod

    escaped = html_mod.escape(text).replace("\n", "<br>\r\n")
    return ('<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
            f"\r\n</head>\r\n<body>\r\n<div>{escaped}</div>\r\n</body>\r\n</html>\r\n")


def convert_body(body: dict[str, Any], target: str) -> dict[str, Any]:
    kind = str(body.get("contentType", "text")).lower()
    content = str(body.get("content", ""))
    if kind == target:
        return body
    if target == "text":
        return {"contentType": "text", "content": html_to_text(content)}
    return {"contentType": "html", "content": text_to_html(content)}


def preview(body: dict[str, Any]) -> str:
    content = str(body.get("content", ""))
    if str(body.get("contentType", "text")).lower() == "html":
        content = html_to_text(content)
    return _SPACE.sub(" ", content.replace("\r", "").replace("\n", " ")).strip()[:255]


def mailbox_size(box: Mailbox) -> int:
    """An estimate of the mailbox's size in bytes (bodies and attachments), kept as a running
    total: it costs the same whatever the mailbox holds."""
    return box.size


def quota_exceeded() -> GraphHTTPError:
    """403 ErrorQuotaExceeded, as Graph answers for a full mailbox (seen in
    microsoftgraph/microsoft-graph-docs-contrib#6596)."""
    return GraphHTTPError(403, "ErrorQuotaExceeded", "Mailbox has exceeded maximum mailbox size.")
