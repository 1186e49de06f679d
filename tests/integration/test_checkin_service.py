"""The check-in loop through the real service and database (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.core import texts
from storage.db import Database
from storage.models import (
    Alert,
    DailyReport,
    Identity,
    InboxEvent,
    OutboxMessage,
    ReportRevision,
    SupportRecord,
)
from tests.support import Chat, jst, link_code, make_facility, make_member

DAY = "2026-07-01"


async def _count(db: Database, model: type, *where: object) -> int:
    async with db.transaction() as s:
        return int(
            (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()
        )


async def _report(db: Database, member_id: int) -> DailyReport:
    async with db.transaction() as s:
        return (
            await s.execute(select(DailyReport).where(DailyReport.member_id == member_id))
        ).scalar_one()


async def test_a_whole_day_lands_in_the_records(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    linked = await chat.link("u1", mid, jst(DAY, "09:00"))
    assert linked[0].text == texts.LINK_DONE.format(name="山田 太郎")

    start = await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    assert start[-1].card is not None and start[-1].card.title == "7/1 の記録"
    end = await chat.say("u1", "終了 入力120件 体調3", jst(DAY, "15:01"))
    assert end[-1].card is not None and end[-1].card.title == "7/1 の記録"

    r = await _report(db, mid)
    assert r.status == "ended"
    assert r.start_at == jst(DAY, "10:02") and r.end_at == jst(DAY, "15:01")
    assert (r.health_start, r.sleep_hours, r.planned_work) == (4, 7.0, "データ入力")
    assert (r.work_done, r.outputs, r.health_end) == ("データ入力", "入力120件", 3)

    async with db.transaction() as s:
        records = (
            (
                await s.execute(
                    select(SupportRecord)
                    .where(SupportRecord.member_id == mid)
                    .order_by(SupportRecord.id)
                )
            )
            .scalars()
            .all()
        )
    assert [x.kind for x in records] == ["start_check", "end_check"]
    assert records[0].content.startswith("開始確認 10:02 / 作業内容: データ入力")
    assert "成果: 入力120件" in records[1].content


async def test_correction_keeps_before_and_after(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, jst(DAY, "09:00"))
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    await chat.say("u1", "修正", jst(DAY, "11:00"))
    await chat.tap("u1", "fix:sleep_hours", jst(DAY, "11:00"))
    replies = await chat.say("u1", "6時間半", jst(DAY, "11:01"))
    assert replies[0].text == "睡眠を「6.5時間」に直しました。"

    assert (await _report(db, mid)).sleep_hours == 6.5
    async with db.transaction() as s:
        revs = (
            (
                await s.execute(
                    select(ReportRevision)
                    .where(ReportRevision.field == "sleep_hours")
                    .order_by(ReportRevision.id)
                )
            )
            .scalars()
            .all()
        )
    assert [(x.before, x.after, x.source) for x in revs] == [
        (None, "7.0", "member"),
        ("7.0", "6.5", "member_correction"),
    ]
    assert revs[-1].by_member_id == mid


async def test_a_repeated_event_is_stored_and_handled_once(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, jst(DAY, "09:00"))
    at = jst(DAY, "10:00")
    assert await chat.send("u1", at, text="開始 体調4 睡眠7 データ入力", event_id="same") is True
    assert await chat.send("u1", at, text="開始 体調4 睡眠7 データ入力", event_id="same") is False
    assert await _count(db, InboxEvent, InboxEvent.event_id == "same") == 1
    assert await _count(db, OutboxMessage, OutboxMessage.key == "reply:console:same") == 1
    assert await _count(db, ReportRevision, ReportRevision.field == "health_start") == 1


async def test_unlinked_account_learns_nothing(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0, name="佐藤 花子")
    chat = Chat(db)
    await chat.link("member", mid, jst(DAY, "09:00"))
    await chat.say("member", "開始 体調2 睡眠3 データ入力", jst(DAY, "10:00"))

    for probe in ("佐藤 花子", "佐藤さんの記録を見せて", "開始 体調4", "今日の記録"):
        replies = await chat.say("stranger", probe, jst(DAY, "10:05"))
        assert [r.text for r in replies] == [texts.LINK_PROMPT]
        assert all("佐藤" not in r.text and r.card is None and not r.choices for r in replies)
    assert await _count(db, DailyReport) == 1  # only the real member's


async def test_wrong_link_codes_are_limited(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    good = await link_code(db, mid, t0)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    chat = Chat(db)
    at = jst(DAY, "09:00")
    for _ in range(4):
        assert (await chat.say("x", wrong, at))[0].text == texts.LINK_WRONG
    assert (await chat.say("x", wrong, at))[0].text == texts.LINK_LOCKED
    # Locked for a day: even the right code is refused, then a fresh code works.
    assert (await chat.say("x", good, at))[0].text == texts.LINK_LOCKED
    assert (await chat.say("x", good, at + timedelta(hours=23)))[0].text == texts.LINK_LOCKED
    later = at + timedelta(hours=24, minutes=1)
    fresh = await link_code(db, mid, later)
    assert (await chat.say("x", fresh, later))[0].text == texts.LINK_DONE.format(name="山田 太郎")


async def test_link_code_is_single_use_and_expires(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    code = await link_code(db, mid, t0)
    chat = Chat(db)
    assert (await chat.say("a", code, t0 + timedelta(hours=25)))[0].text == texts.LINK_WRONG
    code = await link_code(db, mid, t0)
    assert (await chat.say("a", code, t0))[0].text.endswith(
        "登録できました。これからよろしくお願いします。"
    )
    assert (await chat.say("b", code, t0))[0].text == texts.LINK_WRONG
    async with db.transaction() as s:
        ids = (await s.execute(select(Identity).where(Identity.member_id == mid))).scalars().all()
    assert [i.platform_user_id for i in ids] == ["a"]


async def test_worrying_answers_alert_staff_at_once(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0, alert_channel="C123")
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, jst(DAY, "09:00"))
    await chat.say("u1", "開始 体調2 睡眠3 データ入力", jst(DAY, "10:00"))
    async with db.transaction() as s:
        alerts = (await s.execute(select(Alert).order_by(Alert.id))).scalars().all()
    assert [(a.kind, a.level, a.state) for a in alerts] == [
        ("low_health", "warning", "open"),
        ("short_sleep", "warning", "open"),
    ]
    staff = chat.recorder.staff_texts()
    assert staff == [
        "【体調がすぐれないとの回答】山田 太郎さん(7/1) 体調 2",
        "【睡眠が短いとの回答】山田 太郎さん(7/1) 睡眠 3時間",
    ]
    assert {i.recipient for i in chat.recorder.items if i.platform == "slack"} == {"C123"}


async def test_absence_and_consult_are_recorded(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, jst(DAY, "09:00"))
    assert (await chat.say("u1", "今日は休みます", jst(DAY, "09:30")))[0].text == texts.ABSENCE
    assert (await _report(db, mid)).status == "absent"
    assert (await chat.say("u1", "電話ほしい", jst(DAY, "09:40")))[0].text == texts.CONSULT_ACK
    async with db.transaction() as s:
        kinds = (
            (await s.execute(select(SupportRecord.kind).order_by(SupportRecord.id))).scalars().all()
        )
        alerts = (await s.execute(select(Alert.kind).order_by(Alert.id))).scalars().all()
    assert kinds == ["absence", "consult"]
    assert alerts == ["absence", "consult"]


async def test_business_date_follows_the_facility_zone(db: Database, t0: datetime) -> None:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, jst(DAY, "09:00"))
    # 00:30 in Tokyo on 7/2 is still 7/1 in UTC: the report belongs to 7/2.
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst("2026-07-02", "00:30"))
    assert str((await _report(db, mid)).business_date) == "2026-07-02"
