"""The emulator's world: tenants, app registrations, users, mailboxes and their items.

Plain dataclasses, no I/O. ``scenario.py`` builds a :class:`State` from a scenario file;
``persist.py`` saves and loads it as JSON under ``--state DIR``. Every field must stay
JSON-serialisable through :func:`dataclasses.asdict` (bytes are kept base64 in ``props``).

Items (messages, events, attachments) keep their Graph properties in ``props`` in
Graph's own camelCase shape, so that serialising a page with ``$select`` is a dict copy.

Ownership of the code that mutates these: ``entra/`` (tenants, apps, users, grants,
codes, refresh tokens), ``graph/`` (mailboxes, folders, messages, attachments, events).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from m365bot.emulator.hosts import Cloud


@dataclass
class AppSecret:
    """A client secret. ``id`` is the secret's ID (not usable as a secret: AADSTS7000215)."""

    id: str
    value: str
    expires: float  # epoch seconds; past it: AADSTS7000222
    display_name: str = ""


@dataclass
class AppCertificate:
    """A certificate credential; the public part only. Thumbprints are base64url."""

    x5t: str  # SHA-1 thumbprint, base64url
    x5t_s256: str  # SHA-256 thumbprint, base64url
    public_pem: str
    expires: float
    cert_file: str = ""  # PEM cert+key written for the harness (info file), if generated
    pfx_file: str = ""


@dataclass
class App:
    """An app registration with its service principal in its home tenant."""

    client_id: str
    tenant_id: str
    display_name: str
    secrets: list[AppSecret] = field(default_factory=list)
    certificates: list[AppCertificate] = field(default_factory=list)
    redirect_uris: list[str] = field(default_factory=list)
    public_client: bool = False
    # Application permissions (roles) with admin consent, e.g. ["Mail.ReadWrite", "Mail.Send"].
    application_permissions: list[str] = field(default_factory=list)
    # Delegated permissions -> consent: "admin" for tenant-wide, else the UPNs that consented.
    delegated_permissions: dict[str, Any] = field(default_factory=dict)
    # Application access policy: None = every mailbox; else the only addresses it may reach.
    access_policy: list[str] | None = None
    service_principal_id: str = ""


@dataclass
class User:
    id: str  # object id (GUID)
    tenant_id: str
    upn: str
    password: str
    display_name: str
    mail: str = ""
    enabled: bool = True


@dataclass
class Grant:
    """A mailbox permission held by a user: FullAccess, SendAs or SendOnBehalf."""

    user_id: str
    rights: list[str]


@dataclass
class Folder:
    id: str
    display_name: str
    parent_id: str  # "" for msgfolderroot
    well_known_name: str = ""
    is_hidden: bool = False


@dataclass
class Attachment:
    id: str
    props: dict[str, Any]  # Graph shape incl. @odata.type, name, contentType, size, contentBytes


@dataclass
class Message:
    id: str  # current REST id (changes on move unless ImmutableId was asked)
    immutable_id: str
    folder_id: str
    props: dict[str, Any]  # Graph message shape without id/parentFolderId
    attachments: list[Attachment] = field(default_factory=list)
    mime: str = ""  # base64 of the original MIME when created from MIME
    seq: int = 0  # change sequence number, for delta
    entered_seq: int = 0  # change number at which it came into its folder (delta tombstones)
    # The MessageMap holding it (not saved, not compared): keeps its mailbox's size total.
    home: Any = field(default=None, repr=False, compare=False)


def message_size(msg: Message) -> int:
    """An estimate of a message's size in bytes: its body, its attachments, 512 for the rest."""
    body = msg.props.get("body")
    content = body.get("content", "") if isinstance(body, dict) else ""
    return len(str(content)) + 512 + sum(int(a.props.get("size") or 0) for a in msg.attachments)


_ORDERS_KEPT = 16  # listing orders a mailbox keeps at most (folders x $orderby)


class MessageMap(dict[str, Message]):
    """``Mailbox.messages``: a dict that keeps the running total of its messages' sizes, so
    that a quota check costs the same in an empty mailbox and in a full one, and indexes its
    messages by folder and by immutable id. A message's ``folder_id`` only changes while it
    is out of the map (a move takes it out and puts it back).

    Adding, replacing and removing keep :attr:`total` right; a message changed in place is
    measured again by :meth:`remeasure` (``graph.store.touch`` calls it on every change).

    It also keeps the listing orders :meth:`ordered` has built (a folder's messages sorted
    newest first, say) until the next change of any message of the mailbox, so that the 10
    pages of a 10,000-message listing sort the folder once, not once per page."""

    def __init__(self, items: dict[str, Message] | None = None) -> None:
        super().__init__()
        self.total = 0
        self._sizes: dict[str, int] = {}
        self._folder_of: dict[str, str] = {}
        self._by_folder: dict[str, dict[str, Message]] = {}
        self._immutable: dict[str, str] = {}
        self.last_removed: Message | None = None
        self._orders: dict[Any, list[Message]] = {}
        for key, msg in (items or {}).items():
            self.restore(key, msg)

    def restore(self, key: str, msg: Message) -> None:
        """Put back a saved message (its ``entered_seq`` kept)."""
        entered = msg.entered_seq or msg.seq
        self[key] = msg
        msg.entered_seq = entered

    def __setitem__(self, key: str, msg: Message) -> None:
        """Add a message: it has just come into its folder (made, copied or moved)."""
        self._forget(key)
        super().__setitem__(key, msg)
        size = message_size(msg)
        self._sizes[key] = size
        self.total += size
        self._folder_of[key] = msg.folder_id
        self._by_folder.setdefault(msg.folder_id, {})[key] = msg
        self._immutable[msg.immutable_id] = key
        msg.home = self
        msg.entered_seq = msg.seq

    def __delitem__(self, key: str) -> None:
        self.last_removed = self[key]
        self._forget(key)
        super().__delitem__(key)

    def _forget(self, key: str) -> None:
        self._orders.clear()
        self.total -= self._sizes.pop(key, 0)
        old = self.get(key)
        if old is not None:
            self._by_folder.get(self._folder_of.pop(key, old.folder_id), {}).pop(key, None)
            if self._immutable.get(old.immutable_id) == key:
                del self._immutable[old.immutable_id]

    def in_folder(self, folder_id: str) -> list[Message]:
        """The messages of one folder, without a walk over the others."""
        return list(self._by_folder.get(folder_id, {}).values())

    def ordered(self, key: Any, make: Callable[[], list[Message]]) -> list[Message]:
        """The list ``make()`` builds (messages in a listing's order; ``key`` names which
        folders and which order), built again only after a message was added, removed or
        changed. Callers must not change the list they get."""
        found = self._orders.get(key)
        if found is None:
            if len(self._orders) >= _ORDERS_KEPT:
                self._orders.clear()
            found = self._orders[key] = make()
        return found

    def by_immutable_id(self, immutable_id: str) -> Message | None:
        key = self._immutable.get(immutable_id)
        return None if key is None else self.get(key)

    def entered_seq(self, key: str) -> int:
        """When the message ``key`` (present, or the one removed last) came into its folder;
        0 when unknown."""
        msg = self.get(key)
        if msg is None and self.last_removed is not None and self.last_removed.id == key:
            msg = self.last_removed
        return msg.entered_seq if msg is not None else 0

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self:
            return default[0] if default else super().pop(key)
        msg = self[key]
        del self[key]
        return msg

    def popitem(self) -> tuple[str, Message]:
        key = next(reversed(self))
        return key, self.pop(key)

    def clear(self) -> None:
        super().clear()
        for index in (self._sizes, self._folder_of, self._by_folder, self._immutable,
                      self._orders):
            index.clear()
        self.total = 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, msg in dict(*args, **kwargs).items():
            self[key] = msg

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def remeasure(self, key: str) -> None:
        """Measure a message again after it was changed in place."""
        msg = self.get(key)
        if msg is not None:
            self._orders.clear()  # a sort key (isRead, subject...) may have changed
            self.total -= self._sizes.get(key, 0)
            self._sizes[key] = message_size(msg)
            self.total += self._sizes[key]


class Tombstones(list[tuple[int, str, str]]):
    """``Mailbox.deleted_ids``: (change number, folder id, "rest-id immutable-id") of each
    message that left a folder, in change-number order, for delta's ``@removed``.

    A tombstone is kept only when a delta token of that folder may still need it: one issued
    (``Mailbox.delta_marks``) after the message came into the folder and before it left.
    A client whose token is older never saw the message; a newer one saw it gone. So a
    message moved 20,000 times between polls leaves no tombstones behind, and memory stays
    bounded by what clients may still ask."""

    def __init__(self, items: Any = (), box: Mailbox | None = None) -> None:
        super().__init__(tuple(x) for x in items)
        self.box = box

    def append(self, item: tuple[int, str, str]) -> None:
        seq, folder, ref = item
        box = self.box
        if box is not None:
            marks = box.delta_marks.get(folder, [])
            rest_id = ref.partition(" ")[0]
            entered = box.messages.entered_seq(rest_id) if isinstance(
                box.messages, MessageMap) else 0
            i = bisect.bisect_left(marks, entered)
            if i >= len(marks) or marks[i] >= seq:
                return  # no token of this folder saw the message: nobody needs to hear
        super().append(item)

    def since(self, seq: int) -> list[tuple[int, str, str]]:
        """The tombstones after change number ``seq`` (a bisection, not a walk)."""
        return self[bisect.bisect_right(self, (seq, "\uffff", "\uffff")):]


@dataclass
class Event:
    id: str
    props: dict[str, Any]
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class Mailbox:
    """A user's or a shared mailbox."""

    id: str  # object id of the mailbox's user object
    tenant_id: str
    address: str
    display_name: str
    kind: str = "user"  # "user" | "shared"
    enabled_for_rest: bool = True  # False: MailboxNotEnabledForRESTAPI
    quota_bytes: int = 50 * 1024 * 1024 * 1024
    grants: list[Grant] = field(default_factory=list)
    folders: dict[str, Folder] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)
    deleted_ids: list[tuple[int, str, str]] = field(default_factory=list)  # see Tombstones
    # folder id -> the change numbers its delta tokens were issued at (ascending)
    delta_marks: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.messages, MessageMap):
            self.messages = MessageMap(self.messages)
        if not isinstance(self.deleted_ids, Tombstones):
            self.deleted_ids = Tombstones(self.deleted_ids, self)

    def mark_delta_token(self, folder_id: str, seq: int) -> None:
        """Note that a delta token of ``folder_id`` was issued at change number ``seq``."""
        marks = self.delta_marks.setdefault(folder_id, [])
        i = bisect.bisect_left(marks, seq)
        if i == len(marks) or marks[i] != seq:
            marks.insert(i, seq)  # at the end, but for a paged round that began earlier

    @property
    def size(self) -> int:
        """The mailbox's size estimate in bytes (a running total: no walk over messages)."""
        messages = self.messages
        if isinstance(messages, MessageMap):
            return messages.total
        return sum(message_size(m) for m in messages.values())


@dataclass
class Tenant:
    id: str
    cloud: Cloud
    domain: str  # e.g. contoso.onmicrosoft.com
    display_name: str
    extra_domains: list[str] = field(default_factory=list)


@dataclass
class State:
    """Everything the emulator knows. Guard mutations with :attr:`lock`."""

    tenants: dict[str, Tenant] = field(default_factory=dict)
    apps: dict[str, App] = field(default_factory=dict)  # by client_id
    users: dict[str, User] = field(default_factory=dict)  # by object id
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)  # by lower-case address
    outbound: list[dict[str, Any]] = field(default_factory=list)  # mail to outside recipients
    # Identity runtime (entra/): issued codes and refresh tokens, by opaque value's hash.
    auth_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    user_consents: dict[str, list[str]] = field(default_factory=dict)  # "client|user" -> scopes
    seq: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # Lookups shared by entra/ and graph/.
    def tenant(self, id_or_domain: str) -> Tenant | None:
        key = id_or_domain.lower()
        if key in self.tenants:
            return self.tenants[key]
        for t in self.tenants.values():
            if key == t.domain.lower() or key in (d.lower() for d in t.extra_domains):
                return t
        return None

    def user_by_upn(self, upn: str) -> User | None:
        key = upn.lower()
        for u in self.users.values():
            if u.upn.lower() == key or (u.mail and u.mail.lower() == key):
                return u
        return None

    def mailbox(self, id_or_address: str) -> Mailbox | None:
        key = id_or_address.lower()
        box = self.mailboxes.get(key)
        if box is not None:
            return box
        for b in self.mailboxes.values():
            if b.id.lower() == key:
                return b
        user = self.user_by_upn(key)
        if user is not None:
            for b in self.mailboxes.values():
                if b.id == user.id:
                    return b
        return None
