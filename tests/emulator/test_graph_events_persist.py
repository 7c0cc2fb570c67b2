"""Events, meeting copies and uploaded attachments survive an emulator restart with --state."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from graphx_support import ALICE, BOB, GX, app_token, proxied_client

from m365bot.emulator.runtime import Emulator

MB = 1024 * 1024


def test_calendar_and_uploads_survive_a_restart(emulator_data_dir: Path, tmp_path: Path
                                                ) -> None:
    state = tmp_path / "state"
    data = os.urandom(3 * MB)
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir, state_dir=state) as first, \
            proxied_client(first.info) as client:
        gx = GX(client=client, token=app_token(client, first.info), info=first.info)
        ev = gx.post(f"/users/{ALICE}/events", json={
            "subject": "persisted", "attendees": [{"emailAddress": {"address": BOB}}],
            "start": {"dateTime": "2027-02-01T09:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2027-02-01T10:00:00", "timeZone": "W. Europe Standard Time"},
            "recurrence": {"pattern": {"type": "daily", "interval": 1},
                           "range": {"type": "numbered", "startDate": "2027-02-01",
                                     "numberOfOccurrences": 3}}}).json()
        draft = gx.post(f"/users/{ALICE}/messages", json={"subject": "with upload"}).json()
        s = gx.post(f"/users/{ALICE}/messages/{draft['id']}/attachments/createUploadSession",
                    json={"AttachmentItem": {"name": "p.bin", "size": len(data)}}).json()
        put = client.put(s["uploadUrl"], content=data,
                         headers={"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"})
        assert put.status_code == 201
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir, state_dir=state) as second, \
            proxied_client(second.info) as client:
        gx = GX(client=client, token=app_token(client, second.info), info=second.info)
        view = gx.get(f"/users/{ALICE}/calendarView", params={
            "startDateTime": "2027-02-01T00:00:00Z", "endDateTime": "2027-02-05T00:00:00Z",
            "$filter": "subject eq 'persisted'"}).json()["value"]
        assert [o["start"]["dateTime"] for o in view] == [
            f"2027-02-0{d}T08:00:00.0000000" for d in (1, 2, 3)]
        assert {o["seriesMasterId"] for o in view} == {ev["id"]}
        copies = gx.get(f"/users/{BOB}/events",
                        params={"$filter": "subject eq 'persisted'"}).json()["value"]
        assert len(copies) == 1
        atts = gx.get(f"/users/{ALICE}/messages/{draft['id']}/attachments").json()["value"]
        raw = gx.get(f"/users/{ALICE}/messages/{draft['id']}/attachments/{atts[0]['id']}"
                     "/$value").content
        assert hashlib.sha256(raw).digest() == hashlib.sha256(data).digest()
