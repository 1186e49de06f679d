"""`nippo serve` killed with SIGKILL while signed LINE webhooks stream in.

Whatever got a 200 was stored before the answer, so nothing acknowledged is lost: after a
restart the scheduler's catch-up pass handles what the dead process left pending and the
replies go out (those the dead process had leased once their lease ends). Requests that got
no answer are re-sent (LINE redelivers them) and handled once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from storage.db import Database
from storage.models import InboxEvent, OutboxMessage
from tests.faults.server import Server
from tests.faults.webhooks import deliver_after_lease, link_members, post, server_env
from tests.line.conftest import event
from tests.line.fake_api import FakeLine, FakeLineThread

MEMBERS = 20
PER_MEMBER = 8
KILL_AFTER = 50  # acknowledged requests before the kill


async def rows(db: Database) -> tuple[list[InboxEvent], list[OutboxMessage]]:
    async with db.transaction() as s:
        inbox = (await s.scalars(select(InboxEvent))).all()
        outbox = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.key.startswith("reply:")))
        ).all()
    return list(inbox), list(outbox)


async def test_kill9_mid_stream_loses_nothing_acknowledged(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    users = await link_members(db, now, "Ukill", MEMBERS)
    with FakeLineThread(FakeLine()) as fake:
        fake.quota_limit = None
        server = Server(server_env(db_url, fake.url), tmp_path)
        await asyncio.to_thread(server.start)
        try:
            events = {
                user: [
                    event("00_message_text", now, user=user, message={"text": f"こんにちは {n}"})
                    for n in range(PER_MEMBER)
                ]
                for user in users
            }
            answers: dict[str, int | None] = {}
            acked = asyncio.Event()

            async def member(client: httpx.AsyncClient, user: str) -> None:
                for ev in events[user]:
                    answers[ev["webhookEventId"]] = await post(client, server.url, ev)
                    if sum(a == 200 for a in answers.values()) >= KILL_AFTER:
                        acked.set()

            async def killer() -> None:
                await acked.wait()
                server.kill9()

            async with httpx.AsyncClient(timeout=5) as client:
                await asyncio.gather(killer(), *(member(client, u) for u in users))
            assert server.proc is not None and server.proc.returncode == -9
            ok = [eid for eid, code in answers.items() if code == 200]
            lost = [eid for eid, code in answers.items() if code is None]
            assert len(ok) >= KILL_AFTER and lost, "the kill must land mid-stream"
            assert set(answers.values()) <= {200, None}

            # Everything acknowledged was stored before the 200.
            inbox, _ = await rows(db)
            assert set(ok) <= {e.event_id for e in inbox}

            # Restart; LINE redelivers what got no answer.
            await asyncio.to_thread(server.start)
            async with httpx.AsyncClient(timeout=10) as client:
                for user in users:
                    for ev in events[user]:
                        if answers[ev["webhookEventId"]] is None:
                            ev["deliveryContext"] = {"isRedelivery": True}
                            assert await post(client, server.url, ev) == 200
            every = {ev["webhookEventId"] for evs in events.values() for ev in evs}
            replies = {f"reply:line:{e}" for e in every}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                inbox, outbox = await rows(db)
                done = {e.event_id for e in inbox if e.status == "done"}
                if done >= every and {o.key for o in outbox} >= replies:
                    break
                await asyncio.sleep(0.3)
        finally:
            server.stop()

        # Rows the dead process had leased wait out their lease (60 s), and a member's later
        # rows wait behind them; deliver the rest as the restarted server would after it.
        await deliver_after_lease(db, fake.url)

        inbox, outbox = await rows(db)
        assert Counter(e.event_id for e in inbox) == Counter(every)  # each stored once
        assert {e.event_id for e in inbox if e.status == "done"} == every
        assert Counter(o.key for o in outbox) == Counter(f"reply:line:{e}" for e in every)
        assert {o.status for o in outbox} == {"sent"}
        # Shown once each: a reply token works once, a push key is accepted once.
        token_of = {
            f"reply:line:{ev['webhookEventId']}": ev["replyToken"]
            for evs in events.values()
            for ev in evs
        }
        shown = Counter(to for to, _ in fake.shown)
        for row in outbox:
            if row.via == "reply":
                assert shown[token_of[row.key]] == 1, row.key
            else:
                assert row.via == "push" and row.retry_key in fake.accepted_keys, row.key
