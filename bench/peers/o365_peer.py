"""python-o365 (PyPI ``O365``) for cases B1-B5, written the way its README and docs show:

* ``Account(credentials, auth_flow_type="credentials", tenant_id=...)`` with its default
  ``FileSystemTokenBackend`` (the token file is reused by the next process);
  ``account.is_authenticated`` loads it, ``account.authenticate()`` gets a new one.
* ``mailbox.archive_folder()`` / ``get_folder(folder_name=...)``; ``get_messages`` with
  ``batch=999`` (O365's largest page: "Over 999 uses batch", docs "Pagination") and a
  ``select`` query for the fields.
* Moves: ``message.move(folder)``, one request per message (O365 has no ``$batch``).
* Attachments: ``message.attachments.download_attachments()`` then ``attachment.save()``
  (docs "Attachments").
* Send: ``new_message``, ``save_draft()``, ``attachments.add(path)``, ``save_draft()``,
  ``send()``. O365 uploads a file over 3 MB (``UPLOAD_SIZE_LIMIT_SIMPLE``) to an existing
  draft with an upload session; a new message's first save carries its attachments inline,
  which Graph refuses over 4 MB (413), so the draft is saved once before the file is added.
  O365 has no concurrency of its own.

One public setting is changed: ``requests_delay=0``. O365 waits 200 ms between two requests
by default, "just in case more than 1 connection is making requests across multiple
processes" (its docstring), to stay under Outlook's limits. Here one process makes the
requests, one at a time, and the emulator enforces Outlook's limits (O365's retry adapter
honours ``Retry-After``): the default would add 200 ms per request, which is O365's caution,
not its cost. This makes O365 faster than its default.

O365 uses requests (and msal), which read ``HTTPS_PROXY`` and ``REQUESTS_CA_BUNDLE``.

Run: ``python bench/peers/o365_peer.py CONFIG.json`` (see ``_peer.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _peer import FIELDS, emit, load, timed
from O365 import Account, FileSystemTokenBackend


def account(cfg: dict[str, Any]) -> Any:
    backend = FileSystemTokenBackend(token_path=cfg["home"], token_filename="o365_token.txt")
    acct = Account((cfg["client_id"], cfg["client_secret"]), auth_flow_type="credentials",
                   tenant_id=cfg["tenant_id"], token_backend=backend, requests_delay=0)
    if not acct.is_authenticated:
        acct.authenticate()
    return acct


def main() -> None:
    cfg = load()
    mailbox = account(cfg).mailbox(resource=cfg["mailbox"])
    case = cfg["case"]
    if case == "B1":
        folder = mailbox.archive_folder()
        got = list(folder.get_messages(limit=cfg["n"], query=mailbox.new_query().select(
            *FIELDS), order_by="receivedDateTime desc"))
        emit(items=len(got))
        return
    list(mailbox.inbox_folder().get_messages(limit=1))  # warm-up
    if case == "B2":
        folder = mailbox.archive_folder()
        with timed() as t:
            n = sum(1 for _ in folder.get_messages(limit=None, batch=999,
                                                   query=mailbox.new_query().select(*FIELDS)))
        emit(seconds=t.seconds, items=n)
    elif case == "B3":
        src = mailbox.get_folder(folder_name=cfg["source"])
        dst = mailbox.get_folder(folder_name=cfg["dest"])
        messages = list(src.get_messages(limit=None, batch=999,
                                         query=mailbox.new_query().select("subject")))
        with timed() as t:
            moved = sum(1 for m in messages if m.move(dst))
        emit(seconds=t.seconds, items=moved)
    elif case == "B4":
        out = Path(cfg["out"])
        folder = mailbox.inbox_folder()
        with timed() as t:
            saved = 0
            for m in folder.get_messages(limit=None, batch=999):
                if cfg["subject"] not in m.subject or not m.has_attachments:
                    continue
                m.attachments.download_attachments()
                saved += sum(1 for a in m.attachments if a.save(out))
        emit(seconds=t.seconds, items=saved)
    elif case == "B5":
        with timed() as t:
            sent = 0
            for i in range(cfg["n"]):
                m = mailbox.new_message()
                m.to.add(cfg["to"])
                m.subject = f"bench {i}"
                m.body = "x"
                m.save_draft()                    # a draft first: then O365 uploads the
                m.attachments.add(cfg["file"])    # file with an upload session
                m.save_draft()
                sent += bool(m.send())
        emit(seconds=t.seconds, items=sent)


if __name__ == "__main__":
    main()
