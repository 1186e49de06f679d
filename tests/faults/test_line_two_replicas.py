"""Two replicas on one database tick, deliver and take LINE webhooks at the same time.

Each replica is the real app with its own engine (its own pool: real contention). Every
simulated minute both tick, both flush, and members' webhooks arrive at either replica —
some at both, as a redelivery racing the original. Each reminder and alert exists once, each
event is handled once, and each message is shown to its member once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import datetime, timedelta

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from adapters.line.sender import LineApi, LineSender
from bot.app.settings import Settings
from bot.app.web import create_app
from bot.services import delivery, ticks
from storage import repo
from storage.db import Database
from storage.models import Alert, InboxEvent, OutboxMessage, SupportRecord
from tests.faults.webhooks import link_members
from tests.line.conftest import SECRET, event, sign, webhook
from tests.line.fake_api import FakeLine
from tests.support import FakeClock, jst

DAY = "2026-07-01"
MEMBERS = 12


class Replica:
    def __init__(
        self, db_url: str, fake: FakeLine, at: datetime, token: str = "test-access-token"
    ) -> None:
        self.db = Database(db_url)
        self.clock = FakeClock(at)
        settings = Settings(
            database_url=db_url,
            line_channel_secret=SecretStr(SECRET),
            line_channel_access_token=SecretStr(token),
            line_api_base_url=fake.url,
            line_data_api_base_url=fake.url,
            scheduler_enabled=False,  # the test is the clock: it ticks both replicas itself
        )
        self.app = create_app(settings, self.db, self.clock)
        self.sender = LineSender(LineApi("test-access-token", fake.url, fake.url), self.db)

    async def post(self, client: httpx.AsyncClient, ev: dict[str, object]) -> None:
        body = webhook(ev)
        headers = {"X-Line-Signature": sign(body), "Content-Type": "application/json"}
        response = await client.post("/callback/line", content=body, headers=headers)
        assert response.status_code == 200
        # Its handling ends within the simulated minute (a lease outlives a real pass).
        await self.app.state.line_worker.settled()

    async def minute(self, at: datetime) -> None:
        self.clock.at = at
        await ticks.tick(self.db, at, elect=False)  # no leader lock: the keys must hold
        await delivery.flush(self.db, {"line": self.sender}, at)


async def test_two_replicas_under_load_each_effect_and_event_once(
    db: Database, db_url: str, fake_line: FakeLine, t0: datetime
) -> None:
    fake_line.quota_limit = None
    users = await link_members(db, t0, "Urep", MEMBERS, alert_channel="C-STAFF")
    start = jst(DAY, "09:55")
    a, b = Replica(db_url, fake_line, start), Replica(db_url, fake_line, start)
    sent_events: list[str] = []
    try:
        async with (
            a.app.router.lifespan_context(a.app),
            b.app.router.lifespan_context(b.app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=a.app), base_url="http://a.test"
            ) as ca,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=b.app), base_url="http://b.test"
            ) as cb,
        ):
            for m in range(0, 50):
                at = start + timedelta(minutes=m)
                work = [a.minute(at), b.minute(at)]
                # Half the members start late, one per minute from 10:05, on either replica;
                # every third message also reaches the other replica (a racing redelivery).
                i = m - 10
                if 0 <= i < MEMBERS // 2:
                    ev = event(
                        "00_message_text",
                        at,
                        user=users[i],
                        message={"text": "開始 体調4 睡眠7 データ入力"},
                    )
                    sent_events.append(ev["webhookEventId"])
                    work.append((a if i % 2 else b).post(ca if i % 2 else cb, ev))
                    if i % 3 == 0:
                        work.append((b if i % 2 else a).post(cb if i % 2 else ca, ev))
                await asyncio.gather(*work)
            end = start + timedelta(minutes=60)
            await asyncio.gather(a.minute(end), b.minute(end))
    finally:
        for r in (a, b):
            await r.sender.aclose()
            await r.db.dispose()

    async with db.transaction() as s:
        outbox = (await s.scalars(select(OutboxMessage))).all()
        inbox = (await s.scalars(select(InboxEvent))).all()
        alerts = (await s.scalars(select(Alert))).all()
        records = (await s.scalars(select(SupportRecord))).all()
    reminders = [o for o in outbox if o.key.startswith("remind:")]
    assert len(reminders) >= MEMBERS  # every member was reminded at least once
    assert alerts, "members who never started must reach staff"
    assert len({o.key for o in outbox}) == len(outbox)
    # One 支援記録 per reminder, none doubled by the racing replica.
    reminder_records = Counter(r.key for r in records if r.key and r.key.startswith("remind:"))
    assert reminder_records == Counter(o.key for o in reminders)
    assert Counter(e.event_id for e in inbox) == Counter(sent_events)
    assert {e.status for e in inbox} == {"done"}
    assert Counter(o.key for o in outbox if o.key.startswith("reply:")) == Counter(
        f"reply:line:{e}" for e in sent_events
    )
    line_rows = [o for o in outbox if o.platform == "line"]
    assert {o.status for o in line_rows} == {"sent"}
    shown = Counter(to for to, _ in fake_line.shown)
    assert all(n == 1 for to, n in shown.items() if to.startswith("reply-token-"))
    pushed = [o for o in line_rows if o.via == "push"]
    assert {o.retry_key for o in pushed} <= set(fake_line.accepted_keys)
    assert len(fake_line.shown) == len(line_rows)  # each message shown once, none twice


async def test_replicas_drain_one_backlog_together_each_event_once_in_order(
    db: Database, db_url: str, fake_line: FakeLine, t0: datetime
) -> None:
    """Issue #18: a backlog several batches long, stored by a process that died, and three
    replicas poked at once. Each claims batches (on PostgreSQL side by side, `FOR UPDATE SKIP
    LOCKED` and a per-member lock; on SQLite one writer at a time): every event is handled
    once, every member answered once per message and in the order they wrote."""
    fake_line.quota_limit = None
    members = 40
    users = await link_members(db, t0, "Uback", members)
    at = jst(DAY, "09:55")
    texts = ("開始 体調4 睡眠7 データ入力", "ヘルプ", "今日の記録", "こんにちは", "ありがとう")
    evs = [event("00_message_text", at, user=u, message={"text": t}) for t in texts for u in users]
    async with db.transaction() as s:
        for ev in evs:
            assert await repo.add_inbox(s, "line", ev["webhookEventId"], ev, at) is not None
    replicas = [Replica(db_url, fake_line, at, token=f"token-{n}") for n in range(3)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            for r in replicas:
                await stack.enter_async_context(r.app.router.lifespan_context(r.app))
            for r in replicas:
                r.app.state.line_worker.poke()
            await asyncio.gather(*(r.app.state.line_worker.settled() for r in replicas))
    finally:
        for r in replicas:
            await r.sender.aclose()
            await r.db.dispose()

    async with db.transaction() as s:
        inbox = (await s.scalars(select(InboxEvent))).all()
        replies = (
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.key.like("reply:line:%"))
                .order_by(OutboxMessage.id)
            )
        ).all()
    assert {e.status for e in inbox} == {"done"} and len(inbox) == len(evs)
    assert Counter(o.key for o in replies) == Counter(
        f"reply:line:{e['webhookEventId']}" for e in evs
    )
    assert {o.status for o in replies} == {"sent"}
    for u in users:  # each member's answers were written in the order they wrote
        mine = [e["webhookEventId"] for e in evs if e["source"]["userId"] == u]
        assert [o.key.rsplit(":", 1)[1] for o in replies if o.recipient == u] == mine
    calls = fake_line.calls("/v2/bot/message/reply")
    assert Counter(c.body["replyToken"] for c in calls) == Counter(e["replyToken"] for e in evs)
    by_replica = Counter(c.headers["authorization"] for c in calls)
    assert set(by_replica) <= {f"Bearer token-{n}" for n in range(3)}
    if db.dialect == "postgresql":  # batches side by side: more than one replica took some
        assert len(by_replica) >= 2, by_replica
