"""LINE answers 429 and 5xx for a while, with many members' messages queued.

Twenty members write while LINE is throttling us (their replies miss the reply token's life
and become pushes), then the scheduler's morning reminders pile up. Driving delivery with a
simulated clock afterwards, every message reaches its member exactly once, in order per
member, each push always under its own row's X-Line-Retry-Key.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from adapters.line.render import render_payload
from adapters.line.sender import LineApi, LineSender
from bot.app.settings import Settings
from bot.app.web import create_app
from bot.services import delivery, ticks
from storage.db import Database
from storage.models import OutboxMessage
from tests.line.conftest import SECRET, Line, event
from tests.line.fake_api import FakeLine, Scripted
from tests.support import FakeClock, jst, link_accounts, make_facility, make_member

DAY = "2026-07-01"
MEMBERS = 20
PUSH = "/v2/bot/message/push"
REPLY = "/v2/bot/message/reply"
WORDS = ["おはようございます", "予定", "ありがとう"]


def storm(n: int) -> list[Scripted]:
    """n refusals cycling through every way LINE says "not now"."""
    kinds = [
        Scripted(429, {"message": "Too many requests"}, {"Retry-After": "30"}),
        Scripted(429, {"message": "Too many requests"}),
        Scripted(500, {"message": "Internal Server Error"}),
        Scripted(502, {"message": "Bad Gateway"}),
        Scripted(503, {"message": "Service Unavailable"}, {"Retry-After": "90"}),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


@pytest.fixture
async def quiet_line(
    db: Database, db_url: str, fake_line: FakeLine, t0: datetime
) -> AsyncIterator[Line]:
    """The app without its own scheduler: the test drives ticks and delivery itself."""
    clock = FakeClock(t0)
    settings = Settings(
        database_url=db_url,
        line_channel_secret=SecretStr(SECRET),
        line_channel_access_token=SecretStr("test-access-token"),
        line_api_base_url=fake_line.url,
        line_data_api_base_url=fake_line.url,
        scheduler_enabled=False,
    )
    app = create_app(settings, db, clock)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://nippo.test") as client,
    ):
        yield Line(app, client, fake_line, clock, db)


async def test_storm_every_message_once_in_order_with_one_key_each(
    quiet_line: Line, t0: datetime
) -> None:
    line, fake, db = quiet_line, quiet_line.fake, quiet_line.db
    fake.quota_limit = None
    fid = await make_facility(db, t0, alert_channel="C-STAFF")
    users = [f"U{i:032x}" for i in range(MEMBERS)]
    mids = [await make_member_in(db, fid, t0, i) for i in range(MEMBERS)]
    await link_accounts(db, t0, zip(mids, users, strict=True))
    fake.script(REPLY, *storm(15))
    fake.script(PUSH, *storm(150))

    # The members write at 09:40 while LINE throttles; then the morning ticks remind them.
    token_owner: dict[str, str] = {}
    at = jst(DAY, "09:40")
    for n, word in enumerate(WORDS):
        for user in users:
            ev = event("00_message_text", at, user=user, message={"text": word})
            token_owner[ev["replyToken"]] = user
            await line.send(ev, at=at + timedelta(seconds=n))
    for minute in range(0, 60, 5):
        await ticks.tick(db, jst(DAY, "10:00") + timedelta(minutes=minute))

    sender = LineSender(LineApi("test-access-token", fake.url, fake.url), db)
    try:
        now = jst(DAY, "11:00")
        # Per request to the fake LINE API, the simulated time it was made at (from here on).
        sent_at: list[datetime | None] = [None] * len(fake.requests)
        for _ in range(300):
            await delivery.flush(db, {"line": sender}, now)
            sent_at += [now] * (len(fake.requests) - len(sent_at))
            if await pending(db) == 0:
                break
            now += timedelta(seconds=30)
    finally:
        await sender.aclose()

    async with db.transaction() as s:
        rows = (
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.platform == "line")
                .order_by(OutboxMessage.id)
            )
        ).all()
    reminders = [r for r in rows if not r.key.startswith("reply:")]
    assert len(rows) >= MEMBERS * len(WORDS) + MEMBERS  # replies + at least one reminder each
    assert len(reminders) >= MEMBERS
    assert {r.status for r in rows} == {"sent"}, [(r.key, r.status, r.last_error) for r in rows]
    assert fake.scripts[PUSH] == [] and fake.scripts[REPLY] == []  # the storm really happened
    assert sum(r.attempts > 1 for r in rows) >= 20

    # Each push request carried its row's own key; each key accepted once.
    pushed = {r.retry_key: r for r in rows if r.via == "push"}
    keys_sent = [c.headers.get("x-line-retry-key") for c in fake.calls(PUSH)]
    assert set(keys_sent) == set(pushed)
    for call in fake.calls(PUSH):
        assert call.body["to"] == pushed[call.headers["x-line-retry-key"]].recipient
        assert call.body["messages"] == render_payload(
            pushed[call.headers["x-line-retry-key"]].payload
        )
    assert set(fake.accepted_keys) == set(pushed)

    # A refusal's Retry-After held: that push went again no sooner than it said.
    waited = 0
    tries: dict[str, list[tuple[datetime, str | None]]] = defaultdict(list)
    for at, call in zip(sent_at, fake.requests, strict=True):
        if call.path == PUSH and at is not None:
            tries[call.headers["x-line-retry-key"]].append((at, call.retry_after))
    for attempts in tries.values():
        for (at, retry_after), (again, _) in itertools.pairwise(attempts):
            if retry_after is not None:
                assert again - at >= timedelta(seconds=float(retry_after))
                waited += 1
    assert waited >= 3

    # What each member saw: every row once, in the order it was queued.
    seen: dict[str, list[Any]] = defaultdict(list)
    for to, body in fake.shown:
        seen[token_owner.get(to, to)].append(body["messages"])
    for user in users:
        expected = [render_payload(r.payload) for r in rows if r.recipient == user]
        assert seen[user] == expected, user


async def make_member_in(db: Database, fid: int, t0: datetime, i: int) -> int:
    return await make_member(db, fid, t0, name=f"利用者 {i:02d}", kana=None)


async def pending(db: Database) -> int:
    async with db.transaction() as s:
        rows = await s.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.platform == "line", OutboxMessage.status != "sent"
            )
        )
        return len(rows.all())
