"""Plans: one generator run by the sync and the async shell, with the engine's options passed
through and Graph's errors thrown into the plan where it can handle them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from m365bot.errors import GraphError, NotFoundError
from m365bot.outlook.plans import Call, Plan, arun, run
from m365bot.sessions import Session


def _first_id(box: str, **options: Any) -> Plan[tuple[str, str]]:
    answer = yield Call("GET", f"/users/{box}/mailFolders/inbox/messages",
                        params={"$top": 1, "$select": "id,parentFolderId"}, **options)
    first = answer.body["value"][0]
    return first["id"], answer.headers.get("preference-applied", "")


def _absent_or_subject(box: str, mid: str) -> Plan[str]:
    try:
        answer = yield Call("GET", f"/users/{box}/messages/{mid}",
                            params={"$select": "subject"})
    except NotFoundError as exc:
        return f"absent ({exc.code})"
    return str(answer.body["subject"])


def test_options_reach_graph_in_both_shells(ops: Session) -> None:
    rest_id, applied = run(ops, _first_id(ops.mailbox))
    assert applied == ""
    immutable, applied = run(ops, _first_id(ops.mailbox, immutable_ids=True))
    assert immutable != rest_id and "ImmutableId" in applied
    again, _ = asyncio.run(arun(ops, _first_id(ops.mailbox, immutable_ids=True)))
    assert again == immutable


def test_errors_are_thrown_into_the_plan(ops: Session) -> None:
    rest_id, _ = run(ops, _first_id(ops.mailbox))
    assert run(ops, _absent_or_subject(ops.mailbox, rest_id)) == "Server maintenance tonight"
    gone = "AAMkAG" + "x" * 100
    assert run(ops, _absent_or_subject(ops.mailbox, gone)) == "absent (ErrorItemNotFound)"
    assert asyncio.run(arun(ops, _absent_or_subject(ops.mailbox, gone))).startswith("absent")
    with pytest.raises(GraphError) as info:  # a plan that does not catch: the caller gets it
        run(ops, _absent_or_subject(ops.mailbox, "not an id!"))
    assert info.value.code == "ErrorInvalidIdMalformed"
