"""Issue #15 §1 and §3 through the real service, database and delivery: what the member reads
back, what the 日報 holds, and what staff are told."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from bot.core import texts
from bot.services import ticks
from storage.db import Database
from storage.models import Alert, DailyReport, Facility, SupportRecord
from tests.support import Chat, jst, make_facility, make_member

DAY = "2026-07-01"  # a Wednesday


async def _setup(db: Database, t0: datetime) -> tuple[Chat, int]:
    fid = await make_facility(db, t0)
    mid = await make_member(db, fid, t0)
    chat = Chat(db)
    await chat.link("u1", mid, jst(DAY, "09:00"))
    return chat, mid


async def _report(db: Database, mid: int, day: str = DAY) -> DailyReport | None:
    async with db.transaction() as s:
        stmt = select(DailyReport).where(
            DailyReport.member_id == mid, DailyReport.business_date == date.fromisoformat(day)
        )
        return (await s.execute(stmt)).scalar_one_or_none()


async def _alerts(db: Database, mid: int) -> list[tuple[str, str]]:
    async with db.transaction() as s:
        rows = await s.execute(
            select(Alert.kind, Alert.level).where(Alert.member_id == mid).order_by(Alert.id)
        )
        return [(k, lv) for k, lv in rows]


async def test_a_crisis_message_gets_its_own_reply_with_the_crisis_contacts(
    db: Database, t0: datetime
) -> None:
    chat, mid = await _setup(db, t0)
    replies = await chat.say("u1", "もう消えてしまいたい", jst(DAY, "10:05"))
    assert len(replies) == 1
    text = replies[0].text
    assert "山田 太郎さん、メッセージを読みました" in text
    assert "すぐに職員に知らせています" in text
    assert "よりそいホットライン 0120-279-338" in text and "119" in text
    assert "ありがとう" not in text  # not a routine "thank you for letting us know"
    assert texts.UNKNOWN not in text and not replies[0].choices
    assert await _alerts(db, mid) == [("crisis", "crisis")]


async def test_a_crisis_outside_business_hours_says_when_staff_are_back_and_who_to_call(
    db: Database, t0: datetime
) -> None:
    chat, _ = await _setup(db, t0)
    async with db.transaction() as s:
        facility = (await s.execute(select(Facility))).scalar_one()
        facility.crisis_contacts = [{"name": "夜間連絡先", "phone": "000-0000-0000", "hours": ""}]
    replies = await chat.say("u1", "しにたい", jst(DAY, "22:30"))
    text = replies[0].text
    assert "あした9:00以降" in text
    assert "夜間連絡先 000-0000-0000" in text and "よりそい" not in text


async def test_a_headache_is_not_answered_like_a_crisis(db: Database, t0: datetime) -> None:
    chat, mid = await _setup(db, t0)
    replies = await chat.say("u1", "頭が痛いです", jst(DAY, "10:05"))
    assert replies[0].text == texts.WATCH_ACK
    assert "ホットライン" not in "".join(r.text for r in replies)
    assert await _alerts(db, mid) == [("distress", "warning")]
    # idioms and hyperbole alarm nobody
    await chat.say("u1", "耳が痛い話です", jst(DAY, "10:06"))
    await chat.say("u1", "死ぬかと思うくらい忙しかった", jst(DAY, "10:07"))
    assert await _alerts(db, mid) == [("distress", "warning")]


async def test_health_one_is_acknowledged_not_only_asked_onwards(
    db: Database, t0: datetime
) -> None:
    chat, mid = await _setup(db, t0)
    await chat.tap("u1", "start", jst(DAY, "10:00"))
    replies = await chat.tap("u1", "health:1", jst(DAY, "10:00"))
    assert replies[0].text == texts.POOR_HEALTH_ACK
    assert replies[-1].text == texts.ASK_SLEEP
    replies = await chat.tap("u1", "sleep:4", jst(DAY, "10:01"))  # 「4時間以下」
    assert replies[0].text == texts.SHORT_SLEEP_ACK
    assert ("short_sleep", "warning") in await _alerts(db, mid)
    assert ("low_health", "urgent") in await _alerts(db, mid)


async def test_a_start_stated_for_later_that_morning_keeps_every_field(
    db: Database, t0: datetime
) -> None:
    chat, mid = await _setup(db, t0)
    replies = await chat.say("u1", "10時半から始めます 体調4 睡眠7 データ入力", jst(DAY, "10:10"))
    assert replies[-1].text == texts.START_LATER.format(time="10:30")
    r = await _report(db, mid)
    assert r is not None and r.status == "started"
    assert r.start_at == jst(DAY, "10:30")
    assert (r.health_start, r.sleep_hours, r.planned_work) == (4, 7.0, "データ入力")


async def test_bedtime_and_wake_up_give_sleep_and_never_the_start_time(
    db: Database, t0: datetime
) -> None:
    chat, mid = await _setup(db, t0)
    await chat.say("u1", "開始 1時に寝て8時に起きました 体調3 入力作業", jst(DAY, "10:02"))
    r = await _report(db, mid)
    assert r is not None
    assert r.sleep_hours == 7.0
    assert r.start_at == jst(DAY, "10:02")


async def test_a_range_of_hours_is_stored_as_its_midpoint(db: Database, t0: datetime) -> None:
    chat, mid = await _setup(db, t0)
    await chat.say("u1", "開始 体調4 睡眠5〜6時間 データ入力", jst(DAY, "10:02"))
    r = await _report(db, mid)
    assert r is not None and r.sleep_hours == 5.5


async def test_an_early_finish_notice_tells_staff_and_ends_nothing(
    db: Database, t0: datetime
) -> None:
    chat, mid = await _setup(db, t0)
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    replies = await chat.say("u1", "午後から病院なので早めに終わります", jst(DAY, "11:00"))
    assert replies[-1].text == texts.EARLY_FINISH_ACK
    r = await _report(db, mid)
    assert r is not None and r.status == "started" and r.end_at is None
    assert ("early_finish", "info") in await _alerts(db, mid)


async def test_a_correction_in_one_message(db: Database, t0: datetime) -> None:
    chat, mid = await _setup(db, t0)
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    replies = await chat.say("u1", "体調を3に直してください", jst(DAY, "10:30"))
    assert replies[-1].text.startswith(texts.FIXED.format(label="体調(朝)", after="3 ふつう"))
    r = await _report(db, mid)
    assert r is not None and r.health_start == 3


async def test_an_absence_for_tomorrow_records_tomorrow_not_today(
    db: Database, t0: datetime
) -> None:
    chat, mid = await _setup(db, t0)
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    replies = await chat.say("u1", "あしたは歯医者なので休みます", jst(DAY, "14:00"))
    assert replies[-1].text == texts.ABSENCE_AHEAD.format(date="7/2(木)")
    today = await _report(db, mid)
    tomorrow = await _report(db, mid, "2026-07-02")
    assert today is not None and today.status == "started"
    assert tomorrow is not None and tomorrow.status == "absent"
    assert tomorrow.absence_note == "あしたは歯医者なので休みます"


async def test_start_fields_and_a_request_to_talk_do_both(db: Database, t0: datetime) -> None:
    chat, mid = await _setup(db, t0)
    replies = await chat.say(
        "u1", "開始 体調4 睡眠7 データ入力 あとで相談したいです", jst(DAY, "10:02")
    )
    assert replies[0].text == texts.CONSULT_ACK
    r = await _report(db, mid)
    assert r is not None and r.status == "started" and r.planned_work == "データ入力"
    assert ("consult", "warning") in await _alerts(db, mid)
    async with db.transaction() as s:
        kinds = (await s.scalars(select(SupportRecord.kind))).all()
    assert "consult" in kinds and "start_check" in kinds


async def test_a_consult_after_hours_says_honestly_when_staff_are_back(
    db: Database, t0: datetime
) -> None:
    chat, _ = await _setup(db, t0)
    replies = await chat.say("u1", "相談したいです", jst(DAY, "19:30"))
    assert replies[-1].text == texts.CONSULT_ACK_LATER.format(when="あした9:00")


async def test_greetings_get_a_warm_answer_and_small_talk_is_kept_as_the_note(
    db: Database, t0: datetime
) -> None:
    chat, mid = await _setup(db, t0)
    replies = await chat.say("u1", "おはようございます", jst(DAY, "09:30"))
    assert replies[-1].text == texts.HELLO.format(name="山田 太郎")
    await chat.say("u1", "開始 体調4 睡眠7 データ入力", jst(DAY, "10:02"))
    replies = await chat.say("u1", "疲れました", jst(DAY, "13:00"))
    assert replies[0].text == texts.TIRED
    r = await _report(db, mid)
    assert r is not None and r.note == "疲れました"


async def test_no_routine_reminder_goes_to_a_member_in_crisis(db: Database, t0: datetime) -> None:
    chat, mid = await _setup(db, t0)
    async with db.transaction() as s:
        facility_id = (await s.execute(select(Facility.id))).scalar_one()
    other = await make_member(db, facility_id, t0, "佐藤 花子", kana="さとう はなこ")
    await chat.link("u2", other, jst(DAY, "09:00"))
    await chat.say("u1", "もう死にたい", jst(DAY, "09:30"))
    summary = await ticks.tick(db, jst(DAY, "10:00"))
    assert [k.split(":")[2] for k in summary.reminders] == [str(other)]
    # staff still hear about the missed start: only the member's routine nudges stop
    summary = await ticks.tick(db, jst(DAY, "10:30"))
    assert any(f":{mid}:" in k for k in summary.alerts)
