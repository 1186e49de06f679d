"""Concurrent writers wait rather than fail (SQLite busy; PostgreSQL row locks)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.core.domain import ContactRef, InboundMessage, Platform
from bot.services.inbox import receive
from storage.db import Database
from storage.models import DailyReport, InboxEvent, ReportRevision
from tests.support import Chat, jst, make_facility, make_member

MEMBERS = 6
MESSAGES = 5


async def test_many_engines_writing_at_once_lose_nothing(
    db: Database, db_url: str, t0: datetime
) -> None:
    """Six members check in through six separate engines at the same moment."""
    fid = await make_facility(db, t0)
    chat = Chat(db)
    for i in range(MEMBERS):
        mid = await make_member(db, fid, t0, name=f"利用者 {i}", kana=None)
        await chat.link(f"u{i}", mid, t0)

    async def member(i: int) -> None:
        engine = Database(db_url)  # its own pool: real contention on the file / server
        try:
            at = jst("2026-07-01", "10:00")
            texts = ["開始", "4", "7", "データ入力", "修正"]
            for n, text in enumerate(texts[:MESSAGES]):
                msg = InboundMessage(
                    f"c{i}-{n}",
                    ContactRef(Platform.CONSOLE, f"u{i}"),
                    at + timedelta(seconds=n),
                    text=text,
                )
                async with engine.transaction() as session:
                    assert await receive(session, msg, at)
        finally:
            await engine.dispose()

    await asyncio.gather(*(member(i) for i in range(MEMBERS)))

    async with db.transaction() as s:
        inbox = (await s.execute(select(func.count()).select_from(InboxEvent))).scalar_one()
        reports = (await s.execute(select(DailyReport))).scalars().all()
        revisions = (await s.execute(select(func.count()).select_from(ReportRevision))).scalar_one()
    assert inbox == MEMBERS * (MESSAGES + 1)  # + the linking message each
    assert len(reports) == MEMBERS
    assert all(r.planned_work == "データ入力" and r.sleep_hours == 7.0 for r in reports)
    assert revisions == MEMBERS * 4  # start_at, health, sleep, plan
