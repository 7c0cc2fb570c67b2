"""msgraph-sdk (the official Graph SDK) with azure-identity, for cases B1-B5, written the way
Microsoft's "Microsoft Graph SDKs" pages show it for Python (the SDK is async):

* ``azure.identity.aio.ClientSecretCredential`` with ``TokenCachePersistenceOptions``
  (azure-identity's "persistent token caching"; unencrypted: no keyring on a server), so the
  next process reuses the token; ``GraphServiceClient(credential, scopes=[".default"])``.
* Lists: ``messages.get`` with ``select`` and ``top=1000`` in a ``RequestConfiguration``,
  then ``msgraph_core.tasks.PageIterator`` over the pages ("Page through a collection").
* Moves: ``move.to_post_request_information`` per message in a
  ``BatchRequestContentCollection`` posted with ``client.batch.post`` (the SDK splits it
  into ``$batch`` requests of 20: "Combine multiple requests in one HTTP request").
* Attachments: ``attachments.get()`` per message (``FileAttachment.content_bytes``), 4
  messages at a time with ``asyncio`` (Outlook's limit of 4 concurrent requests per mailbox;
  the SDK is async and leaves concurrency to the caller).
* Send: a draft (``messages.post``), ``attachments.create_upload_session.post``,
  ``msgraph_core.tasks.LargeFileUploadTask`` and ``send.post()`` ("Attach large files to
  Outlook messages"), 4 emails at a time.
* Two known SDK bugs have the workarounds from their threads (commented where used):
  absolute URLs in ``$batch`` (msgraph-sdk-python#1015) and the token sent to the upload
  URL (msgraph-sdk-python-core#691); a third, LargeFileUploadTask past one chunk, is
  worked around in ``send_one``. Real Graph refuses all three as the emulator does.

The SDK's httpx client and azure-identity's aiohttp read ``HTTPS_PROXY`` and
``SSL_CERT_FILE``.

Run: ``python bench/peers/msgraph_peer.py CONFIG.json`` (see ``_peer.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from _peer import FIELDS, emit, load, timed
from azure.identity import TokenCachePersistenceOptions
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.authentication import AnonymousAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.attachment_item import AttachmentItem
from msgraph.generated.models.attachment_type import AttachmentType
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.mail_folders.item.messages.messages_request_builder import (
    MessagesRequestBuilder,
)
from msgraph.generated.users.item.messages.item.attachments.create_upload_session import (
    create_upload_session_post_request_body as upload_body,
)
from msgraph.generated.users.item.messages.item.move.move_post_request_body import (
    MovePostRequestBody,
)
from msgraph_core.requests.batch_request_content_collection import (
    BatchRequestContentCollection,
)
from msgraph_core.requests.batch_request_item import BatchRequestItem
from msgraph_core.tasks.large_file_upload import LargeFileUploadTask
from msgraph_core.tasks.page_iterator import PageIterator

Query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters
# Outlook takes at most 4 MiB per PUT ("Attach large files to Outlook messages");
# LargeFileUploadTask's default chunk is 5 MiB (OneDrive's)
CHUNK = 4 * 1024 * 1024


def client(cfg: dict[str, Any]) -> tuple[GraphServiceClient, ClientSecretCredential]:
    cache = TokenCachePersistenceOptions(name="m365bot-bench", allow_unencrypted_storage=True)
    cred = ClientSecretCredential(cfg["tenant_id"], cfg["client_id"], cfg["client_secret"],
                                  cache_persistence_options=cache)
    return GraphServiceClient(cred, scopes=["https://graph.microsoft.com/.default"]), cred


async def all_messages(gc: GraphServiceClient, user: Any, folder: str, query: Query) -> list[Any]:
    first = await user.mail_folders.by_mail_folder_id(folder).messages.get(
        request_configuration=RequestConfiguration(query_parameters=query))
    got: list[Any] = []

    def keep(message: Any) -> bool:
        got.append(message)
        return True                       # go on

    await PageIterator(first, gc.request_adapter).iterate(keep)
    return got


async def send_one(gc: GraphServiceClient, user: Any, cfg: dict[str, Any], i: int,
                   uploads: GraphRequestAdapter) -> None:
    draft = await user.messages.post(Message(
        subject=f"bench {i}", body=ItemBody(content_type=BodyType.Text, content="x"),
        to_recipients=[Recipient(email_address=EmailAddress(address=cfg["to"]))]))
    path = Path(cfg["file"])
    item = AttachmentItem(attachment_type=AttachmentType.File, name=path.name,
                          size=path.stat().st_size)
    session = await user.messages.by_message_id(draft.id).attachments \
        .create_upload_session.post(upload_body.CreateUploadSessionPostRequestBody(
            attachment_item=item))
    size = path.stat().st_size
    if size <= CHUNK:
        with path.open("rb") as stream:
            await LargeFileUploadTask(session, uploads, stream, max_chunk_size=CHUNK).upload()
    else:
        # LargeFileUploadTask reads the next range from ``nextExpectedRanges``; Outlook's
        # upload host answers ``NextExpectedRanges`` (Outlook REST casing), so the task
        # resends the first range with the rest of the file and Outlook refuses it. Past
        # one chunk, the same PUTs through the SDK's request adapter, range by range.
        with path.open("rb") as stream:
            start = 0
            while start < size:
                data = stream.read(CHUNK)
                info = RequestInformation()
                info.url = session.upload_url
                info.http_method = Method.PUT
                info.headers = HeadersCollection()
                info.headers.try_add("Content-Range",
                                     f"bytes {start}-{start + len(data) - 1}/{size}")
                info.headers.try_add("Content-Type", "application/octet-stream")
                info.set_stream_content(data)
                await uploads.send_primitive_async(info, "bytes", {})
                start += len(data)
    await user.messages.by_message_id(draft.id).send.post()


async def run(cfg: dict[str, Any]) -> None:
    gc, cred = client(cfg)
    user = gc.users.by_user_id(cfg["mailbox"])
    case = cfg["case"]
    try:
        if case == "B1":
            got = await user.mail_folders.by_mail_folder_id(cfg["folder"]).messages.get(
                request_configuration=RequestConfiguration(query_parameters=Query(
                    top=cfg["n"], select=FIELDS, orderby=["receivedDateTime desc"])))
            emit(items=len(got.value))
            return
        await user.mail_folders.by_mail_folder_id("inbox").get()  # warm-up
        if case == "B2":
            with timed() as t:
                got = await all_messages(gc, user, cfg["folder"], Query(top=1000, select=FIELDS))
            emit(seconds=t.seconds, items=len(got))
        elif case == "B3":
            folders = (await user.mail_folders.get()).value
            ids = {f.display_name: f.id for f in folders}
            msgs = await all_messages(gc, user, ids[cfg["source"]], Query(top=1000,
                                                                          select=["id"]))
            with timed() as t:
                batch = BatchRequestContentCollection()
                for m in msgs:
                    info = user.messages.by_message_id(m.id).move.to_post_request_information(
                        MovePostRequestBody(destination_id=ids[cfg["dest"]]))
                    item = BatchRequestItem(request_information=info)
                    # msgraph-core 1.5.2 puts the absolute URL in the batch, which Graph
                    # refuses (400); the workaround of microsoftgraph/msgraph-sdk-python#1015
                    # makes it relative, as Graph's JSON batching page requires.
                    item.url = "/" + item.url.split("/v1.0/", 1)[1].lstrip("/")
                    batch.add_batch_request_item(item)
                answer = await gc.batch.post(batch_request_content=batch)
            moved = sum(1 for content in answer.get_responses()
                        for item in content.responses.values() if 200 <= item.status < 300)
            emit(seconds=t.seconds, items=moved)
        elif case == "B4":
            out = Path(cfg["out"])
            gate = asyncio.Semaphore(4)

            async def save(m: Any) -> int:
                async with gate:
                    atts = await user.messages.by_message_id(m.id).attachments.get()
                for a in atts.value:
                    (out / a.name).write_bytes(a.content_bytes)
                return len(atts.value)
            with timed() as t:
                msgs = await all_messages(gc, user, cfg["folder"], Query(
                    top=1000, select=["id", "subject", "hasAttachments"]))
                todo = [m for m in msgs if cfg["subject"] in m.subject and m.has_attachments]
                saved = sum(await asyncio.gather(*(save(m) for m in todo)))
            emit(seconds=t.seconds, items=saved)
        elif case == "B5":
            gate = asyncio.Semaphore(4)
            # LargeFileUploadTask sends the Graph token to the pre-authenticated upload URL,
            # which Outlook refuses (401, microsoftgraph/msgraph-sdk-python-core#691); the
            # workaround from that thread: a request adapter that adds no token.
            uploads = GraphRequestAdapter(AnonymousAuthenticationProvider())

            async def one(i: int) -> None:
                async with gate:
                    await send_one(gc, user, cfg, i, uploads)
            with timed() as t:
                await asyncio.gather(*(one(i) for i in range(cfg["n"])))
            emit(seconds=t.seconds, items=cfg["n"])
    finally:
        await cred.close()


if __name__ == "__main__":
    asyncio.run(run(cfg=load()))
