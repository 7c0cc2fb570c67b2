"""Connect's mailbox check, remembered per cached token.

Connect asks Graph for the mailbox's Inbox id, so that a mailbox the identity cannot reach
fails at Connect, with advice. A bot process that connects with a cached token would ask the
same question with the same token every time: one Graph round trip that no action needs.
So a check that passed is recorded next to the token cache, in the same blob store (the
Credential Vault, encrypted): the token's SHA-256 fingerprint, the cache key (cloud, tenant,
app, user) and the mailboxes it passed for. Nothing secret: a fingerprint cannot be turned
back into the token. A new token (refreshed, or after consent changed) is checked again.

When the check is skipped, the session's first 403 or 404 runs it after all: a mailbox that
went away since (deleted, outside an access policy now, no longer enabled for Graph) fails
on the first real request with the very error Connect would have raised, and its record is
dropped so the next Connect checks again. Any other first error is raised as it came.

Example::

    check = MailboxCheck(store, cache_key, box, token, identity=..., app_only=True)
    if check.remembered():
        client.recheck = check.after_error      # the engines call it on a 403/404
    else:
        check.run(client)                      # raises the clear error, records a pass
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import TYPE_CHECKING

from m365bot.errors import GraphError, M365BotError
from m365bot.protocols import BlobStore

if TYPE_CHECKING:
    from m365bot.auth.tokens import AccessToken
    from m365bot.graph.client import Graph

log = logging.getLogger(__name__)

CHECK_KIND = "connect_check"  # blob kind, beside the token cache's "token_cache"
MAX_MAILBOXES = 500  # mailboxes remembered per token (a bot may walk many with one app token)


class MailboxCheck:
    """Connect's mailbox check for one session: run it, remember a pass, or, when it passed
    for this token before, run it only if the session's first request fails with 403/404.

    Example::

        check = MailboxCheck(vault, "global|tid|cid|app", "ops@contoso.com", tok,
                             identity="m365bot-demo", app_only=True)
        check.remembered()    # True when this token already passed for this mailbox
    """

    def __init__(self, store: BlobStore | None, key: str, mailbox: str, token: AccessToken,
                 *, identity: str, app_only: bool) -> None:
        self.store = store if key else None  # no key: nothing to remember it by
        self.key = key
        self.mailbox = mailbox
        self.fingerprint = hashlib.sha256(token.token.reveal().encode()).hexdigest()
        self.identity, self.app_only = identity, app_only
        self._client: Graph | None = None
        self._pending = False
        self._lock = threading.Lock()

    # -- the record ---------------------------------------------------------------------------
    def _read(self) -> list[str]:
        """The mailboxes this token passed for (none if the record is another token's)."""
        raw = self.store.get_blob(CHECK_KIND, self.key) if self.store is not None else None
        try:
            data = json.loads(raw) if raw else {}
            if data.get("token") == self.fingerprint:
                return [str(m) for m in data.get("mailboxes", [])]
        except (ValueError, AttributeError):
            pass  # unreadable: check again, and write a good one
        return []

    def _write(self, mailboxes: list[str]) -> None:
        if self.store is not None:
            data = {"token": self.fingerprint, "mailboxes": mailboxes[-MAX_MAILBOXES:]}
            self.store.put_blob(CHECK_KIND, self.key, json.dumps(data).encode())

    def remembered(self) -> bool:
        """True when the check already passed for this token and mailbox."""
        return self.mailbox.lower() in self._read()

    # -- the check ----------------------------------------------------------------------------
    def run(self, client: Graph) -> None:
        """Ask Graph for the mailbox's Inbox; raise the clear error Connect gives for a
        mailbox out of reach (any other error as it came), and remember a pass."""
        err = self._ask(client)
        if err is not None:
            raise err from None

    def _ask(self, client: Graph) -> GraphError | None:
        """The check: None when it passed (recorded), else Connect's clear error (record
        dropped). An error that is not about the mailbox propagates."""
        from m365bot.graph.core import mailbox_path

        try:
            client.get(mailbox_path(self.mailbox) + "/mailFolders/inbox",
                       params={"$select": "id"})
        except GraphError as exc:
            mapped = mailbox_error(exc, self.mailbox, self.identity, self.app_only)
            if mapped is None:
                raise
            self.forget()
            return mapped
        seen = self._read()
        if self.mailbox.lower() not in seen:
            self._write([*seen, self.mailbox.lower()])
        return None

    def defer(self, client: Graph) -> None:
        """Skip the check for now: ``client`` (and the session's async engine) run it on the
        first 403/404 (see :meth:`after_error`)."""
        self._client = client
        self._pending = True
        client.recheck = self.after_error

    def after_error(self, exc: GraphError) -> M365BotError:
        """The error to raise for a session's 403/404: the first time, the skipped check runs,
        and if the mailbox is out of reach now, its clear error replaces ``exc``."""
        with self._lock:
            pending, self._pending = self._pending, False
        if not pending or self._client is None:
            return exc
        log.info("Graph answered %s; running Connect's mailbox check that was skipped",
                 exc.status)
        try:
            return self._ask(self._client) or exc
        except M365BotError:  # the check itself got no answer: the original error stands
            return exc

    def forget(self) -> None:
        """Drop the record: the next Connect with this token checks again."""
        seen = self._read()
        if self.mailbox.lower() in seen:
            self._write([m for m in seen if m != self.mailbox.lower()])


def mailbox_error(exc: GraphError, box: str, identity: str, app_only: bool) -> GraphError | None:
    """Connect's clear error for a mailbox out of reach, or None if ``exc`` is not about the
    mailbox (then it is raised as it is)."""
    who = f"the app {identity}" if app_only else f"user {identity}"
    if exc.code == "ErrorAccessDenied" or exc.status == 403:
        advice = ("an application access policy may exclude this mailbox: have an Exchange "
                  "administrator add it to the policy's group (New-ApplicationAccessPolicy / "
                  "Test-ApplicationAccessPolicy)" if app_only else
                  "have an Exchange administrator give the user FullAccess to the mailbox, "
                  "and consent to Mail.ReadWrite.Shared")
        cause = f"{who} cannot open mailbox {box} ({exc.code})"
    elif exc.code == "MailboxNotEnabledForRESTAPI":
        cause = f"mailbox {box} is not enabled for Graph (MailboxNotEnabledForRESTAPI)"
        advice = ("use an Exchange Online mailbox: this one is on-premises, inactive, "
                  "soft-deleted or unlicensed")
    elif exc.status == 404 or exc.code in ("ErrorInvalidUser", "ResourceNotFound"):
        cause = f"there is no mailbox {box} in this tenant ({exc.code})"
        advice = "check the username (for a shared mailbox, its email address)"
    else:
        return None
    return GraphError(cause, code=exc.code, status=exc.status, request_id=exc.request_id,
                      advice=advice)


__all__ = ["CHECK_KIND", "MailboxCheck", "mailbox_error"]
