"""Fewer paid pushes: the start reminder goes only to members who have not started, and the
month's pushes and their projection are shown (`nippo line quota`) and told to managers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from adapters.line import quota
from adapters.line.sender import LineApi
from bot.cli.main import app
from bot.core import texts
from bot.services import delivery, ticks
from storage.models import OutboxMessage, Staff, SupportRecord
from tests.line.conftest import Line, event
from tests.support import jst, link_accounts, make_facility, make_member

DAY = "2026-07-01"
PUSH = "/v2/bot/message/push"
REPLY = "/v2/bot/message/reply"
runner = CliRunner()


async def test_the_start_reminder_is_pushed_only_to_members_who_have_not_started(
    line: Line, t0: datetime
) -> None:
    fid = await make_facility(line.db, t0)
    users = [f"U{i:032x}" for i in range(10)]
    mids = [
        await make_member(line.db, fid, t0, name=f"利用者 {i:02d}", kana=None) for i in range(10)
    ]
    await link_accounts(line.db, t0, zip(mids, users, strict=True))

    # Four members start before 10:00; their confirmations are replies (free).
    early = jst(DAY, "09:50")
    for n, user in enumerate(users[:4]):
        text = "開始 体調4 睡眠7 データ入力"
        at = early + timedelta(seconds=n)
        await line.send(event("00_message_text", at, user=user, message={"text": text}), at=at)
    assert len(line.fake.calls(REPLY)) == 4 and line.fake.calls(PUSH) == []

    # 10:00, the planned start: the scheduler's reminders, delivered to the fake LINE API.
    at = jst(DAY, "10:00")
    await ticks.tick(line.db, at)
    await delivery.flush(line.db, line.app.state.senders, at)
    pushes = line.fake.calls(PUSH)
    assert len(pushes) == 6
    assert sorted(p.body["to"] for p in pushes) == sorted(users[4:])
    for p in pushes:  # each a start reminder with the start button (bodies checked by schema)
        assert p.body["messages"][0]["text"].startswith(texts.MORNING.split("{")[0])
    async with line.db.transaction() as s:
        records = await s.scalars(select(SupportRecord).where(SupportRecord.kind == "reminder"))
        assert len(records.all()) == 6
    # A later tick pushes nothing again.
    await ticks.tick(line.db, at + timedelta(minutes=5))
    await delivery.flush(line.db, line.app.state.senders, at + timedelta(minutes=5))
    assert len(line.fake.calls(PUSH)) == 6


def test_the_projection_is_the_months_rate_so_far() -> None:
    # July has 31 days; ten have passed on the 11th at 00:00 JST.
    tenth = datetime(2026, 7, 10, 15, 0, tzinfo=UTC)
    assert quota.projected(60, tenth) == 186
    # Less than a day of the month: read over one day, not extrapolated from an hour.
    first_hour = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)  # 01:00 JST on 1 July
    assert quota.projected(10, first_hour) == 310
    assert quota.projected(0, tenth) == 0
    # December rolls over into January; the projection is never below what is used.
    december = datetime(2026, 12, 31, 14, 0, tzinfo=UTC)  # 23:00 JST on the 31st
    assert quota.month_end(december) == datetime(2026, 12, 31, 15, 0, tzinfo=UTC)
    assert quota.projected(100, december) in (100, 101)


async def test_the_warning_to_managers_says_the_projection(line: Line, t0: datetime) -> None:
    fid = await make_facility(line.db, t0, alert_channel="C-ALERTS")
    async with line.db.transaction() as s:
        s.add(
            Staff(
                facility_id=fid, name="管理 者", role="manager", slack_user_id="UMGR", created_at=t0
            )
        )
    line.fake.usage = 161  # of 200, on the 11th: at this rate about 499 this month
    now = datetime(2026, 7, 10, 15, 0, tzinfo=UTC)
    api = LineApi("test-access-token", line.fake.url, line.fake.url)
    try:
        state = await quota.check(line.db, api.messaging, now)
    finally:
        await api.aclose()
    assert (state.used, state.limit, state.projected) == (161, 200, 499)
    async with line.db.transaction() as s:
        (warning,) = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.platform == "slack"))
        ).all()
    assert warning.recipient == "UMGR"
    assert "161/200" in warning.payload["text"] and "約499通" in warning.payload["text"]


async def test_nippo_line_quota_shows_the_month(
    line: Line, t0: datetime, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "test-access-token")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "test-channel-secret")
    monkeypatch.setenv("LINE_API_BASE_URL", line.fake.url)
    monkeypatch.setenv("LINE_DATA_API_BASE_URL", line.fake.url)
    monkeypatch.setattr("bot.cli.line.now", lambda: datetime(2026, 7, 10, 15, 0, tzinfo=UTC))
    line.fake.usage = 40
    result = await asyncio.to_thread(runner.invoke, app, ["line", "quota"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "2026-07 のプッシュ送信: 40通" in out and "上限: 200通（20% を使用）" in out
    assert "約124通" in out and "上限を超えます" not in out
    assert "返信" in out  # replies are free
    assert line.fake.calls("/v2/bot/message/quota") and not line.fake.calls(PUSH)
    # Nothing is sent by looking.
    async with line.db.transaction() as s:
        assert (await s.scalars(select(OutboxMessage))).all() == []

    line.fake.usage = 190
    over = await asyncio.to_thread(runner.invoke, app, ["line", "quota"])
    assert over.exit_code == 0 and "約589通（上限を超えます" in over.output
    monkeypatch.delenv("LINE_CHANNEL_ACCESS_TOKEN")
    unset = await asyncio.to_thread(runner.invoke, app, ["line", "quota"])
    assert unset.exit_code == 2 and "LINE_CHANNEL_ACCESS_TOKEN" in unset.output
