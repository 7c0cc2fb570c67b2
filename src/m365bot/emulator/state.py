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

import threading
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
    deleted_ids: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, folder, id)


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
